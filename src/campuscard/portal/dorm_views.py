"""Dorm electricity and laundry for the holder (SVC-5) — presentation only (``dorm.services``/``selectors``).

The top-up and the booking forms carry an idempotency key made when the page is drawn: a double tap or
a resent form tops up or books once.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, parse_yuan
from campuscard.dorm import selectors, services
from campuscard.payments.rules import needs_password
from campuscard.portal.card_views import _person

PRESETS = [10, 20, 50, 100]


@login_required
def electricity(request):
    person = _person(request)
    error = None
    if request.method == "POST":
        try:
            amount = parse_yuan(request.POST.get("amount", ""))
        except (ValueError, TypeError):
            amount = 0
        try:
            top_up = services.topup_buy(actor=Actor.by_user(request.user), person=person, amount=amount,
                                        key=request.POST.get("key") or uuid.uuid4().hex[:32],
                                        password=request.POST.get("password") or None)
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, _("Paid %(amount)s for %(kwh)s kWh; it reaches the meter within minutes.")
                             % {"amount": format_fen(top_up.amount), "kwh": f"{top_up.energy_wh / 1000:.3f}"})
            return redirect("portal:dorm")
    view = selectors.electricity_of(person)
    return render(request, "portal/dorm.html", {
        "person": person, "view": view, "error": error, "key": uuid.uuid4().hex[:32], "presets": PRESETS,
        "limits": (format_fen(settings.DORM_TOPUP_MIN_FEN), format_fen(settings.DORM_TOPUP_MAX_FEN)),
        "password_free": format_fen(settings.PASSWORD_FREE_LIMIT_FEN)})


@login_required
def laundry(request):
    person = _person(request)
    days = selectors.booking_days(person.institution)
    try:
        day = dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = days[0]
    if day not in days:
        day = days[0]
    machines = [(m, selectors.slots(m, day, person)) for m in selectors.machines_of(person)]
    return render(request, "portal/laundry.html", {
        "person": person, "days": days, "day": day, "machines": machines, "key": uuid.uuid4().hex[:24],
        "bookings": selectors.bookings_of(person), "cancel_minutes": settings.LAUNDRY_CANCEL_MINUTES,
        "grace": settings.LAUNDRY_GRACE_MINUTES, "now": clock.now(),
        "needs_password": any(needs_password(m.price) for m, _slots in machines)})


@login_required
@require_POST
def laundry_book(request):
    person = _person(request)
    machine = selectors.machine_for(person, int(request.POST.get("machine") or 0))
    try:
        starts_at = dt.datetime.fromisoformat(request.POST.get("slot", ""))
    except ValueError:
        starts_at = None
    try:
        if machine is None:
            raise DomainError("laundry_machine_not_found")
        if starts_at is None:
            raise DomainError("laundry_slot_invalid")
        booking = services.laundry_book(actor=Actor.by_user(request.user), person=person, machine=machine,
                                        starts_at=starts_at, key=request.POST.get("key") or uuid.uuid4().hex[:32],
                                        password=request.POST.get("password") or None)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        zone = clock.zone(person.institution.time_zone)
        messages.success(request, _("Booked %(machine)s at %(time)s for %(amount)s. Tap your card on the machine "
                                    "within %(minutes)s minutes of the start.")
                         % {"machine": machine.name, "time": booking.starts_at.astimezone(zone).strftime("%m-%d %H:%M"),
                            "amount": format_fen(booking.amount), "minutes": settings.LAUNDRY_GRACE_MINUTES})
    if starts_at is None:
        return redirect("portal:laundry")
    day = starts_at.astimezone(clock.zone(person.institution.time_zone)).date().isoformat()
    return redirect(f"{reverse('portal:laundry')}?day={day}")


@login_required
@require_POST
def laundry_cancel(request, pk: int):
    person = _person(request)
    try:
        booking = services.laundry_cancel(actor=Actor.by_user(request.user), person=person, booking_id=pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Cancelled; %(amount)s is back in your wallet.")
                         % {"amount": format_fen(booking.amount)})
    return redirect("portal:laundry")
