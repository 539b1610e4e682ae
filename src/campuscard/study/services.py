"""Study-service writes: exam rosters and check-in (SVC-2), seat bookings and their release (SVC-1).

Exam check-in reads the holder's card (NFC UID) or the portal's identify-only code (``study.codes``) —
never a payment code, which is refused without being used up. The roster row is marked by one
conditional UPDATE, so two scans of the same card record one check-in.

Seat conflicts are decided under row locks taken in one order (holder, then seat), so two people
booking the same seat at once cannot both win, on PostgreSQL as on SQLite. A booking that was not
taken up within the grace period no longer holds its seat at once (``_holding``); the periodic job
only writes that down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from campuscard.cards import codes as card_codes
from campuscard.cards.models import Card
from campuscard.cards.policy import kinds_that_can
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.identity.models import Person
from campuscard.identity.roster import read_rows
from campuscard.identity.selectors import acting_user
from campuscard.study import codes
from campuscard.study.models import ExamEntry, ExamRoom, ExamSession, Seat, SeatBooking, StudyRoom
from campuscard.study.rules import grace as _grace
from campuscard.study.rules import holding

# --- exam check-in (SVC-2) ---------------------------------------------------------------------------


def _local(moment: dt.datetime, institution: Institution) -> str:
    return moment.astimezone(clock.zone(institution.time_zone)).strftime("%H:%M")


def exam_room_authorize(*, user: Any, room: ExamRoom) -> None:
    """Invigilators check holders in at the rooms they are named for; the exam office (who may change
    sessions) at any room of its institution."""
    authorize(user, "study.change_examentry", room.session.institution_id)
    if user.is_superuser or user.has_perm("study.change_examsession"):
        return
    if not room.invigilators.filter(pk=user.pk).exists():
        raise DomainError("exam_not_invigilator")


@dataclass(frozen=True)
class CheckIn:
    entry: ExamEntry
    already: bool  # checked in before: nothing new recorded


def _presented_card(*, institution_id: int, presented: str) -> tuple[Card, str]:
    presented = (presented or "").strip()
    if not presented:
        raise DomainError("exam_credential_missing")
    if codes.is_identify_code(presented):
        number = codes.identify_code_verify(presented)
        card = Card.objects.select_related("person").filter(institution_id=institution_id, number=number).first()
        if card is None:
            raise DomainError("exam_code_invalid")
        card_codes.ensure_usable(card)
        return card, ExamEntry.Method.CODE
    if presented.upper().startswith(card_codes.PREFIX + ".") or card_codes.is_numeric(presented):
        raise DomainError("exam_pay_code_refused")  # never accepted, never used up
    return card_codes.nfc_accept(institution_id=institution_id, uid=presented).card, ExamEntry.Method.CARD


def exam_check_in(*, actor: Actor, room: ExamRoom, presented: str) -> CheckIn:
    """One holder at the door of ``room``: on its session's roster, in this room, within the check-in
    window (from ``EXAM_CHECKIN_OPENS_MINUTES`` before the start until the end)."""
    session = room.session
    institution = session.institution
    exam_room_authorize(user=actor.user, room=room)
    now = clock.now()
    opens = session.starts_at - dt.timedelta(minutes=settings.EXAM_CHECKIN_OPENS_MINUTES)
    if now < opens:
        raise DomainError("exam_checkin_not_open", opens=_local(opens, institution))
    if now >= session.ends_at:
        raise DomainError("exam_checkin_closed")
    card, method = _presented_card(institution_id=institution.pk, presented=presented)
    person = card.person
    entry = ExamEntry.objects.select_related("room", "person").filter(session=session, person=person).first()
    if entry is None:
        raise DomainError("exam_not_on_roster", name=person.name, details={"person": person.number})
    if entry.room_id != room.pk:
        # SVC-2: the holder is told which room is theirs
        raise DomainError("exam_wrong_room", name=person.name, room=entry.room.code,
                          details={"person": person.number, "room": entry.room.code, "seat": entry.seat})
    user = acting_user(actor)
    with transaction.atomic():
        marked = ExamEntry.objects.filter(pk=entry.pk, checked_in_at=None).update(
            checked_in_at=now, checked_in_by=user, method=method)
        if marked:
            audit_record(actor=actor, action="exam_checked_in", obj=entry, institution_id=institution.pk,
                         after={"room": room.code, "method": method})
    if marked:
        entry.checked_in_at, entry.checked_in_by, entry.method = now, user, method
    else:
        entry.refresh_from_db(fields=["checked_in_at", "checked_in_by", "method"])
    return CheckIn(entry=entry, already=not marked)


def exam_session_create(*, actor: Actor, institution: Institution, code: str, title: str,
                        starts_at: dt.datetime, ends_at: dt.datetime) -> ExamSession:
    authorize(actor.user, "study.add_examsession", institution.pk)
    if ends_at <= starts_at:
        raise DomainError("validation_error")
    session, created = ExamSession.objects.update_or_create(
        institution=institution, code=code, defaults={"title": title, "starts_at": starts_at, "ends_at": ends_at})
    audit_record(actor=actor, action="exam_session_saved", obj=session, institution_id=institution.pk,
                 after={"created": created})
    return session


@dataclass
class RosterReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    rooms_created: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated,
                "rooms_created": self.rooms_created, "errors": self.errors}


_ROSTER_ALIASES = {"考场": "room", "教室": "room", "座位": "seat", "座位号": "seat", "student_number": "number"}


def exam_roster_import_file(*, actor: Actor, session: ExamSession, name: str, stream: IO[bytes]) -> RosterReport:
    """A roster file from the academic system (CSV or XLSX; columns number/学号, room/考场, seat/座位)."""
    try:
        rows = list(read_rows(name=name, stream=stream))
    except DomainError as error:
        raise DomainError("exam_roster_unreadable", reason=error.params.get("reason", error.message))
    return exam_roster_import(actor=actor, session=session, rows=rows)


def exam_roster_import(*, actor: Actor, session: ExamSession, rows: Iterable[tuple[int, dict[str, str]]]
                       ) -> RosterReport:
    """All rows or none (like ID-1): each bad row is reported with its line; rooms are created as named.
    A holder already on the roster is moved to the new room/seat (their check-in, if any, stays)."""
    authorize(actor.user, "study.add_examentry", session.institution_id)
    report = RosterReport()
    wanted: dict[str, tuple[int, str, str]] = {}
    for line, raw in rows:
        row = {_ROSTER_ALIASES.get(k, k): (v or "").strip() for k, v in raw.items()}
        report.rows += 1
        number, room = row.get("number", ""), row.get("room", "")
        if not number:
            report.errors.append({"line": line, "column": "number", "message": _("missing")})
        elif not room:
            report.errors.append({"line": line, "column": "room", "message": _("missing")})
        elif len(room) > 40 or len(row.get("seat", "")) > 20:
            report.errors.append({"line": line, "column": "room", "message": _("too long")})
        elif number in wanted:
            report.errors.append({"line": line, "column": "number",
                                  "message": _("listed twice (line %(line)s)") % {"line": wanted[number][0]}})
        else:
            wanted[number] = (line, room, row.get("seat", ""))
    people = dict(Person.objects.filter(institution_id=session.institution_id, number__in=list(wanted))
                  .values_list("number", "pk"))
    for number, (line, _room, _seat) in wanted.items():
        if number not in people:
            report.errors.append({"line": line, "column": "number", "message": _("no such person")})
    if report.errors:
        report.errors.sort(key=lambda e: e["line"])
        raise DomainError("exam_roster_invalid", details=report.as_dict())
    with transaction.atomic():
        rooms = {r.code: r for r in ExamRoom.objects.filter(session=session)}
        for code in sorted({room for _line, room, _seat in wanted.values()} - set(rooms)):
            rooms[code] = ExamRoom.objects.create(session=session, code=code)
            report.rooms_created += 1
        existing = {e.person_id: e for e in ExamEntry.objects.filter(session=session)}
        new, changed = [], []
        for number, (_line, room, seat) in wanted.items():
            entry = existing.get(people[number])
            if entry is None:
                new.append(ExamEntry(session=session, room=rooms[room], person_id=people[number], seat=seat))
            elif entry.room_id != rooms[room].pk or entry.seat != seat:
                entry.room, entry.seat = rooms[room], seat
                changed.append(entry)
        ExamEntry.objects.bulk_create(new, batch_size=2000)
        ExamEntry.objects.bulk_update(changed, ["room", "seat"], batch_size=2000)
        report.created, report.updated = len(new), len(changed)
        audit_record(actor=actor, action="exam_roster_imported", obj=session, institution_id=session.institution_id,
                     after={"rows": report.rows, "created": report.created, "updated": report.updated})
    return report


# --- seats (SVC-1) -----------------------------------------------------------------------------------


def _require_card(person: Person) -> None:
    if not Card.objects.filter(person=person, state=Card.State.ACTIVE,
                               kind__in=kinds_that_can("services")).exists():
        raise DomainError("seat_no_card")


def _lock(person: Person, seat: Seat) -> Seat:
    """Row locks in one order — the holder, then the seat — so concurrent bookings queue, never deadlock."""
    Person.objects.select_for_update().filter(pk=person.pk).first()
    return Seat.objects.select_for_update().select_related("room").get(pk=seat.pk)


def _conflicts(*, seat: Seat, person: Person, starts: dt.datetime, ends: dt.datetime, now: dt.datetime) -> None:
    overlapping = SeatBooking.objects.filter(holding(now), starts_at__lt=ends, ends_at__gt=starts)
    if overlapping.filter(seat=seat).exists():
        raise DomainError("seat_taken")
    if overlapping.filter(person=person).exists():
        raise DomainError("seat_holder_busy")


def seat_book(*, actor: Actor, person: Person, seat: Seat, starts_at: dt.datetime, ends_at: dt.datetime
              ) -> SeatBooking:
    """Book ``seat`` ahead for [starts_at, ends_at); it must be scanned within the grace period."""
    now = clock.now()
    if ends_at <= starts_at or ends_at - starts_at > dt.timedelta(hours=settings.SEAT_MAX_HOURS):
        raise DomainError("seat_slot_invalid", hours=settings.SEAT_MAX_HOURS)
    if ends_at <= now or starts_at <= now - _grace():
        raise DomainError("seat_slot_past")  # a slot already released the moment it is booked
    if starts_at - now > dt.timedelta(days=settings.SEAT_BOOK_AHEAD_DAYS):
        raise DomainError("seat_slot_too_far", days=settings.SEAT_BOOK_AHEAD_DAYS)
    if seat.room.institution_id != person.institution_id:
        raise DomainError("seat_not_found")
    _require_card(person)
    with transaction.atomic():
        seat = _lock(person, seat)
        if not (seat.active and seat.room.active):
            raise DomainError("study_room_inactive")
        _conflicts(seat=seat, person=person, starts=starts_at, ends=ends_at, now=now)
        booking = SeatBooking.objects.create(seat=seat, person=person, starts_at=starts_at, ends_at=ends_at,
                                             created_at=now)
        audit_record(actor=actor, action="seat_booked", obj=booking, institution_id=person.institution_id,
                     after={"seat": seat.label, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})
    return booking


def seat_scan(*, actor: Actor, person: Person, token: str) -> SeatBooking:
    """The holder scanned a desk's QR: take up their booking of it, or use it now if it is free."""
    seat = Seat.objects.select_related("room").filter(token=token, room__institution_id=person.institution_id).first()
    if seat is None:
        raise DomainError("seat_not_found")
    _require_card(person)
    now = clock.now()
    with transaction.atomic():
        seat = _lock(person, seat)
        if not (seat.active and seat.room.active):
            raise DomainError("study_room_inactive")
        # their own booking of this seat, within its take-up window [start − grace, start + grace)
        mine = SeatBooking.objects.filter(seat=seat, person=person, state=SeatBooking.State.BOOKED,
                                          starts_at__gt=now - _grace(), starts_at__lte=now + _grace()).first()
        if mine is not None:
            mine.state, mine.checked_in_at = SeatBooking.State.IN_USE, now
            mine.save(update_fields=["state", "checked_in_at"])
            audit_record(actor=actor, action="seat_taken_up", obj=mine, institution_id=person.institution_id)
            return mine
        in_use = SeatBooking.objects.filter(seat=seat, person=person, state=SeatBooking.State.IN_USE,
                                            ends_at__gt=now).first()
        if in_use is not None:
            return in_use  # scanned twice: already theirs
        ends = now + dt.timedelta(minutes=settings.SEAT_WALK_IN_MINUTES)
        following = (SeatBooking.objects.filter(holding(now), seat=seat, starts_at__gt=now, starts_at__lt=ends)
                     .order_by("starts_at").values_list("starts_at", flat=True).first())
        if following is not None:
            ends = following  # free until the next booking starts
            if ends - now < _grace():
                raise DomainError("seat_taken")
        _conflicts(seat=seat, person=person, starts=now, ends=ends, now=now)
        booking = SeatBooking.objects.create(seat=seat, person=person, starts_at=now, ends_at=ends, created_at=now,
                                             state=SeatBooking.State.IN_USE, checked_in_at=now)
        audit_record(actor=actor, action="seat_walked_in", obj=booking, institution_id=person.institution_id)
    return booking


def seat_booking_close(*, actor: Actor, person: Person, booking_id: int) -> SeatBooking:
    """The holder cancels a booking not yet taken up, or leaves a seat in use (it is free at once)."""
    now = clock.now()
    with transaction.atomic():
        booking = SeatBooking.objects.select_for_update().filter(pk=booking_id, person=person).first()
        if booking is None:
            raise DomainError("seat_booking_not_found")
        if booking.state == SeatBooking.State.BOOKED and booking.starts_at + _grace() > now:
            booking.state = SeatBooking.State.CANCELLED
        elif booking.state == SeatBooking.State.IN_USE and booking.ends_at > now:
            booking.state, booking.ends_at = SeatBooking.State.ENDED, max(now, booking.starts_at + dt.timedelta(seconds=1))
        else:
            raise DomainError("seat_booking_not_open")
        booking.closed_at = now
        booking.save(update_fields=["state", "ends_at", "closed_at"])
        audit_record(actor=actor, action=f"seat_{booking.state}", obj=booking, institution_id=person.institution_id)
    return booking


def seat_bookings_release(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic job (SVC-1): bookings not taken up by start + grace are released; seats in use past
    their end are ended. Two set-based UPDATEs; running it twice changes nothing more."""
    now = now or clock.now()
    released = (SeatBooking.objects.filter(state=SeatBooking.State.BOOKED, starts_at__lte=now - _grace())
                .update(state=SeatBooking.State.RELEASED, closed_at=now))
    ended = (SeatBooking.objects.filter(state=SeatBooking.State.IN_USE, ends_at__lte=now)
             .update(state=SeatBooking.State.ENDED, closed_at=now))
    return {"released": released, "ended": ended}


def study_room_seats_add(*, actor: Actor, room: StudyRoom, labels: list[str]) -> int:
    """Add seats by label (existing labels are kept with their printed QR)."""
    authorize(actor.user, "study.add_seat", room.institution_id)
    have = set(room.seats.values_list("label", flat=True))
    new = [Seat(room=room, label=label) for label in dict.fromkeys(labels) if label and label not in have]
    Seat.objects.bulk_create(new)
    audit_record(actor=actor, action="seats_added", obj=room, institution_id=room.institution_id,
                 after={"count": len(new)})
    return len(new)
