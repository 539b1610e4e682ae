"""Seat booking (SVC-1): scan to use, book ahead, conflicts, the grace release at its edges."""

from __future__ import annotations

import datetime as dt

import pytest

from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.study import selectors, services
from campuscard.study.models import SeatBooking
from campuscard.study.tasks import release_unused_seats
from tests.study.conftest import holder, local

pytestmark = pytest.mark.django_db

NINE = local(2026, 12, 14, 9, 0)
SYSTEM = Actor.system("test")


def book(person, seat, start, hours=2):
    return services.seat_book(actor=SYSTEM, person=person, seat=seat, starts_at=start,
                              ends_at=start + dt.timedelta(hours=hours))


@pytest.fixture
def two(institution):
    return holder(institution, "04AA0001")[0], holder(institution, "04AA0002")[0]


def test_scan_a_free_seat_uses_it_and_the_room_shows_one_less(study_room, two):
    room, seats = study_room
    alice, _bob = two
    with clock.frozen_at(NINE):
        assert [live.free for live in selectors.rooms_live(room.institution_id)] == [3]
        booking = services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token)
        assert booking.state == SeatBooking.State.IN_USE and booking.ends_at == NINE + dt.timedelta(minutes=120)
        assert [live.free for live in selectors.rooms_live(room.institution_id)] == [2]
        assert services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token).pk == booking.pk  # twice: same


def test_conflicts_refused(study_room, two):
    _room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        book(alice, seats[0], NINE)
        with pytest.raises(DomainError) as taken:
            book(bob, seats[0], NINE + dt.timedelta(hours=1))  # overlaps the second hour
        assert taken.value.code == "seat_taken"
        with pytest.raises(DomainError) as busy:
            book(alice, seats[1], NINE + dt.timedelta(minutes=30))  # one seat at a time per holder
        assert busy.value.code == "seat_holder_busy"
        book(bob, seats[0], NINE + dt.timedelta(hours=2))  # back to back is fine
    assert SeatBooking.objects.count() == 2


def test_walk_in_ends_where_the_next_booking_starts(study_room, two):
    _room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        book(bob, seats[0], NINE)
    with clock.frozen_at(NINE - dt.timedelta(minutes=50)):
        walk_in = services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token)
    assert walk_in.ends_at == NINE
    with clock.frozen_at(NINE - dt.timedelta(minutes=16)), pytest.raises(DomainError) as refused:
        services.seat_scan(actor=SYSTEM, person=alice, token=seats[1].token)  # she holds seat 0 until 09:00
    assert refused.value.code == "seat_holder_busy"


@pytest.mark.parametrize(("after", "released"), [(dt.timedelta(minutes=14, seconds=59), False),
                                                  (dt.timedelta(minutes=15), True)])
def test_grace_release_edges(study_room, two, after, released):
    """A booking not taken up is released at start + 15 min exactly: at 14:59 it still holds the seat and can
    be taken up; at 15:00 it is gone (for others at once, and the job writes it down)."""
    _room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        booking = book(alice, seats[0], NINE)
    with clock.frozen_at(NINE + after):
        assert release_unused_seats.call_local() == {"released": int(released), "ended": 0}
        booking.refresh_from_db()
        assert booking.state == (SeatBooking.State.RELEASED if released else SeatBooking.State.BOOKED)
        if released:
            with pytest.raises(DomainError):
                services.seat_booking_close(actor=SYSTEM, person=alice, booking_id=booking.pk)
            assert services.seat_scan(actor=SYSTEM, person=bob, token=seats[0].token).person == bob
        else:
            with pytest.raises(DomainError) as taken:
                services.seat_scan(actor=SYSTEM, person=bob, token=seats[0].token)
            assert taken.value.code == "seat_taken"
            assert services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token).pk == booking.pk
            assert SeatBooking.objects.get(pk=booking.pk).state == SeatBooking.State.IN_USE


def test_released_without_the_job_frees_the_seat_at_once(study_room, two):
    _room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        book(alice, seats[0], NINE)
    with clock.frozen_at(NINE + dt.timedelta(minutes=15)):
        assert services.seat_scan(actor=SYSTEM, person=bob, token=seats[0].token).person == bob
    assert services.seat_bookings_release(now=NINE + dt.timedelta(minutes=16))["released"] == 1


def test_take_up_window_opens_fifteen_minutes_before(study_room, two):
    _room, seats = study_room
    alice, _bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        booking = book(alice, seats[0], NINE)
    with clock.frozen_at(NINE - dt.timedelta(minutes=15)):
        assert services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token).pk == booking.pk


def test_slot_rules(study_room, two, settings):
    _room, seats = study_room
    alice, _bob = two
    with clock.frozen_at(NINE):
        for start, end, code in [(NINE, NINE, "seat_slot_invalid"),
                                 (NINE, NINE + dt.timedelta(hours=settings.SEAT_MAX_HOURS, minutes=1), "seat_slot_invalid"),
                                 (NINE - dt.timedelta(hours=2), NINE, "seat_slot_past"),
                                 (NINE - dt.timedelta(minutes=15), NINE + dt.timedelta(hours=1), "seat_slot_past"),
                                 (NINE + dt.timedelta(days=settings.SEAT_BOOK_AHEAD_DAYS, minutes=1),
                                  NINE + dt.timedelta(days=settings.SEAT_BOOK_AHEAD_DAYS, hours=1), "seat_slot_too_far")]:
            with pytest.raises(DomainError) as refused:
                services.seat_book(actor=SYSTEM, person=alice, seat=seats[0], starts_at=start, ends_at=end)
            assert refused.value.code == code
    assert not SeatBooking.objects.exists()
    with clock.frozen_at(NINE + dt.timedelta(minutes=14, seconds=59)):  # still within its grace: bookable
        services.seat_book(actor=SYSTEM, person=alice, seat=seats[0], starts_at=NINE, ends_at=NINE + dt.timedelta(hours=1))


def test_no_active_card_no_seat(study_room, two):
    _room, seats = study_room
    alice, _bob = two
    Card.objects.filter(person=alice).update(state=Card.State.LOST)
    with clock.frozen_at(NINE), pytest.raises(DomainError) as refused:
        services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token)
    assert refused.value.code == "seat_no_card"


def test_cancel_and_leave(study_room, two):
    _room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        ahead = book(alice, seats[0], NINE)
        assert services.seat_booking_close(actor=SYSTEM, person=alice, booking_id=ahead.pk).state == "cancelled"
        with pytest.raises(DomainError):
            services.seat_booking_close(actor=SYSTEM, person=bob, booking_id=ahead.pk)  # not Bob's
    with clock.frozen_at(NINE):
        used = services.seat_scan(actor=SYSTEM, person=alice, token=seats[1].token)
    with clock.frozen_at(NINE + dt.timedelta(minutes=40)):
        left = services.seat_booking_close(actor=SYSTEM, person=alice, booking_id=used.pk)
        assert left.state == "ended" and left.ends_at == NINE + dt.timedelta(minutes=40)
        assert services.seat_scan(actor=SYSTEM, person=bob, token=seats[1].token).person == bob


def test_occupancy_by_hour(study_room, two):
    room, seats = study_room
    alice, bob = two
    with clock.frozen_at(NINE):
        services.seat_scan(actor=SYSTEM, person=alice, token=seats[0].token)  # 09:00–11:00
    with clock.frozen_at(NINE - dt.timedelta(hours=2)):
        book(bob, seats[1], NINE + dt.timedelta(hours=3))  # 12:00, never taken up
    services.seat_bookings_release(now=NINE + dt.timedelta(hours=4))
    counts = selectors.occupancy_by_hour(room, NINE.date(), "Asia/Shanghai")
    assert counts["used"][8:12] == [0, 1, 1, 0] and counts["released"][12] == 1 and sum(counts["released"]) == 1
