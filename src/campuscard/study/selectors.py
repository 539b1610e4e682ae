"""Study-service reads: exams for holders and invigilators, free seats live, occupancy by hour."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import mimetypes
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from campuscard.cards.models import Card, Photo
from campuscard.core import clock
from campuscard.core.permissions import restrict
from campuscard.identity.models import Person
from campuscard.study import codes
from campuscard.study.models import ExamEntry, ExamRoom, ExamSession, Seat, SeatBooking, StudyRoom
from campuscard.study.rules import holding

# --- exams -------------------------------------------------------------------------------------------


def exams_of(person: Person) -> list[ExamEntry]:
    """The holder's exams that have not ended a day ago, soonest first."""
    since = clock.now() - dt.timedelta(days=1)
    return list(ExamEntry.objects.select_related("session", "room").filter(person=person, session__ends_at__gt=since)
                .order_by("session__starts_at"))


def identify_code_of(person: Person) -> str | None:
    """The identify-only code for the holder's current active card (None without one)."""
    card = (Card.objects.filter(person=person, state=Card.State.ACTIVE).order_by("-issued_at")
            .values_list("number", flat=True).first())
    return codes.identify_code(card) if card else None


def invigilated_rooms(user: Any) -> QuerySet[ExamRoom]:
    """Rooms of sessions not yet over that this user may check holders in at."""
    rooms = restrict(ExamRoom.objects.select_related("session"), user, "view").filter(
        session__ends_at__gt=clock.now() - dt.timedelta(hours=12))
    if not (user.is_superuser or user.has_perm("study.change_examsession")):
        rooms = rooms.filter(invigilators=user)
    return rooms.annotate(roster=Count("entries"), present=Count("entries", filter=Q(entries__checked_in_at__isnull=False))
                          ).order_by("session__starts_at", "code")


def room_for(user: Any, pk: int) -> ExamRoom | None:
    return invigilated_rooms(user).select_related("session__institution").filter(pk=pk).first()


@dataclass
class RoomStatus:
    room: ExamRoom
    roster: int
    present: int
    missing: list[ExamEntry]
    recent: list[ExamEntry]


def room_status(room: ExamRoom) -> RoomStatus:
    entries = ExamEntry.objects.select_related("person").filter(room=room)
    missing = list(entries.filter(checked_in_at=None).order_by("seat", "person__number"))
    recent = list(entries.exclude(checked_in_at=None).order_by("-checked_in_at")[:8])
    roster = entries.count()
    return RoomStatus(room=room, roster=roster, present=roster - len(missing), missing=missing, recent=recent)


def photo_data_uri(person: Person) -> str | None:
    """The holder's approved photo inline (the scanner page shows it to the invigilator; photos are not
    served by URL to anyone but their holder and the Card Center)."""
    photo = Photo.objects.filter(person=person, state=Photo.State.APPROVED).order_by("-reviewed_at").first()
    if photo is None or not photo.image:
        return None
    try:
        with photo.image.open("rb") as handle:
            data = handle.read()
    except OSError:
        return None
    kind = mimetypes.guess_type(photo.image.name)[0] or "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def attendance_rows(session: ExamSession, room: ExamRoom | None = None) -> list[dict]:
    entries = ExamEntry.objects.select_related("person", "room", "checked_in_by").filter(session=session)
    if room is not None:
        entries = entries.filter(room=room)
    zone = clock.zone(session.institution.time_zone)
    return [{"number": e.person.number, "name": e.person.name, "room": e.room.code, "seat": e.seat,
             "present": e.checked_in_at is not None,
             "checked_in_at": e.checked_in_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if e.checked_in_at else "",
             "method": e.method, "checked_in_by": e.checked_in_by.get_username() if e.checked_in_by else ""}
            for e in entries.order_by("room__code", "seat", "person__number")]


ATTENDANCE_COLUMNS = ["number", "name", "room", "seat", "present", "checked_in_at", "method", "checked_in_by"]


def attendance_csv(session: ExamSession, room: ExamRoom | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ATTENDANCE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in attendance_rows(session, room):
        writer.writerow({**row, "present": "1" if row["present"] else "0"})
    return "\ufeff" + buffer.getvalue()  # with a BOM: Excel opens UTF-8 CSV as such


# --- seats -------------------------------------------------------------------------------------------


@dataclass
class RoomLive:
    room: StudyRoom
    seats: int
    free: int


def rooms_live(institution_id: int) -> list[RoomLive]:
    """Free seats per open room now (SVC-1): seats minus those a booking holds at this moment."""
    now = clock.now()
    rooms = (StudyRoom.objects.filter(institution_id=institution_id, active=True)
             .annotate(total=Count("seats", filter=Q(seats__active=True), distinct=True)).order_by("code"))
    held = dict(SeatBooking.objects.filter(holding(now), seat__room__institution_id=institution_id, seat__active=True,
                                           starts_at__lte=now, ends_at__gt=now)
                .values_list("seat__room").annotate(n=Count("seat", distinct=True)).values_list("seat__room", "n"))
    return [RoomLive(room=r, seats=r.total, free=max(0, r.total - held.get(r.pk, 0))) for r in rooms]


def room_seats(room: StudyRoom) -> list[tuple[Seat, bool]]:
    """Each active seat and whether it is free now."""
    now = clock.now()
    taken = set(SeatBooking.objects.filter(holding(now), seat__room=room, starts_at__lte=now, ends_at__gt=now)
                .values_list("seat_id", flat=True))
    return [(seat, seat.pk not in taken) for seat in room.seats.filter(active=True).order_by("label")]


def seat_by_token(token: str, institution_id: int) -> Seat | None:
    return Seat.objects.select_related("room").filter(token=token, room__institution_id=institution_id).first()


def bookings_of(person: Person) -> list[SeatBooking]:
    """The holder's bookings that still matter: holding now or later, soonest first."""
    now = clock.now()
    return list(SeatBooking.objects.select_related("seat__room").filter(holding(now), person=person, ends_at__gt=now)
                .order_by("starts_at"))


def occupancy_by_hour(room: StudyRoom, day: dt.date, time_zone: str) -> dict[str, list[int]]:
    """Per hour of ``day``: seats in use (taken up, any part of the hour) and bookings released unused."""
    zone = clock.zone(time_zone)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = start + dt.timedelta(days=1)
    used = [0] * 24
    released = [0] * 24
    rows = SeatBooking.objects.filter(seat__room=room, starts_at__lt=end, ends_at__gt=start).values_list(
        "state", "starts_at", "ends_at", "checked_in_at", "closed_at")
    for state, starts, ends, taken, closed in rows:
        if state == SeatBooking.State.RELEASED:
            released[starts.astimezone(zone).hour if starts >= start else 0] += 1
            continue
        if taken is None:
            continue
        finish = min(ends, closed) if closed and state == SeatBooking.State.ENDED else ends
        for hour in range(24):
            h_start = start + dt.timedelta(hours=hour)
            if taken < h_start + dt.timedelta(hours=1) and finish > h_start:
                used[hour] += 1
    return {"used": used, "released": released}


def person_by_number(institution_id: int, number: str) -> Person | None:
    return Person.objects.filter(institution_id=institution_id, number=number).first()
