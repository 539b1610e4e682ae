"""Offline taps (TRN-2): duplicates dropped exactly, set-based charging, one fare below zero then the
deny-list, late deny-lists charged and flagged, fare classes and transfer windows (TRN-1)."""

import datetime as dt

import pytest
from django.db import transaction

from campuscard.cards.models import Card
from campuscard.cards.services import card_report_lost, nfc_bind
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.identity.models import Person
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.services import recharge_cash
from campuscard.transit import offline, services
from campuscard.transit.models import Tap
from tests.transit.conftest import SYSTEM, UID, available, taps

pytestmark = pytest.mark.django_db


def upload(validator, batch, version=0):
    return services.taps_upload(device=validator.device, taps=batch, deny_version=version)


def test_student_fare_is_half_and_every_tap_is_a_journal_row(validator, bound):
    result = upload(validator, taps(1, 2, minutes=30))
    assert result.charged == 2 and result.fares == 200 and available(bound) == 800
    for tap in Tap.objects.all():
        assert tap.fare_class == "student" and tap.fare == 100
        transfer = Transfer.objects.get(pk=tap.transfer_id)
        assert transfer.key == f"tap:{validator.device_id}:{tap.counter}" and transfer.amount == 100
        assert transfer.credit_id == validator.operator.clearing_account_id
    assert ledger_check().ok


def test_the_same_batch_twice_or_half_of_it_again_adds_nothing(validator, bound):
    batch = taps(1, 2, 3, 4, minutes=10)
    first = upload(validator, batch)
    again = upload(validator, batch)
    half = upload(validator, batch[2:] + taps(5, start=clock.now() - dt.timedelta(minutes=5)))
    assert (first.charged, again.charged, again.duplicates, half.charged, half.duplicates) == (4, 0, 4, 1, 2)
    assert Tap.objects.count() == 5 and available(bound) == 500
    assert Transfer.objects.filter(kind=services.FARE_KIND).count() == 5
    inside = upload(validator, taps(9, 9, 9))  # one counter three times in one batch
    assert inside.charged == 1 and inside.duplicates == 2
    assert ledger_check().ok


def test_one_fare_below_zero_then_deny_listed_and_a_canteen_payment_still_refused(validator, student, bound):
    version = offline.deny_version(bound.institution_id)
    ledger.transfer_create(key="spend", debit=Account.objects.get(pk=bound.wallet_account_id),
                           credit=ledger.system_account(institution_id=bound.institution_id,
                                                        kind=Account.Kind.FEE_INCOME), amount=950, kind="fee")
    assert available(bound) == 50  # ¥0.50
    result = upload(validator, taps(1, 2, 3))
    assert result.charged == 1 and [r["code"] for r in result.refused] == ["tap_allowance_used"] * 2
    assert available(bound) == -50
    assert Tap.objects.get(counter=1).below_zero and Tap.objects.filter(state="refused").count() == 2
    assert offline.deny_version(bound.institution_id) > version and UID in offline.denied_uids(bound.institution_id)
    # the allowance was that tap's alone: nothing else can take the wallet lower
    with pytest.raises(DomainError) as refused, transaction.atomic():
        ledger.transfer_create(key="canteen", debit=Account.objects.get(pk=bound.wallet_account_id),
                               credit=ledger.system_account(institution_id=bound.institution_id,
                                                            kind=Account.Kind.FEE_INCOME), amount=100, kind="fee")
    assert refused.value.code == "insufficient_funds"
    # a recharge brings the floor back to zero: ¥1.00 left, a ¥1.50 payment is refused, ¥1.00 passes
    recharge_cash(channel="window", person=student, amount=150, key="fund-2")
    assert available(bound) == 100 and UID not in offline.denied_uids(bound.institution_id)
    fee = ledger.system_account(institution_id=bound.institution_id, kind=Account.Kind.FEE_INCOME)
    wallet = Account.objects.get(pk=bound.wallet_account_id)
    with pytest.raises(DomainError), transaction.atomic():
        ledger.transfer_create(key="canteen-2", debit=wallet, credit=fee, amount=150, kind="fee")
    ledger.transfer_create(key="canteen-3", debit=wallet, credit=fee, amount=100, kind="fee")
    assert available(bound) == 0
    check = ledger_check()
    assert check.ok, check.problems


def test_a_card_lost_after_the_validators_sync_is_charged_and_flagged(validator, bound):
    snapshot = offline.snapshot_build(validator=validator)
    assert UID in snapshot["holders"]
    card_report_lost(actor=SYSTEM, card=bound, channel="portal")
    assert UID in offline.denied_uids(bound.institution_id)
    assert offline.deny_version(bound.institution_id) > snapshot["deny_list"]["version"]
    result = upload(validator, taps(1), version=snapshot["deny_list"]["version"])
    assert result.charged == 1 and result.flagged == [{"counter": 1, "card": bound.number}]
    assert Tap.objects.get().flagged == "deny_list_late" and available(bound) == 900


def test_unknown_cards_and_alumni_are_kept_but_not_charged(validator, bound):
    result = upload(validator, taps(1, uid="04:00:00:01"))
    assert result.refused == [{"counter": 1, "code": "credential_unknown"}]
    assert Tap.objects.get().state == "refused"
    Card.objects.filter(pk=bound.pk).update(kind=Card.Kind.ALUMNI)
    assert upload(validator, taps(2)).refused == [{"counter": 2, "code": "payment_not_allowed"}]
    assert available(bound) == 1_000


def test_fare_classes_staff_pay_full_unless_the_operator_says(validator, staff_member, operator):
    from campuscard.cards.services import card_issue

    card = card_issue(actor=SYSTEM, person=staff_member)
    recharge_cash(channel="window", person=staff_member, amount=1_000, key="f")
    nfc_bind(actor=SYSTEM, card=card, uid="04:55:66:77")
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    upload(validator, taps(1, uid="04:55:66:77"))
    operator.staff_discount_percent = 25
    operator.save()
    validator.refresh_from_db()
    upload(validator, taps(2, uid="04:55:66:77", start=clock.now() - dt.timedelta(minutes=3)))
    assert list(Tap.objects.order_by("counter").values_list("fare_class", "fare")) == [("staff", 200), ("staff", 150)]


@pytest.mark.parametrize(("minutes", "transfer"), [(0, True), (30, True), (31, False)])
def test_transfer_discount_window_edges(operator, validator, validator2, bound, minutes, transfer):
    operator.transfer_minutes, operator.transfer_discount = 30, 80
    operator.save()
    start = clock.now() - dt.timedelta(hours=2)
    upload(validator, taps(1, start=start))
    second = [{"counter": 1, "uid": UID, "tapped_at": (start + dt.timedelta(minutes=minutes)).isoformat()}]
    validator2.operator.refresh_from_db()
    upload(validator2, second)
    tap = Tap.objects.get(device=validator2.device)
    assert tap.is_transfer is transfer and tap.fare == (100 - 80 if transfer else 100)


def test_stage_fares_and_a_transfer_is_not_chained(operator, validator, validator2, bound):
    operator.transfer_minutes, operator.transfer_discount = 30, 500
    operator.save()
    start = clock.now() - dt.timedelta(hours=2)
    upload(validator2, taps(1, start=start, stages=3))  # K2: 200 + 2 × 100, half: 200
    upload(validator, taps(1, start=start + dt.timedelta(minutes=10)))  # a transfer: free
    upload(validator2, taps(2, start=start + dt.timedelta(minutes=20)))  # not a transfer of a transfer
    fares = list(Tap.objects.order_by("tapped_at").values_list("fare", "is_transfer", "state"))
    assert fares == [(200, False, "charged"), (0, True, "charged"), (100, False, "charged")]
    assert available(bound) == 700 and ledger_check().ok


def test_a_malformed_batch_changes_nothing(validator, bound):
    batch = taps(1, 2) + [{"counter": "x", "uid": UID, "tapped_at": clock.now().isoformat()}]
    with pytest.raises(DomainError) as bad:
        upload(validator, batch)
    assert bad.value.code == "transit_tap_invalid" and not Tap.objects.exists()
    future = taps(3, start=clock.now() + dt.timedelta(hours=1))
    with pytest.raises(DomainError):
        upload(validator, future)


def test_only_validators_upload(bound, institution):
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register

    gate, _secret = device_register(actor=SYSTEM, institution=institution, kind=Device.Kind.GATE, code="g1", name="g")
    with pytest.raises(DomainError) as refused:
        services.taps_upload(device=gate, taps=taps(1))
    assert refused.value.code == "transit_validator_required"


def test_binding_needs_terms_and_an_nfc_card_and_ends_on_loss_graduation_and_reissue(student, card):
    with pytest.raises(DomainError) as no_terms:
        services.binding_create(actor=SYSTEM, card=card, accept_terms=False)
    with pytest.raises(DomainError) as no_nfc:
        services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    assert (no_terms.value.code, no_nfc.value.code) == ("transit_terms_required", "transit_no_nfc")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    binding = services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    with pytest.raises(DomainError):
        services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    card_report_lost(actor=SYSTEM, card=card, channel="portal")
    binding.refresh_from_db()
    assert binding.state == "ended" and binding.end_reason == "lost"
    assert UID in offline.denied_uids(card.institution_id)


def test_graduation_ends_the_binding_and_a_reissued_card_is_not_bound(institution, student, card):
    from campuscard.cards.services import card_replace, graduate

    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    new = card_replace(actor=SYSTEM, card=card, physical=False, channel="portal", fee=0)
    assert card.transit_bindings.get().state == "ended" and not new.transit_bindings.exists()
    nfc_bind(actor=SYSTEM, card=new, uid="04:99:88:77")
    services.binding_create(actor=SYSTEM, card=new, accept_terms=True)
    graduate(actor=SYSTEM, person=Person.objects.get(pk=student.pk))
    binding = new.transit_bindings.get()
    assert binding.state == "ended" and binding.end_reason == "graduated"


def test_snapshot_is_signed_and_decides_offline(validator, bound):
    from campuscard.access.models import AccessSigningKey

    snapshot = offline.snapshot_build(validator=validator)
    trusted = {k.key_id: k.public_key for k in AccessSigningKey.objects.all()}
    assert offline.snapshot_verify(snapshot, trusted)
    assert offline.decide_offline(snapshot, UID) == (True, "student", 100)
    assert offline.decide_offline(snapshot, "04:00:00:09")[0] is False
    forged = {**snapshot, "holders": {**snapshot["holders"], "04:00:00:09": "student"}}
    assert not offline.snapshot_verify(forged, trusted)
    later = offline.snapshot_build(validator=validator)
    assert later["serial"] > snapshot["serial"]


def test_known_counters_are_probed_one_by_one_even_when_planned_on_an_empty_log(validator, bound):
    """The duplicate check's plan is made once per connection, here while the tap log is empty: each uploaded
    counter must still be an index probe of (validator, counter), not a filter over the validator's day."""
    from django.conf import settings
    from django.db import connection

    assert not Tap.objects.exists()
    with transaction.atomic():
        assert services._seen(validator.device.pk, [1, 2]) == set()  # prepared and planned now
    services.taps_upload(device=validator.device, taps=taps(1, 2, 3))
    assert services._seen(validator.device.pk, [2, 3, 9]) == {2, 3}
    if connection.vendor == "postgresql" and settings.PG_PREPARE:  # behind a transaction pooler: nothing prepared
        with connection.cursor() as cursor:
            values = {"device_id": validator.device.pk, "counters": [2, 3]}
            cursor.execute(f"EXPLAIN EXECUTE {services._SEEN.name}(%s, %s)", [values[p] for p in services._SEEN.parameters])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "counter = c.counter" in plan and "ANY" not in plan, plan
