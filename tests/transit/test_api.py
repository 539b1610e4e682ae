"""The transit API: validators (signed), holders, and the clearing file with its authorisation matrix."""

import json

import pytest
from django.test import Client

from campuscard.access.models import AccessSigningKey
from campuscard.cards.services import nfc_bind
from campuscard.core import clock
from campuscard.devices.signing import sign_headers
from campuscard.identity.services import holder_user_ensure
from campuscard.ledger.checks import ledger_check
from campuscard.transit import offline, services
from campuscard.transit.models import Dispute, OperatorStaff, Tap
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.transit.conftest import SYSTEM, UID, available, taps

pytestmark = pytest.mark.django_db


@pytest.fixture
def device(route):
    validator, secret = services.validator_register(actor=SYSTEM, route=route, code="bus-api-1")
    return validator.device, secret


def signed(method, path, device, secret, body=None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = sign_headers(device_code=device.code, secret=secret, method=method, path=path, body=raw,
                           timestamp=int(clock.now().timestamp()))
    if method == "GET":
        return Client().get(path, headers=headers)
    return Client().post(path, data=raw, content_type="application/json", headers=headers)


def test_validator_downloads_a_signed_snapshot_and_uploads_taps_once(device, bound):
    dev, secret = device
    response = signed("GET", "/api/v1/transit/validator/snapshot", dev, secret)
    assert response.status_code == 200
    snapshot = response.json()
    trusted = {k.key_id: k.public_key for k in AccessSigningKey.objects.all()}
    assert offline.snapshot_verify(snapshot, trusted) and snapshot["holders"] == {UID: "student"}
    body = {"deny_version": snapshot["deny_list"]["version"], "taps": taps(1, 2, 3)}
    first = signed("POST", "/api/v1/transit/validator/taps", dev, secret, body)
    again = signed("POST", "/api/v1/transit/validator/taps", dev, secret, body)
    assert first.status_code == again.status_code == 200, first.content
    assert (first.json()["charged"], again.json()["charged"], again.json()["duplicates"]) == (3, 0, 3)
    assert available(bound) == 700
    deny = signed("GET", f"/api/v1/transit/validator/deny-list?since={snapshot['deny_list']['version']}", dev, secret)
    assert deny.json() == {"version": snapshot["deny_list"]["version"], "nfc_uids": [], "hce_tokens": []}


def test_unsigned_or_malformed_uploads_change_nothing(device, bound):
    dev, secret = device
    assert Client().post("/api/v1/transit/validator/taps", data="{}", content_type="application/json").status_code == 401
    bad = signed("POST", "/api/v1/transit/validator/taps", dev, secret,
                 {"taps": [{"counter": 1, "uid": "zz", "tapped_at": clock.now().isoformat()}]})
    assert bad.status_code == 422 and bad.json()["code"] == "transit_tap_invalid"
    assert not Tap.objects.exists() and available(bound) == 1_000


def test_holder_binds_sees_rides_and_disputes_one(device, student, card, make_operator):
    from campuscard.payments.services import recharge_cash

    recharge_cash(channel="window", person=student, amount=500, key="f")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    client = Client()
    client.force_login(_holder_user(student))
    refused = client.post("/api/v1/transit/bindings", {"card_number": card.number, "accept_terms": False},
                          content_type="application/json")
    assert refused.status_code == 422 and refused.json()["code"] == "transit_terms_required"
    bound = client.post("/api/v1/transit/bindings", {"card_number": card.number, "accept_terms": True},
                        content_type="application/json")
    assert bound.status_code == 201 and bound.json()["state"] == "active"
    dev, secret = device
    signed("POST", "/api/v1/transit/validator/taps", dev, secret, {"taps": taps(7)})
    rides = client.get("/api/v1/transit/rides").json()
    assert [(r["route"], r["fare"], r["fare_class"], r["state"]) for r in rides] == [("K1", 100, "student", "charged")]
    opened = client.post(f"/api/v1/transit/rides/{rides[0]['id']}/dispute", {"reason": "不是我刷的"},
                         content_type="application/json")
    assert opened.status_code == 201
    center = make_operator(student.institution, "card_center_operator")
    services.dispute_decide(actor=SYSTEM, user=center, dispute=Dispute.objects.get(), accept=True)
    assert available(card) == 500 and ledger_check().ok
    c = services_clearing()
    assert c.fares == 100 and c.refunds == 100 and c.reconciled


def services_clearing():
    from campuscard.transit.models import Operator
    from campuscard.transit.selectors import clearing

    return clearing(Operator.objects.get())


def _holder_user(person):
    user = holder_user_ensure(person=person)
    user.must_change_password = False
    user.save()
    return user


def test_clearing_file_is_the_operators_own_and_equals_the_ledger(device, bound, operator, make_operator,
                                                                   other_institution):
    dev, secret = device
    signed("POST", "/api/v1/transit/validator/taps", dev, secret, {"taps": taps(1, 2)})
    bus = make_operator(operator.institution, "bus_operator", username="bus-staff")
    OperatorStaff.objects.create(user=bus, operator=operator)
    other_op = services.operator_create(actor=SYSTEM, institution=operator.institution, code="metro", name="Metro")
    metro_staff = make_operator(operator.institution, "bus_operator", username="metro-staff")
    OperatorStaff.objects.create(user=metro_staff, operator=other_op)
    foreign = make_operator(other_institution, "card_center_operator", username="foreign")
    url = f"/api/v1/transit/operators/{operator.code}/clearing"
    responses = assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(metro_staff), 404),
        wrong_institution=Expect(Principal.session(foreign), 404),
        allowed=Expect(Principal.session(bus), 200),
        snapshot=lambda: tuple(Tap.objects.values_list("pk", "state")))
    body = responses["allowed"].json()
    assert body["count"] == 2 and body["fares"] == 200 == body["ledger_fares"] and body["reconciled"]
    csv = Client()
    csv.force_login(bus)
    file = csv.get(url + "?format=csv")
    assert file.status_code == 200 and file["Content-Disposition"].endswith('.csv"')
    text = file.content.decode("utf-8-sig")
    assert text.count("\n") == 1 + 2 + 3 and "2.00" in text
    xlsx = csv.get(url + "?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_deny_list_versions_race_a_loss_and_a_newer_snapshot_wins(device, bound):
    from campuscard.cards.services import card_report_lost

    dev, secret = device
    held = signed("GET", "/api/v1/transit/validator/snapshot", dev, secret).json()
    card_report_lost(actor=SYSTEM, card=bound, channel="portal")  # after the validator's download
    delta = signed("GET", f"/api/v1/transit/validator/deny-list?since={held['deny_list']['version']}", dev,
                   secret).json()
    assert delta["version"] > held["deny_list"]["version"] and UID in delta["nfc_uids"]
    newer = signed("GET", "/api/v1/transit/validator/snapshot", dev, secret).json()
    assert newer["serial"] > held["serial"] and UID not in newer["holders"] and UID in newer["deny_list"]["nfc_uids"]
    # the validator decided with the old list: the tap is charged and flagged with the version it had
    result = signed("POST", "/api/v1/transit/validator/taps", dev, secret,
                    {"deny_version": held["deny_list"]["version"], "taps": taps(1)}).json()
    assert result["charged"] == 1 and result["flagged"] == [{"counter": 1, "card": bound.number}]
    assert Tap.objects.get().deny_version == held["deny_list"]["version"]
    assert offline.decide_offline(newer, UID)[0] is False
