"""Double booking under concurrency (SVC-1) on PostgreSQL: many holders on one seat at once, one wins."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.study import services
from campuscard.study.models import ExamEntry, SeatBooking
from tests.helpers import at_once
from tests.study.conftest import EXAM_START, holder, local

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

NINE = local(2026, 12, 14, 9, 0)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL, which lets writers run at once")


def test_one_seat_booked_by_eight_at_once_is_booked_once(institution, study_room):
    _room, seats = study_room
    people = [holder(institution, f"04BB{n:04d}")[0] for n in range(8)]
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        results, errors = at_once(8, lambda n: services.seat_book(
            actor=Actor.system("test"), person=people[n], seat=seats[0], starts_at=NINE + dt.timedelta(minutes=n),
            ends_at=NINE + dt.timedelta(hours=2)))
    assert len(results) == 1 and len(errors) == 7
    assert {e.code for e in errors if isinstance(e, DomainError)} == {"seat_taken"} and all(
        isinstance(e, DomainError) for e in errors)
    assert SeatBooking.objects.filter(seat=seats[0]).count() == 1


def test_one_free_seat_scanned_by_eight_at_once_goes_to_one(institution, study_room):
    _room, seats = study_room
    people = [holder(institution, f"04CC{n:04d}")[0] for n in range(8)]
    with clock.frozen_at(NINE):
        results, errors = at_once(8, lambda n: services.seat_scan(actor=Actor.system("test"), person=people[n],
                                                                  token=seats[1].token))
    assert len(results) == 1 and {e.code for e in errors} == {"seat_taken"}
    assert SeatBooking.objects.filter(seat=seats[1], state=SeatBooking.State.IN_USE).count() == 1


def test_one_holder_booking_two_seats_at_once_gets_one(institution, study_room):
    _room, seats = study_room
    person = holder(institution, "04DD0001")[0]
    with clock.frozen_at(NINE - dt.timedelta(hours=1)):
        results, errors = at_once(3, lambda n: services.seat_book(
            actor=Actor.system("test"), person=person, seat=seats[n], starts_at=NINE, ends_at=NINE + dt.timedelta(hours=1)))
    assert len(results) == 1 and {e.code for e in errors} == {"seat_holder_busy"}


def test_a_card_tapped_at_two_doors_at_once_checks_in_once(exam):
    with clock.frozen_at(EXAM_START):
        results, errors = at_once(4, lambda _n: services.exam_check_in(
            actor=Actor.by_user(exam["invigilator"]), room=exam["rooms"]["A101"], presented="04A1B2C3").already)
    assert not errors and sorted(results) == [False, True, True, True]
    assert ExamEntry.objects.exclude(checked_in_at=None).count() == 1
