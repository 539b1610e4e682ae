"""Laundry (SVC-5): slots paid from the wallet; cancellation until N minutes before with a full refund; a
no-show released after the grace period without refund (the Huey job); a failed cycle refunded; the
machine starts only for the booking's holder; a slot booked once, also under concurrency (PostgreSQL)."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import override_settings

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.dorm import rules, selectors, services, tasks
from campuscard.dorm.models import Booking, Machine
from campuscard.ledger.checks import ledger_check
from campuscard.payments.models import Payment
from campuscard.payments.selectors import wallet_summary
from campuscard.support.models import Notification
from tests.dorm.conftest import ACTOR

pytestmark = pytest.mark.django_db


def available(person) -> int:
    return wallet_summary(person).balances.available


def next_slot(institution, hours=3):
    """A slot start on the hour grid a few hours from now (local time)."""
    now = clock.institution_now(institution)
    return (now + dt.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def book(person, machine, starts_at, key="b1"):
    return services.laundry_book(actor=ACTOR, person=person, machine=machine, starts_at=starts_at, key=key)


@pytest.fixture
def device(machine):
    device, _secret = services.machine_device_register(actor=ACTOR, machine=machine, code="washer-1")
    return device


def test_book_pays_once_and_the_slot_shows_as_mine(resident, machine, institution):
    start = next_slot(institution)
    booking = book(resident, machine, start)
    assert booking.state == "booked" and booking.amount == 400 and available(resident) == 49_600
    assert book(resident, machine, start).pk == booking.pk and Payment.objects.count() == 1
    with pytest.raises(DomainError) as reused:
        book(resident, machine, start + dt.timedelta(hours=1))
    assert reused.value.code == "laundry_key_reused"
    payment = Payment.objects.get()
    assert payment.merchant.code == "dorm-laundry" and payment.terminal is None
    day = selectors.slots(machine, start.date(), resident)
    assert [s.state for s in day if s.starts_at == start] == ["mine"]


def test_a_taken_slot_is_refused_and_charges_nothing(resident, neighbour, machine, institution):
    start = next_slot(institution)
    book(resident, machine, start)
    with pytest.raises(DomainError) as taken:
        book(neighbour, machine, start, key="n1")
    assert taken.value.code == "laundry_slot_taken" and available(neighbour) == 10_000


@pytest.mark.parametrize("offset_minutes, code", [(7, "laundry_slot_invalid"), (-240, "laundry_slot_past"),
                                                  (60 * 24 * 3, "laundry_slot_too_far")])
def test_slot_edges(resident, machine, institution, offset_minutes, code):
    start = next_slot(institution) + dt.timedelta(minutes=offset_minutes)
    with pytest.raises(DomainError) as refused:
        book(resident, machine, start)
    assert refused.value.code == code and not Booking.objects.exists() and available(resident) == 50_000


def test_the_current_slot_can_be_booked_until_its_grace_ends(resident, machine, institution):
    start = next_slot(institution, hours=0)  # this hour's slot
    with clock.frozen_at(start + dt.timedelta(minutes=9, seconds=59)):
        assert book(resident, machine, start).state == "booked"
    with clock.frozen_at(start + dt.timedelta(minutes=10)):
        with pytest.raises(DomainError) as late:
            book(resident, machine, start + dt.timedelta(hours=-1), key="b2")
        assert late.value.code == "laundry_slot_past"


def test_only_residents_of_the_building_with_the_add_on_book(resident, machine, institution, staff_member):
    from campuscard.cards.services import card_issue, package_addon_grant, package_addon_revoke
    card_issue(actor=ACTOR, person=staff_member)
    package_addon_grant(actor=ACTOR, person=staff_member, addon="laundry")
    with pytest.raises(DomainError) as outsider:
        book(staff_member, machine, next_slot(institution))
    assert outsider.value.code == "laundry_not_resident"
    package_addon_revoke(actor=ACTOR, person=resident, addon="laundry")
    with pytest.raises(DomainError) as no_addon:
        book(resident, machine, next_slot(institution))
    assert no_addon.value.code == "laundry_addon_missing"


def test_cancellation_boundary_full_refund_until_n_minutes_before(resident, machine, institution):
    start = next_slot(institution)
    first = book(resident, machine, start)
    second = book(resident, machine, start + dt.timedelta(hours=1), key="b2")
    with clock.frozen_at(start - dt.timedelta(minutes=30)):  # exactly 30 minutes before: still allowed
        assert services.laundry_cancel(actor=ACTOR, person=resident, booking_id=first.pk).state == "cancelled"
        assert services.laundry_cancel(actor=ACTOR, person=resident, booking_id=first.pk).state == "cancelled"
    assert available(resident) == 49_600  # the first one's ¥4 back, once
    with clock.frozen_at(second.starts_at - dt.timedelta(minutes=29, seconds=59)), \
            pytest.raises(DomainError) as late:
        services.laundry_cancel(actor=ACTOR, person=resident, booking_id=second.pk)
    assert late.value.code == "laundry_cancel_too_late" and late.value.params["minutes"] == 30
    assert available(resident) == 49_600 and Booking.objects.get(pk=second.pk).state == "booked"
    # the cancelled slot is free again for someone else
    assert book(resident, machine, start, key="b3").state == "booked"
    assert ledger_check().ok


def test_no_show_released_after_the_grace_period_without_refund(resident, machine, institution):
    start = next_slot(institution)
    booking = book(resident, machine, start)
    assert rules.no_show(start + dt.timedelta(minutes=10), start, 10)
    with clock.frozen_at(start + dt.timedelta(minutes=9, seconds=59)):
        assert tasks.laundry_release_no_shows.call_local() == {"released": 0}
    with clock.frozen_at(start + dt.timedelta(minutes=10)):
        assert tasks.laundry_release_no_shows.call_local() == {"released": 1}
        assert tasks.laundry_release_no_shows.call_local() == {"released": 0}  # the job runs again: once
    booking.refresh_from_db()
    assert booking.state == "no_show" and available(resident) == 49_600
    assert Notification.objects.filter(person=resident, kind="laundry").count() == 1


def test_the_machine_starts_only_for_the_bookings_holder(resident, neighbour, machine, institution, device):
    start = next_slot(institution)
    booking = book(resident, machine, start)
    with clock.frozen_at(start - dt.timedelta(minutes=1)):
        with pytest.raises(DomainError) as early:
            services.laundry_start(device=device, nfc_uid="04A1B2C3")
        assert early.value.code == "laundry_no_booking_now"
    with clock.frozen_at(start + dt.timedelta(minutes=2)):
        with pytest.raises(DomainError) as other:
            services.laundry_start(device=device, nfc_uid="04D4E5F6")
        assert other.value.code == "laundry_not_your_booking"
        assert Booking.objects.get(pk=booking.pk).state == "booked"
        started = services.laundry_start(device=device, nfc_uid="04:a1:b2:c3")
        assert started.state == "started" and services.laundry_start(device=device, nfc_uid="04A1B2C3").pk == booking.pk
    with clock.frozen_at(start + dt.timedelta(minutes=50)):
        done = services.laundry_cycle_end(device=device, booking_id=booking.pk, ok=True)
    assert done.state == "done" and available(resident) == 49_600


def test_after_the_grace_the_machine_does_not_start(resident, machine, institution, device):
    start = next_slot(institution)
    book(resident, machine, start)
    with clock.frozen_at(start + dt.timedelta(minutes=10)), pytest.raises(DomainError) as late:
        services.laundry_start(device=device, nfc_uid="04A1B2C3")
    assert late.value.code == "laundry_no_booking_now"


def test_a_failed_cycle_is_refunded_once(resident, machine, institution, device):
    start = next_slot(institution)
    booking = book(resident, machine, start)
    with clock.frozen_at(start + dt.timedelta(minutes=1)):
        services.laundry_start(device=device, nfc_uid="04A1B2C3")
    with clock.frozen_at(start + dt.timedelta(minutes=20)):
        failed = services.laundry_cycle_end(device=device, booking_id=booking.pk, ok=False, failure="E21 drain")
        again = services.laundry_cycle_end(device=device, booking_id=booking.pk, ok=False, failure="E21 drain")
    assert failed.state == again.state == "failed" and failed.failure == "E21 drain"
    assert available(resident) == 50_000
    assert Notification.objects.filter(person=resident, kind="laundry").count() == 1
    assert ledger_check().ok


def test_a_machine_of_another_building_cannot_start_this_booking(resident, machine, institution, dorm):
    other = Machine.objects.create(institution=institution, dorm=dorm, code="w2", name="2号洗衣机")
    other_device, _ = services.machine_device_register(actor=ACTOR, machine=other, code="washer-2")
    start = next_slot(institution)
    book(resident, machine, start)
    with clock.frozen_at(start + dt.timedelta(minutes=1)), pytest.raises(DomainError) as refused:
        services.laundry_start(device=other_device, nfc_uid="04A1B2C3")
    assert refused.value.code == "laundry_no_booking_now"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_double_booking_of_a_slot_refused_under_concurrency(resident, neighbour, machine, institution):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs PostgreSQL")
    start = next_slot(institution)
    people = [resident, neighbour] * 4
    results = []

    def attempt(i):
        try:
            results.append(book(people[i], machine, start, key=f"race{i}").pk)
        except DomainError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(people))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    booked = [r for r in results if isinstance(r, int)]
    assert len(booked) == 1 and sorted(set(results) - set(booked)) == ["laundry_slot_taken"]
    assert Booking.objects.count() == 1 and Payment.objects.count() == 1
    assert available(resident) + available(neighbour) == 60_000 - 400
    assert ledger_check().ok


@override_settings(LAUNDRY_CANCEL_MINUTES=60)
def test_the_cancellation_window_is_a_setting(resident, machine, institution):
    start = next_slot(institution)
    booking = book(resident, machine, start)
    with clock.frozen_at(start - dt.timedelta(minutes=59)), pytest.raises(DomainError):
        services.laundry_cancel(actor=ACTOR, person=resident, booking_id=booking.pk)
