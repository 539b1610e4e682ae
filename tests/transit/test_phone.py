"""The phone's NFC credential (HCE) on the buses (#20 item 1, TRN-1, TRN-2, CARD-3, CARD-4): the holder binds
the phone (alone on a virtual card, or with the physical card), the validator's signed snapshot names the
phone's token, a phone tap uploads the token and the one-time digits it showed (checked against the tap's
time), and a lost card or a replaced phone credential unbinds it."""

import datetime as dt

import pytest

from campuscard.access.models import AccessSigningKey
from campuscard.cards import codes
from campuscard.cards.models import Credential
from campuscard.cards.services import card_report_lost, hce_rotate, nfc_bind
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Transfer
from campuscard.payments.services import recharge_cash
from campuscard.transit import offline, services
from campuscard.transit.models import Binding, Tap
from tests.transit.conftest import SYSTEM, UID, available, taps

pytestmark = pytest.mark.django_db


def phone_of(card) -> Credential:
    return Credential.objects.get(card=card, kind=Credential.Kind.HCE, active=True)


def phone_taps(credential, *counters, start=None, minutes=1, code=None):
    """What a validator uploads for phone taps: the token and the digits the phone showed at that time."""
    start = start or clock.now() - dt.timedelta(hours=1)
    out = []
    for i, counter in enumerate(counters):
        at = start + dt.timedelta(minutes=minutes * i)
        out.append({"counter": counter, "hce": credential.token, "code": code or codes.totp(credential.secret).at(at),
                    "tapped_at": at.isoformat()})
    return out


def upload(validator, batch, version=0):
    return services.taps_upload(device=validator.device, taps=batch, deny_version=version)


@pytest.fixture
def phone_bound(student, card):
    """A virtual card (no physical card) with ¥10, bound to the buses with the phone alone."""
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=False, with_phone=True)
    return card


def test_binding_needs_a_medium_and_the_card_needs_its_nfc_for_the_card(card):
    with pytest.raises(DomainError) as neither:
        services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=False, with_phone=False)
    with pytest.raises(DomainError) as no_nfc:
        services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=True, with_phone=True)
    assert (neither.value.code, no_nfc.value.code) == ("transit_medium_required", "transit_no_nfc")
    assert not Binding.objects.exists()


def test_a_virtual_card_rides_with_the_phone_alone(validator, phone_bound):
    phone = phone_of(phone_bound)
    binding = Binding.objects.get()
    assert (binding.with_card, binding.phone_id, binding.phone_bound) == (False, phone.pk, True)
    snapshot = offline.snapshot_build(validator=validator)
    trusted = {k.key_id: k.public_key for k in AccessSigningKey.objects.all()}
    assert offline.snapshot_verify(snapshot, trusted)
    assert snapshot["phones"] == {phone.token: "student"} and snapshot["holders"] == {}
    assert offline.decide_offline(snapshot, hce=phone.token) == (True, "student", 100)
    assert offline.decide_offline(snapshot, hce="AAAAAAAAAA")[0] is False
    result = upload(validator, phone_taps(phone, 1, 2, minutes=30))
    assert (result.charged, result.fares, result.flagged) == (2, 200, []) and available(phone_bound) == 800
    tap = Tap.objects.get(counter=1)
    assert (tap.medium, tap.nfc_uid, tap.card_id, tap.fare_class) == ("hce", phone.token, phone_bound.pk, "student")
    assert Transfer.objects.get(pk=tap.transfer_id).metadata["phone"] == phone.token
    again = upload(validator, phone_taps(phone, 1, 2, minutes=30))
    assert (again.charged, again.duplicates) == (0, 2)
    assert ledger_check().ok


def test_a_wrong_code_is_kept_not_charged_and_bad_input_changes_nothing(validator, phone_bound):
    phone = phone_of(phone_bound)
    result = upload(validator, phone_taps(phone, 1, code="00000000"))
    assert result.refused == [{"counter": 1, "code": "transit_phone_code_invalid"}]
    assert Tap.objects.get().state == "refused" and available(phone_bound) == 1_000
    late = phone_taps(phone, 2, start=clock.now() - dt.timedelta(hours=2))
    late[0]["tapped_at"] = (clock.now() - dt.timedelta(minutes=30)).isoformat()  # digits of another time
    assert upload(validator, late).refused[0]["code"] == "transit_phone_code_invalid"
    for bad in ({"hce": phone.token, "code": "12ab"}, {"hce": "lower-case", "code": "12345678"},
                {"hce": phone.token, "code": "12345678", "uid": UID}):
        with pytest.raises(DomainError) as refused:
            upload(validator, [{"counter": 9, "tapped_at": clock.now().isoformat(), **bad}])
        assert refused.value.code == "transit_tap_invalid"
    assert Tap.objects.count() == 2


def test_a_card_and_its_phone_ride_on_one_wallet(validator, student, card):
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=True, with_phone=True)
    snapshot = offline.snapshot_build(validator=validator)
    assert snapshot["holders"] == {UID: "student"} and snapshot["phones"] == {phone_of(card).token: "student"}
    start = clock.now() - dt.timedelta(hours=1)
    result = upload(validator, taps(1, start=start) + phone_taps(phone_of(card), 2, start=start + dt.timedelta(minutes=5)))
    assert result.charged == 2 and available(card) == 800
    assert sorted(Tap.objects.values_list("medium", flat=True)) == ["hce", "nfc"]


def test_a_replaced_phone_credential_unbinds_the_phone_and_a_late_tap_is_charged_and_flagged(validator, student,
                                                                                              card):
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=True, with_phone=True)
    old = phone_of(card)
    held = offline.snapshot_build(validator=validator)
    new = hce_rotate(actor=SYSTEM, card=card)  # a new phone: the old one's credential stops
    binding = Binding.objects.get()
    assert binding.state == "active" and binding.with_card and not binding.phone_bound  # the card still rides
    assert offline.deny_version(card.institution_id) > held["deny_list"]["version"]
    snapshot = offline.snapshot_build(validator=validator)
    assert snapshot["phones"] == {} and old.token in snapshot["deny_list"]["hce_tokens"]
    assert new.token not in snapshot["phones"]  # bound anew, not by itself
    assert offline.decide_offline(snapshot, hce=old.token) == (False, "denied", 0)
    # the validator still had the old list: the old phone's tap is charged and flagged, never lost
    result = upload(validator, phone_taps(old, 1), version=held["deny_list"]["version"])
    assert result.charged == 1 and result.flagged == [{"counter": 1, "card": card.number}]
    services.binding_phone_set(actor=SYSTEM, binding=binding, bound=True)
    snapshot = offline.snapshot_build(validator=validator)
    assert snapshot["phones"] == {new.token: "student"} and old.token in snapshot["deny_list"]["hce_tokens"]


def test_a_phone_only_binding_ends_when_the_phone_is_replaced(phone_bound):
    hce_rotate(actor=SYSTEM, card=phone_bound)
    binding = Binding.objects.get()
    assert (binding.state, binding.end_reason) == ("ended", "phone_replaced")


def test_a_lost_card_unbinds_its_phone(validator, phone_bound):
    token = phone_of(phone_bound).token
    card_report_lost(actor=SYSTEM, card=phone_bound, channel="portal")
    assert Binding.objects.get().state == "ended"
    snapshot = offline.snapshot_build(validator=validator)
    assert snapshot["phones"] == {} and token in snapshot["deny_list"]["hce_tokens"]


def test_the_holder_unbinds_and_binds_the_phone_again(validator, student, card):
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    binding = services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    token = phone_of(card).token
    assert token not in offline.snapshot_build(validator=validator)["phones"]
    services.binding_phone_set(actor=SYSTEM, binding=binding, bound=True)
    assert offline.snapshot_build(validator=validator)["phones"] == {token: "student"}
    version = offline.deny_version(card.institution_id)
    services.binding_phone_set(actor=SYSTEM, binding=binding, bound=False)
    assert offline.deny_version(card.institution_id) > version
    assert token in offline.denied_tokens(card.institution_id) and Binding.objects.get().state == "active"


def test_one_fare_below_zero_then_the_phone_is_deny_listed(validator, student, card):
    recharge_cash(channel="window", person=student, amount=150, key="fund")
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=False, with_phone=True)
    token = phone_of(card).token
    result = upload(validator, phone_taps(phone_of(card), 1, 2, 3))
    assert result.charged == 2 and [r["code"] for r in result.refused] == ["tap_allowance_used"]
    assert available(card) == -50 and token in offline.denied_tokens(card.institution_id)
    assert token not in offline.snapshot_build(validator=validator)["phones"]
    recharge_cash(channel="window", person=student, amount=500, key="fund-2")
    assert token not in offline.denied_tokens(card.institution_id)


def test_the_api_takes_phone_taps_and_lists_denied_phones(route, phone_bound):
    import json

    from django.test import Client

    from campuscard.devices.signing import sign_headers

    validator, secret = services.validator_register(actor=SYSTEM, route=route, code="bus-api-phone")

    def signed(method, path, body=None):
        raw = json.dumps(body).encode() if body is not None else b""
        headers = sign_headers(device_code=validator.device.code, secret=secret, method=method, path=path, body=raw,
                               timestamp=int(clock.now().timestamp()))
        if method == "GET":
            return Client().get(path, headers=headers)
        return Client().post(path, data=raw, content_type="application/json", headers=headers)

    phone = phone_of(phone_bound)
    held = signed("GET", "/api/v1/transit/validator/snapshot").json()
    assert held["phones"] == {phone.token: "student"} and held["deny_list"]["hce_tokens"] == []
    response = signed("POST", "/api/v1/transit/validator/taps", {"taps": phone_taps(phone, 1, 2)})
    assert response.status_code == 200, response.content
    assert response.json()["charged"] == 2 and available(phone_bound) == 800
    card_report_lost(actor=SYSTEM, card=phone_bound, channel="portal")
    delta = signed("GET", f"/api/v1/transit/validator/deny-list?since={held['deny_list']['version']}").json()
    assert phone.token in delta["hce_tokens"]


def test_a_phone_code_pays_one_ride_at_any_validator(validator, validator2, phone_bound):
    """Validators are offline: the same one-time code shown on two buses (a relay or a copy) is charged once;
    the second tap is kept, not charged, with its reason — in another upload or in the same one."""
    phone = phone_of(phone_bound)
    at = clock.now() - dt.timedelta(minutes=30)
    first = upload(validator, phone_taps(phone, 1, start=at))
    again = upload(validator2, phone_taps(phone, 7, start=at))  # the same moment: the same code, on another bus
    assert (first.charged, again.charged) == (1, 0)
    assert again.refused == [{"counter": 7, "code": "transit_phone_code_reused"}]
    both = phone_taps(phone, 2, start=at + dt.timedelta(minutes=5)) * 1
    both.append({**both[0], "counter": 3})  # the same code twice in one batch
    twice = upload(validator, both)
    assert twice.charged == 1 and twice.refused == [{"counter": 3, "code": "transit_phone_code_reused"}]
    later = upload(validator2, phone_taps(phone, 8, start=at + dt.timedelta(minutes=10)))  # a new code pays
    assert later.charged == 1
    assert Tap.objects.filter(refusal="transit_phone_code_reused").count() == 2
    assert available(phone_bound) == 1_000 - 3 * 100 and ledger_check().ok
