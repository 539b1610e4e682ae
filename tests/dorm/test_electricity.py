"""Dorm electricity (SVC-5): top-up from the wallet through payments.charges, idempotent; the signed meter
system takes the energy and reports readings; low-balance alert once per drop; the daily reconciliation."""

import datetime as dt

import pytest

from campuscard.cards.services import package_addon_revoke
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.devices.services import device_revoke
from campuscard.dorm import rules, services
from campuscard.dorm.models import Reading, Room, TopUp
from campuscard.ledger.checks import ledger_check
from campuscard.payments.models import Payment
from campuscard.payments.selectors import wallet_summary
from campuscard.support.models import Notification
from tests.dorm.conftest import ACTOR

pytestmark = pytest.mark.django_db


def available(person) -> int:
    return wallet_summary(person).balances.available


@pytest.mark.parametrize("amount, price, wh", [(2_000, 60, 33_333), (100, 60, 1_666), (60, 60, 1_000),
                                               (1, 60, 16), (5_000, 53, 94_339), (0, 60, 0)])
def test_energy_is_rounded_down_to_the_watt_hour_losing_under_one_fen(amount, price, wh):
    assert rules.energy_for(amount, price) == wh
    if amount:
        assert 0 <= amount * 1000 - wh * price < price  # what rounding keeps: under price/1000 fen
        assert (amount * 1000 - wh * price) / 1000 < 1


def test_top_up_is_paid_once_per_key_and_waits_for_the_meter(resident, room):
    top_up = services.topup_buy(actor=ACTOR, person=resident, amount=2_000, key="t1")
    assert (top_up.state, top_up.energy_wh, top_up.price) == ("paid", 33_333, 60)
    again = services.topup_buy(actor=ACTOR, person=resident, amount=2_000, key="t1")
    assert again.pk == top_up.pk and TopUp.objects.count() == 1 and Payment.objects.count() == 1
    assert available(resident) == 48_000
    with pytest.raises(DomainError) as reused:
        services.topup_buy(actor=ACTOR, person=resident, amount=3_000, key="t1")
    assert reused.value.code == "dorm_topup_key_reused" and available(resident) == 48_000
    payment = Payment.objects.get()
    assert payment.terminal is None and payment.merchant.code == "dorm-power" and payment.method == "in_app"
    assert ledger_check().ok


@pytest.mark.parametrize("amount", [99, 50_001, 0, -100])
def test_top_up_bounds(resident, room, amount):
    with pytest.raises(DomainError) as refused:
        services.topup_buy(actor=ACTOR, person=resident, amount=amount, key="b")
    assert refused.value.code == "dorm_topup_amount_invalid"
    assert not TopUp.objects.exists() and available(resident) == 50_000


def test_top_up_needs_the_add_on_and_a_room(resident, room):
    package_addon_revoke(actor=ACTOR, person=resident, addon="dorm_electricity")
    with pytest.raises(DomainError) as no_addon:
        services.topup_buy(actor=ACTOR, person=resident, amount=1_000, key="a")
    assert no_addon.value.code == "dorm_addon_missing"


def test_top_up_without_room_is_refused(student, card):
    from campuscard.cards.services import package_addon_grant
    package_addon_grant(actor=ACTOR, person=student, addon="dorm_electricity")
    with pytest.raises(DomainError) as no_room:
        services.topup_buy(actor=ACTOR, person=student, amount=1_000, key="a")
    assert no_room.value.code == "dorm_room_missing"


def test_top_up_follows_the_payment_rules(resident, room):
    with pytest.raises(DomainError) as password:
        services.topup_buy(actor=ACTOR, person=resident, amount=6_000, key="big")  # above ¥50: the password
    assert password.value.code == "payment_password_unset" and not TopUp.objects.exists()


@pytest.fixture
def meter(institution):
    system, secret = services.meter_system_register(actor=ACTOR, institution=institution, code="meter-sys",
                                                    name="Meter system")
    return system.device


def test_meter_takes_pending_top_ups_and_acks_idempotently(resident, room, meter):
    top_up = services.topup_buy(actor=ACTOR, person=resident, amount=600, key="t2")
    assert [t.pk for t in services.meter_pending(device=meter)] == [top_up.pk]
    with pytest.raises(DomainError) as wrong:
        services.meter_ack(device=meter, top_up_id=top_up.pk, applied_wh=9_999)
    assert wrong.value.code == "dorm_meter_mismatch"
    done = services.meter_ack(device=meter, top_up_id=top_up.pk, applied_wh=10_000, meter_ref="MS-1")
    assert done.state == "delivered" and services.meter_ack(device=meter, top_up_id=top_up.pk,
                                                             applied_wh=10_000).state == "delivered"
    assert services.meter_pending(device=meter) == []


def test_a_device_that_is_not_the_meter_system_is_refused(resident, room, institution):
    from campuscard.devices.services import device_register
    other, _secret = device_register(actor=ACTOR, institution=institution, kind="pos", code="pos-x", name="x")
    with pytest.raises(DomainError) as refused:
        services.meter_pending(device=other)
    assert refused.value.code == "dorm_device_not_meter"


BASE = clock.now().replace(microsecond=0)


def reading(meter_id, remaining, total, minutes):
    return services.ReadingIn(meter_id, remaining, total, BASE - dt.timedelta(minutes=minutes))


def test_low_balance_alerts_the_residents_once_per_drop(resident, neighbour, room, meter):
    services.meter_readings(device=meter, readings=[reading("M-301", 8_000, 100_000, 30)])
    assert not Notification.objects.filter(kind="low_balance").exists()
    result = services.meter_readings(device=meter, readings=[reading("M-301", 4_999, 103_001, 20)])
    assert result == {"stored": 1, "alerts": 1}
    assert Notification.objects.filter(kind="low_balance").count() == 2  # both residents
    services.meter_readings(device=meter, readings=[reading("M-301", 3_000, 105_000, 10)])
    services.meter_readings(device=meter, readings=[reading("M-301", 3_000, 105_000, 10)])  # a resend
    assert Notification.objects.filter(kind="low_balance").count() == 2 and Reading.objects.count() == 3
    services.meter_readings(device=meter, readings=[reading("M-301", 5_000, 105_000, 5)])  # topped up: re-armed
    services.meter_readings(device=meter, readings=[reading("M-301", 4_000, 106_000, 1)])
    assert Notification.objects.filter(kind="low_balance").count() == 4
    room.refresh_from_db()
    assert room.remaining_wh == 4_000 and room.alerted


def test_an_unknown_meter_changes_nothing(resident, room, meter):
    with pytest.raises(DomainError) as unknown:
        services.meter_readings(device=meter, readings=[reading("M-301", 1, 1, 2), reading("M-999", 1, 1, 1)])
    assert unknown.value.code == "dorm_meter_unknown" and not Reading.objects.exists()
    assert Room.objects.get(pk=room.pk).read_at is None


def test_a_revoked_meter_system_device_is_refused_at_the_api(resident, room, meter):
    device_revoke(actor=ACTOR, device=meter)
    from tests.dorm.test_api import signed
    response = signed("get", "/api/v1/dorm/meter/top-ups", meter, "wrong-secret")
    assert response.status_code == 401


def test_reconciliation_lists_every_difference(resident, room, meter, institution):
    delivered = services.topup_buy(actor=ACTOR, person=resident, amount=600, key="r1")
    waiting = services.topup_buy(actor=ACTOR, person=resident, amount=1_200, key="r2")
    services.meter_ack(device=meter, top_up_id=delivered.pk, applied_wh=10_000)
    day = clock.local_date(institution)
    result = services.reconcile_day(institution=institution, day=day)
    assert (result.top_ups, result.paid, result.charged, result.sold_wh, result.delivered_wh) == (
        2, 1_800, 1_800, 30_000, 10_000)
    assert not result.ok and [d["kind"] for d in result.differences] == ["not_delivered"]
    assert result.differences[0]["top_up"] == waiting.pk
    services.meter_ack(device=meter, top_up_id=waiting.pk, applied_wh=20_000)
    again = services.reconcile_day(institution=institution, day=day)
    assert again.pk == result.pk and again.ok and again.differences == [] and again.delivered_wh == 30_000
    assert services.reconcile_day(institution=institution, day=day - dt.timedelta(days=1)).top_ups == 0


def test_an_undelivered_top_up_is_refunded_once(resident, room, meter, institution):
    top_up = services.topup_buy(actor=ACTOR, person=resident, amount=1_000, key="u1")
    services.topup_refund(actor=ACTOR, top_up=top_up, reason="meter offline")
    assert TopUp.objects.get().state == "refunded" and available(resident) == 50_000
    with pytest.raises(DomainError) as twice:
        services.topup_refund(actor=ACTOR, top_up=top_up)
    assert twice.value.code == "dorm_topup_not_pending" and available(resident) == 50_000
    with pytest.raises(DomainError):
        services.meter_ack(device=meter, top_up_id=top_up.pk, applied_wh=top_up.energy_wh)
    result = services.reconcile_day(institution=institution, day=clock.local_date(institution))
    assert result.ok  # paid and refunded: nothing on the meter, nothing owed
    assert ledger_check().ok
