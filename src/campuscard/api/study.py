"""Study services (SVC-1, SVC-2): exam sessions, rosters and check-in for the academic system and
invigilators; free seats, scans and bookings for holders."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from campuscard.api.auth import holder_of
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize, restrict
from campuscard.study import selectors, services
from campuscard.study.models import ExamRoom, ExamSession, Seat

router = Router(tags=["study"])


class ErrorOut(Schema):
    code: str
    message: str


class SessionIn(Schema):
    code: str = Field(pattern=r"^[-a-zA-Z0-9_]{1,60}$")
    title: str = Field(min_length=1, max_length=150)
    starts_at: dt.datetime
    ends_at: dt.datetime


class SessionOut(Schema):
    id: int
    code: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class RosterRowIn(Schema):
    number: str = Field(max_length=32)
    room: str = Field(max_length=40)
    seat: str = Field("", max_length=20)


class RosterIn(Schema):
    rows: list[RosterRowIn] = Field(min_length=1, max_length=20000)


class RosterOut(Schema):
    rows: int
    created: int
    updated: int
    rooms_created: int


class RoomOut(Schema):
    id: int
    code: str
    roster: int
    present: int


class CheckInIn(Schema):
    credential: str = Field(description="the card's NFC UID or the holder's identify-only code (CI1.…); "
                                        "payment codes are refused", max_length=200)


class CheckInOut(Schema):
    already: bool
    number: str
    name: str
    room: str
    seat: str
    checked_in_at: dt.datetime


class AttendanceOut(Schema):
    number: str
    name: str
    room: str
    seat: str
    present: bool
    checked_in_at: str
    method: str
    checked_in_by: str


class MyExamOut(Schema):
    session: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    room: str
    seat: str
    checked_in_at: dt.datetime | None


class MyExamsOut(Schema):
    exams: list[MyExamOut]
    check_in_code: str | None = Field(description="identify-only code to show at the exam room door (not a pay code)")


def _institution_id(request) -> int:
    institution_id = getattr(request.auth, "institution_id", None)
    if institution_id is None:
        raise DomainError("forbidden")
    return institution_id


def _session(request, code: str) -> ExamSession:
    session = (restrict(ExamSession.objects.select_related("institution"), request.auth, "view")
               .filter(code=code, institution_id=_institution_id(request)).first())
    if session is None:
        raise DomainError("exam_not_found")
    return session


@router.post("/study/exams", response={201: SessionOut, 403: ErrorOut}, summary="Create or update an exam session")
def session_save(request, payload: SessionIn):
    from campuscard.core.models import Institution

    institution = Institution.objects.get(pk=_institution_id(request))
    session = services.exam_session_create(actor=Actor.by_user(request.auth), institution=institution,
                                           code=payload.code, title=payload.title, starts_at=payload.starts_at,
                                           ends_at=payload.ends_at)
    return Status(201, session)


@router.post("/study/exams/{code}/roster", response={200: RosterOut, 422: ErrorOut},
             summary="Import an exam roster (JSON rows; all or none)")
def roster_rows(request, code: str, payload: RosterIn):
    session = _session(request, code)
    rows = [(n, row.dict()) for n, row in enumerate(payload.rows, start=1)]
    return services.exam_roster_import(actor=Actor.by_user(request.auth), session=session, rows=rows).as_dict()


@router.post("/study/exams/{code}/roster/file", response={200: RosterOut, 422: ErrorOut},
             summary="Import an exam roster file (CSV or XLSX: number, room, seat; all or none)")
def roster_file(request, code: str, file: File[UploadedFile]):
    session = _session(request, code)
    return services.exam_roster_import_file(actor=Actor.by_user(request.auth), session=session,
                                            name=file.name or "roster.csv", stream=file).as_dict()


@router.get("/study/exams/{code}/rooms", response=list[RoomOut], summary="An exam's rooms you invigilate")
def exam_rooms(request, code: str):
    session = _session(request, code)
    return list(selectors.invigilated_rooms(request.auth).filter(session=session))


def _room(request, room_id: int) -> ExamRoom:
    room = (restrict(ExamRoom.objects.select_related("session__institution"), request.auth, "view")
            .filter(pk=room_id).first())
    if room is None:
        raise DomainError("exam_room_not_found")
    return room


@router.post("/study/exam-rooms/{room_id}/checkins", response={200: CheckInOut, 403: ErrorOut, 404: ErrorOut,
                                                                 409: ErrorOut, 422: ErrorOut},
             summary="Check a holder in at the room door (SVC-2)")
def check_in(request, room_id: int, payload: CheckInIn):
    """A holder at the wrong room is refused with ``exam_wrong_room`` whose message (and ``details.room``)
    names their room."""
    result = services.exam_check_in(actor=Actor.by_user(request.auth), room=_room(request, room_id),
                                    presented=payload.credential)
    entry = result.entry
    return {"already": result.already, "number": entry.person.number, "name": entry.person.name,
            "room": entry.room.code, "seat": entry.seat, "checked_in_at": entry.checked_in_at}


@router.get("/study/exam-rooms/{room_id}/missing", response=list[AttendanceOut], summary="Who has not checked in")
def missing(request, room_id: int):
    room = _room(request, room_id)
    services.exam_room_authorize(user=request.auth, room=room)
    return [row for row in selectors.attendance_rows(room.session, room) if not row["present"]]


@router.get("/study/exams/{code}/attendance", response=list[AttendanceOut], summary="Attendance of a session",
            description="Add `?format=csv` for the CSV export.")
def attendance(request, code: str, format: str = "json"):  # noqa: A002 (the query parameter's name)
    session = _session(request, code)
    authorize(request.auth, "study.view_examentry", session.institution_id)
    if not request.auth.has_perm("study.change_examsession"):
        raise DomainError("forbidden")  # invigilators: their rooms' lists (missing)
    if format == "csv":
        response = HttpResponse(selectors.attendance_csv(session), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="attendance-{session.code}.csv"'
        return response
    return selectors.attendance_rows(session)


@router.get("/me/exams", response=MyExamsOut, summary="My exams and my check-in code")
def my_exams(request):
    person = holder_of(request)
    return {"exams": [{"session": e.session.code, "title": e.session.title, "starts_at": e.session.starts_at,
                       "ends_at": e.session.ends_at, "room": e.room.code, "seat": e.seat,
                       "checked_in_at": e.checked_in_at} for e in selectors.exams_of(person)],
            "check_in_code": selectors.identify_code_of(person)}


# --- seats (SVC-1) ---


class StudyRoomOut(Schema):
    id: int
    code: str
    name: str
    location: str
    seats: int
    free: int


class ScanIn(Schema):
    token: str = Field(max_length=64, description="the token printed in the seat's QR (its link's last part)")


class BookIn(Schema):
    seat_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


class BookingOut(Schema):
    id: int
    room: str
    seat: str
    state: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    checked_in_at: dt.datetime | None


def _booking(booking) -> dict:
    return {"id": booking.pk, "room": booking.seat.room.code, "seat": booking.seat.label, "state": booking.state,
            "starts_at": booking.starts_at, "ends_at": booking.ends_at, "checked_in_at": booking.checked_in_at}


@router.get("/study/rooms", response=list[StudyRoomOut], summary="Study rooms and their free seats now")
def study_rooms(request):
    person = holder_of(request)
    return [{"id": live.room.pk, "code": live.room.code, "name": live.room.name, "location": live.room.location,
             "seats": live.seats, "free": live.free} for live in selectors.rooms_live(person.institution_id)]


@router.post("/study/seats/scan", response={200: BookingOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
             summary="I scanned a desk's QR: take up my booking or use the free seat")
def seat_scan(request, payload: ScanIn):
    person = holder_of(request)
    return _booking(services.seat_scan(actor=Actor.by_user(request.auth), person=person, token=payload.token))


@router.post("/study/bookings", response={201: BookingOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                                          422: ErrorOut}, summary="Book a seat ahead for a time slot")
def seat_book(request, payload: BookIn):
    person = holder_of(request)
    seat = Seat.objects.select_related("room").filter(pk=payload.seat_id, room__institution_id=person.institution_id
                                                      ).first()
    if seat is None:
        raise DomainError("seat_not_found")
    booking = services.seat_book(actor=Actor.by_user(request.auth), person=person, seat=seat,
                                 starts_at=payload.starts_at, ends_at=payload.ends_at)
    return Status(201, _booking(booking))


@router.get("/me/seat-bookings", response=list[BookingOut], summary="My seat bookings now and ahead")
def my_bookings(request):
    return [_booking(b) for b in selectors.bookings_of(holder_of(request))]


@router.post("/study/bookings/{booking_id}/close", response={200: BookingOut, 404: ErrorOut, 409: ErrorOut},
             summary="Cancel a booking not taken up, or leave a seat in use")
def seat_close(request, booking_id: int):
    person = holder_of(request)
    return _booking(services.seat_booking_close(actor=Actor.by_user(request.auth), person=person,
                                                booking_id=booking_id))
