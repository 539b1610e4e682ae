"""The holder's dorm pages (SVC-5): reachable from home, top-up and booking forms idempotent."""

import datetime as dt

import pytest
from django.test import Client

from campuscard.core import clock
from campuscard.dorm.models import Booking, TopUp
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.selectors import wallet_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(resident):
    user = holder_user_ensure(person=resident)
    user.must_change_password = False
    user.save(update_fields=["must_change_password"])
    client = Client()
    client.force_login(user)
    return client


def test_home_shows_the_dorm_tiles(client, machine):
    home = client.get("/").content.decode()
    assert 'id="tile-dorm"' in home and 'id="tile-laundry"' in home


def test_top_up_form_twice_tops_up_once(client, resident, room):
    page = client.get("/dorm/")
    assert page.status_code == 200 and "301" in page.content.decode()
    key = page.context["key"]
    for _ in range(2):
        response = client.post("/dorm/", {"amount": "20", "key": key})
        assert response.status_code == 302
    assert TopUp.objects.get().energy_wh == 33_333
    assert wallet_summary(resident).balances.available == 48_000
    refused = client.post("/dorm/", {"amount": "600", "key": "other"})
    assert refused.status_code == 200 and refused.context["error"]


def test_book_and_cancel_from_the_laundry_page(client, resident, machine, institution):
    start = (clock.institution_now(institution) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    page = client.get(f"/laundry/?day={start.date().isoformat()}")
    assert page.status_code == 200 and f'value="{start.isoformat()}"' in page.content.decode()
    booked = client.post("/laundry/book/", {"machine": machine.pk, "slot": start.isoformat(), "key": "p1"})
    assert booked.status_code == 302 and Booking.objects.get().state == "booked"
    booking = Booking.objects.get()
    assert client.post(f"/laundry/bookings/{booking.pk}/cancel/").status_code == 302
    assert Booking.objects.get().state == "cancelled" and wallet_summary(resident).balances.available == 50_000


def test_another_holders_booking_cannot_be_cancelled(client, neighbour, machine, institution):
    from campuscard.dorm import services
    from tests.dorm.conftest import ACTOR
    start = (clock.institution_now(institution) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    theirs = services.laundry_book(actor=ACTOR, person=neighbour, machine=machine, starts_at=start, key="n")
    client.post(f"/laundry/bookings/{theirs.pk}/cancel/")
    assert Booking.objects.get().state == "booked"


def test_the_machine_page_starts_only_for_the_holder_and_reports_a_failure(resident, neighbour, machine,
                                                                            institution):
    from campuscard.dorm import services
    from tests.dorm.conftest import ACTOR
    device, secret = services.machine_device_register(actor=ACTOR, machine=machine, code="washer-1")
    start = (clock.institution_now(institution) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    booking = services.laundry_book(actor=ACTOR, person=resident, machine=machine, starts_at=start, key="m")
    page = Client()
    assert page.post("/devices/enrol/laundry/", {"code": device.code, "secret": "wrong"}).status_code == 200
    assert page.post("/devices/enrol/laundry/", {"code": device.code, "secret": secret}).status_code == 302
    assert page.get("/devices/laundry/").status_code == 200
    with clock.frozen_at(start + dt.timedelta(minutes=3)):
        other = page.post("/devices/laundry/start/", {"nfc_uid": "04D4E5F6"})
        assert 'id="laundry-refused"' in other.content.decode() and Booking.objects.get().state == "booked"
        ok = page.post("/devices/laundry/start/", {"nfc_uid": "04A1B2C3"})
        assert 'id="laundry-started"' in ok.content.decode() and Booking.objects.get().state == "started"
        failed = page.post(f"/devices/laundry/bookings/{booking.pk}/cycle/", {"outcome": "failed", "failure": "E21"})
        assert 'data-outcome="failed"' in failed.content.decode()
    assert Booking.objects.get().state == "failed" and wallet_summary(resident).balances.available == 50_000
