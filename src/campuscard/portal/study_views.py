"""Study rooms and exams for the holder (SVC-1, SVC-2) — presentation only (``study.services``/``selectors``).

A desk's printed QR opens ``/s/<token>/`` on the phone: the holder confirms and the seat is theirs (or
their booking of it is taken up). Rooms list their free seats live; a seat can be booked ahead for a slot.
My exams show the room and seat, and an identify-only code for the door (never the pay code).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards.selectors import qr_svg
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.portal.card_views import _person
from campuscard.study import selectors, services
from campuscard.study.models import Seat, StudyRoom


@login_required
def study(request):
    person = _person(request)
    context = {"person": person, "rooms": selectors.rooms_live(person.institution_id),
               "bookings": selectors.bookings_of(person), "grace": settings.SEAT_GRACE_MINUTES,
               "now": clock.institution_now(person.institution).replace(tzinfo=None)}
    if request.htmx and request.GET.get("part") == "rooms":
        return render(request, "portal/_study_rooms.html", context)
    return render(request, "portal/study.html", context)


def _room(person, pk: int) -> StudyRoom:
    room = StudyRoom.objects.filter(pk=pk, institution_id=person.institution_id, active=True).first()
    if room is None:
        raise Http404
    return room


def _slot(person, post) -> tuple[dt.datetime, dt.datetime] | None:
    zone = clock.zone(person.institution.time_zone)
    try:
        day = dt.date.fromisoformat(post.get("day", ""))
        start = dt.time.fromisoformat(post.get("start", ""))
        end = dt.time.fromisoformat(post.get("end", ""))
    except ValueError:
        return None
    return dt.datetime.combine(day, start, tzinfo=zone), dt.datetime.combine(day, end, tzinfo=zone)


@login_required
def room(request, pk: int):
    person = _person(request)
    study_room = _room(person, pk)
    now = clock.institution_now(person.institution)
    form = {"seat": request.POST.get("seat", ""), "day": request.POST.get("day", now.date().isoformat()),
            "start": request.POST.get("start", f"{(now.hour + 1) % 24:02d}:00"),
            "end": request.POST.get("end", f"{(now.hour + 3) % 24:02d}:00")}
    if request.method == "POST":
        slot = _slot(person, request.POST)
        seat = Seat.objects.filter(room=study_room, pk=request.POST.get("seat") or 0, active=True).first()
        try:
            if slot is None or seat is None:
                raise DomainError("seat_slot_invalid" if seat else "seat_not_found",
                                  hours=settings.SEAT_MAX_HOURS)
            services.seat_book(actor=Actor.by_user(request.user), person=person, seat=seat, starts_at=slot[0],
                               ends_at=slot[1])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Booked. Scan the seat's QR within %(minutes)s minutes of the start, or the "
                                        "booking is released.") % {"minutes": settings.SEAT_GRACE_MINUTES})
            return redirect("portal:study")
    return render(request, "portal/study_room.html", {"person": person, "room": study_room,
                                                      "seats": selectors.room_seats(study_room), "form": form})


@login_required
def seat(request, token: str):
    """What a desk's printed QR opens: confirm, and the seat is yours."""
    person = _person(request)
    found = selectors.seat_by_token(token, person.institution_id)
    if found is None:
        raise Http404
    if request.method == "POST":
        try:
            booking = services.seat_scan(actor=Actor.by_user(request.user), person=person, token=token)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            zone = clock.zone(person.institution.time_zone)
            messages.success(request, _("Seat %(seat)s is yours until %(end)s.") % {
                "seat": booking.seat.label, "end": booking.ends_at.astimezone(zone).strftime("%H:%M")})
            return redirect("portal:study")
    free = dict((s.pk, f) for s, f in selectors.room_seats(found.room)).get(found.pk, False)
    return render(request, "portal/study_seat.html", {"person": person, "seat": found, "free": free})


@login_required
@require_POST
def booking_close(request, pk: int):
    person = _person(request)
    try:
        booking = services.seat_booking_close(actor=Actor.by_user(request.user), person=person, booking_id=pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Booking cancelled.") if booking.state == "cancelled" else _("Seat released."))
    return redirect("portal:study")


@login_required
def exams(request):
    person = _person(request)
    code = selectors.identify_code_of(person)
    context = {"person": person, "exams": selectors.exams_of(person), "code": code,
               "qr": qr_svg(code, scale=5) if code else None}
    if request.htmx and request.GET.get("part") == "code":
        return render(request, "portal/_exam_code.html", context)
    return render(request, "portal/exams.html", context)
