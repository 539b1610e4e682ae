"""The dorm API (SVC-5): the holder's top-up and bookings, the signed meter system and machines."""

import datetime as dt
import json

import pytest
from django.test import Client

from campuscard.core import clock
from campuscard.devices.signing import sign_headers

pytestmark = pytest.mark.django_db


def signed(method, path, device, secret, body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = sign_headers(device_code=device.code, secret=secret, method=method.upper(), path=path, body=raw,
                           timestamp=int(clock.now().timestamp()))
    client = Client()
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, data=raw, content_type="application/json", headers=headers)


from campuscard.dorm import services  # noqa: E402
from campuscard.dorm.models import Booking, TopUp  # noqa: E402
from campuscard.identity.services import holder_user_ensure  # noqa: E402
from campuscard.payments.selectors import wallet_summary  # noqa: E402
from tests.dorm.conftest import ACTOR  # noqa: E402


@pytest.fixture
def holder(resident):
    user = holder_user_ensure(person=resident)
    user.must_change_password = False
    user.save(update_fields=["must_change_password"])
    client = Client()
    client.force_login(user)
    return client


def test_holder_tops_up_by_api_idempotently(holder, resident, room):
    body = {"amount": 1_500, "key": "api-1"}
    first = holder.post("/api/v1/me/dorm/top-ups", body, content_type="application/json")
    assert first.status_code == 201, first.content
    assert first.json()["energy_wh"] == 25_000 and first.json()["room"].endswith("301")
    again = holder.post("/api/v1/me/dorm/top-ups", body, content_type="application/json")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    other = holder.post("/api/v1/me/dorm/top-ups", {**body, "amount": 1_600}, content_type="application/json")
    assert other.status_code == 409 and other.json()["code"] == "dorm_topup_key_reused"
    assert TopUp.objects.count() == 1 and wallet_summary(resident).balances.available == 48_500
    mine = holder.get("/api/v1/me/dorm").json()
    assert mine["price_fen_per_kwh"] == 60 and mine["addon"] is True


def test_anonymous_is_refused(db):
    assert Client().post("/api/v1/me/dorm/top-ups", {"amount": 100, "key": "k"},
                         content_type="application/json").status_code == 401


def test_meter_system_round_trip_signed(resident, room, institution):
    system, secret = services.meter_system_register(actor=ACTOR, institution=institution, code="meter-sys",
                                                    name="Meter system")
    top_up = services.topup_buy(actor=ACTOR, person=resident, amount=600, key="m1")
    pending = signed("get", "/api/v1/dorm/meter/top-ups", system.device, secret)
    assert pending.status_code == 200 and pending.json() == [
        {"id": top_up.pk, "meter": "M-301", "energy_wh": 10_000, "amount": 600,
         "created_at": pending.json()[0]["created_at"]}]
    bad = signed("get", "/api/v1/dorm/meter/top-ups", system.device, "0" * 64)
    assert bad.status_code == 401
    path = f"/api/v1/dorm/meter/top-ups/{top_up.pk}/applied"
    assert signed("post", path, system.device, secret, {"applied_wh": 10_000, "meter_ref": "X"}).json()["state"] == "delivered"
    readings = signed("post", "/api/v1/dorm/meter/readings", system.device, secret,
                      [{"meter": "M-301", "remaining_wh": 1_000, "consumed_wh": 5_000,
                        "read_at": clock.now().isoformat()}])
    assert readings.status_code == 200 and readings.json() == {"stored": 1, "alerts": 1}


def test_holder_books_and_machine_starts_by_api(holder, resident, machine, institution):
    device, secret = services.machine_device_register(actor=ACTOR, machine=machine, code="washer-1")
    now = clock.institution_now(institution)
    start = (now + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    machines = holder.get("/api/v1/me/laundry/machines").json()
    assert [m["code"] for m in machines] == ["w1"]
    slots = holder.get(f"/api/v1/me/laundry/machines/{machine.pk}/slots?day={start.date().isoformat()}").json()
    assert any(s["state"] == "free" for s in slots)
    made = holder.post("/api/v1/me/laundry/bookings", {"machine": machine.pk, "starts_at": start.isoformat(),
                                                       "key": "lb1"}, content_type="application/json")
    assert made.status_code == 201, made.content
    booking_id = made.json()["id"]
    with clock.frozen_at(start + dt.timedelta(minutes=1)):
        refused = signed("post", "/api/v1/dorm/laundry/start", device, secret, {"nfc_uid": "04FFFFFF"})
        assert refused.status_code in (403, 404)
        ok = signed("post", "/api/v1/dorm/laundry/start", device, secret, {"nfc_uid": "04A1B2C3"})
        assert ok.status_code == 200 and ok.json() == {"start": True, "booking": booking_id, "minutes": 60}
        failed = signed("post", f"/api/v1/dorm/laundry/bookings/{booking_id}/cycle", device, secret,
                        {"ok": False, "failure": "E21"})
        assert failed.json()["state"] == "failed"
    assert Booking.objects.get().state == "failed" and wallet_summary(resident).balances.available == 50_000
