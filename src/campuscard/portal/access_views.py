"""My access (ACC-1 … ACC-3, ACC-5; issue 6 items 2–4, 7): campus entry, lab permits, visitor passes and
my own entries. Presentation only: every rule is in ``access.services``; lists come from ``access.pages``."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campuscard.access import invites, pages, services
from campuscard.cards.selectors import qr_svg
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.portal.card_views import _person

SLOT_ROWS = 4  # rows of the permit form (a permit with more slots: apply again or use the API)
WEEKDAYS = [(0, gettext_lazy("Monday")), (1, gettext_lazy("Tuesday")), (2, gettext_lazy("Wednesday")),
            (3, gettext_lazy("Thursday")), (4, gettext_lazy("Friday")), (5, gettext_lazy("Saturday")),
            (6, gettext_lazy("Sunday"))]


@login_required
def access(request):
    person = _person(request)
    return render(request, "portal/access.html", {
        "person": person, "entry": pages.campus_entry_of(person), "permits": pages.permits_of(person)[:5],
        "passes": pages.passes_of(person)[:5], "events": pages.events_of(person, 10),
        "lab_addon": pages.has_lab_addon(person)})


@login_required
@require_POST
def campus_entry(request):
    person = _person(request)
    try:
        services.campus_entry_apply(actor=Actor.by_user(request.user), person=person, reason=request.POST.get("reason", ""))
        messages.success(request, _("Applied for campus entry. You will be notified when it is decided."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("portal:access")


@login_required
@require_POST
def lab_addon(request):
    """The holder adds the optional lab add-on to their card package, or drops it (APP-4)."""
    person = _person(request)
    if request.POST.get("on") == "1":
        services.access_addon_grant(actor=Actor.by_user(request.user), person=person)
        messages.success(request, _("The lab add-on is now part of your card package. You can apply for lab permits."))
    else:
        services.access_addon_revoke(actor=Actor.by_user(request.user), person=person)
        messages.success(request, _("The lab add-on was removed. Laboratories refuse your card until you add it again."))
    return redirect("portal:access_permits" if request.POST.get("next") == "permits" else "portal:access")


@login_required
def log(request):
    person = _person(request)
    return render(request, "portal/access_log.html", {"person": person, "events": pages.events_of(person, 100)})


def _rows(post) -> list[dict]:
    """The form's slot rows as typed (kept for a re-shown form)."""
    return [{key: post.get(f"{key}_{i}", "").strip() for key in ("weekday", "date", "start", "end")}
            for i in range(SLOT_ROWS)]


def _slots(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The filled rows as weekly and dated slots (the service checks the times and dates)."""
    weekly, dated = [], []
    for i, row in enumerate(rows):
        if not any(row.values()):
            continue
        if not row["start"] or not row["end"] or not (row["weekday"] or row["date"]):
            raise DomainError("lab_slots_invalid", reason=_("row %(row)d needs a weekday or a date, a start and an end")
                              % {"row": i + 1})
        if row["date"]:
            dated.append({"date": row["date"], "start": row["start"], "end": row["end"]})
        else:
            weekly.append({"weekday": int(row["weekday"]) if row["weekday"].isdigit() else -1, "start": row["start"],
                           "end": row["end"]})
    return weekly, dated


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError("lab_slots_invalid", reason=_("choose the first and last day of the permit"))


@login_required
def permits(request):
    person = _person(request)
    zones = pages.lab_zones(person)
    today = clock.local_date(person.institution)
    values = {"valid_from": today.isoformat(), "valid_to": (today + dt.timedelta(days=90)).isoformat(),
              "zone": "", "purpose": ""}
    rows = [{"weekday": "", "date": "", "start": "", "end": ""} for _i in range(SLOT_ROWS)]
    error = None
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in ("valid_from", "valid_to", "zone", "purpose")}
        rows = _rows(request.POST)
        try:
            weekly, dated = _slots(rows)
            zone = zones.filter(pk=values["zone"] or 0).first() if values["zone"].isdigit() else None
            if zone is None:
                raise DomainError("lab_zone_required")
            services.lab_permit_apply(actor=Actor.by_user(request.user), person=person, zone=zone,
                                      valid_from=_date(values["valid_from"]), valid_to=_date(values["valid_to"]),
                                      weekly_slots=weekly, dated_slots=dated, purpose=values["purpose"])
        except DomainError as refused:
            error = refused
        else:
            messages.success(request, _("Permit requested. The lab's manager will approve or reject it."))
            return redirect("portal:access_permits")
    return render(request, "portal/access_permits.html", {
        "person": person, "permits": pages.permits_of(person), "zones": zones, "values": values, "rows": rows,
        "weekdays": WEEKDAYS, "error": error, "lab_addon": pages.has_lab_addon(person)},
        status=error.status if error else 200)


def _local_datetime(text: str, time_zone: str) -> dt.datetime:
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DomainError("visitor_window_invalid", hours=pages.max_duration_hours())
    return naive.replace(tzinfo=clock.zone(time_zone)) if naive.tzinfo is None else naive


@login_required
def visitors(request):
    person = _person(request)
    time_zone = person.institution.time_zone
    zones = pages.visitor_zones(person)
    now = clock.now().astimezone(clock.zone(time_zone)).replace(second=0, microsecond=0)
    values = {"visitor_name": "", "visitor_phone": "", "valid_from": (now + dt.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M"), "valid_to": (now + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")}
    chosen: list[str] = []
    error = None
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        chosen = request.POST.getlist("zones")
        try:
            if not values["visitor_name"] or len(values["visitor_phone"]) < 5:
                raise DomainError("validation_error")
            picked = list(zones.filter(pk__in=[z for z in chosen if z.isdigit()]))
            visitor_pass, _code = services.visitor_pass_create(
                actor=Actor.by_user(request.user), host=person, visitor_name=values["visitor_name"],
                visitor_phone=values["visitor_phone"], zones=picked,
                valid_from=_local_datetime(values["valid_from"], time_zone),
                valid_to=_local_datetime(values["valid_to"], time_zone))
        except DomainError as refused:
            error = refused
        else:
            messages.success(request, _("Visitor pass created. Send the code to your visitor."))
            return redirect("portal:access_visitor", pk=visitor_pass.pk)
    return render(request, "portal/access_visitors.html", {
        "person": person, "passes": pages.passes_of(person), "zones": zones, "values": values, "chosen": chosen,
        "invites": pages.invites_of(person), "link_hours": invites.LINK_HOURS,
        "error": error, "ahead": pages.max_ahead_hours(), "longest": pages.max_duration_hours(),
        "min_from": now.strftime("%Y-%m-%dT%H:%M"),
        "max_from": (now + dt.timedelta(hours=pages.max_ahead_hours())).strftime("%Y-%m-%dT%H:%M"),
        "tz": time_zone}, status=error.status if error else 200)


@login_required
def visitor(request, pk: int):
    person = _person(request)
    visitor_pass = pages.pass_of(person, pk)
    if visitor_pass is None:
        raise Http404
    status = pages.pass_status(visitor_pass)
    context = {"person": person, "pass": visitor_pass, "status": status, "tz": person.institution.time_zone,
               "zones": [z.name for z in visitor_pass.zones.all()]}
    if status in ("valid", "upcoming"):
        context["code"] = services.visitor_code(visitor_pass=visitor_pass)
        context["svg"] = qr_svg(context["code"], scale=4)
    return render(request, "portal/access_visitor.html", context)


@login_required
@require_POST
def visitor_revoke(request, pk: int):
    person = _person(request)
    visitor_pass = pages.pass_of(person, pk)
    if visitor_pass is None:
        raise Http404
    try:
        services.visitor_pass_revoke(actor=Actor.by_user(request.user), visitor_pass=visitor_pass)
        messages.success(request, _("Visitor pass revoked. Gates refuse it from now on."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("portal:access_visitors")


# --- invitation links: the host's side ---------------------------------------------------------------

@login_required
@require_POST
def invite_create(request):
    person = _person(request)
    try:
        hours, most = int(request.POST.get("hours", "")), int(request.POST.get("max_visitors", "1") or 1)
        picked = list(pages.visitor_zones(person).filter(pk__in=[z for z in request.POST.getlist("zones")
                                                                 if z.isdigit()]))
        invites.invite_create(actor=Actor.by_user(request.user), host=person, purpose=request.POST.get("purpose", ""), zones=picked,
                              hours=hours, max_visitors=most, needs_approval=bool(request.POST.get("needs_approval")))
        messages.success(request, _("Invitation link created. Send it to your visitors."))
    except ValueError:
        messages.error(request, DomainError("validation_error").message)
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(reverse("portal:access_visitors") + "#invites")


@login_required
@require_POST
def invite_revoke(request, pk: int):
    person = _person(request)
    invite = person.visitor_invites.filter(pk=pk).first()
    if invite is None:
        raise Http404
    try:
        invites.invite_revoke(actor=Actor.by_user(request.user), invite=invite)
        messages.success(request, _("The link no longer works. Passes already granted through it stay valid."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(reverse("portal:access_visitors") + "#invites")


@login_required
@require_POST
def visitor_request_decide(request, pk: int):
    person = _person(request)
    visitor_request = pages.request_of(person, pk)
    if visitor_request is None:
        raise Http404
    approve = request.POST.get("decision") == "approve"
    try:
        invites.request_decide(actor=Actor.by_user(request.user), host=person, request=visitor_request, approve=approve,
                               note=request.POST.get("note", "").strip())
        messages.success(request, _("Approved: your visitor sees the code on their page.") if approve
                         else _("Declined: your visitor sees your answer on their page."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(reverse("portal:access_visitors") + "#invites")


# --- invitation links: the visitor's side (no account) -----------------------------------------------

def visit(request, token: str):
    """The page a host's link opens: the visitor asks for a pass."""
    try:
        invite = invites.invite_open(token=token)
    except DomainError as error:
        return render(request, "portal/visit_closed.html", {"error": error}, status=error.status)
    time_zone = invite.institution.time_zone
    now = clock.now().astimezone(clock.zone(time_zone)).replace(second=0, microsecond=0)
    values = {"visitor_name": "", "visitor_phone": "", "valid_from": (now + dt.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M"), "valid_to": (now + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")}
    error = None
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        try:
            visitor_request = invites.request_submit(
                token=token, visitor_name=values["visitor_name"], visitor_phone=values["visitor_phone"],
                valid_from=_local_datetime(values["valid_from"], time_zone),
                valid_to=_local_datetime(values["valid_to"], time_zone))
        except DomainError as refused:
            error = refused
        else:
            return redirect("portal:visit_status", token=visitor_request.token)
    host = invite.host.name
    return render(request, "portal/visit.html", {
        "invite": invite, "host": host[:1] + "*" * (len(host) - 1), "zones": [z.name for z in invite.zones.all()],
        "values": values, "error": error, "ahead": pages.max_ahead_hours(), "longest": pages.max_duration_hours(),
        "min_from": now.strftime("%Y-%m-%dT%H:%M"), "tz": time_zone,
        "max_from": (now + dt.timedelta(hours=pages.max_ahead_hours())).strftime("%Y-%m-%dT%H:%M")})


def visit_status(request, token: str):
    """The visitor's own page: waiting, the code once approved, or the host's answer."""
    try:
        visitor_request = invites.request_view(token=token)
    except DomainError as error:
        return render(request, "portal/visit_closed.html", {"error": error}, status=error.status)
    context = {"req": visitor_request, "tz": visitor_request.invite.institution.time_zone}
    visitor_pass = visitor_request.visitor_pass
    if visitor_pass is not None:
        context["status"] = pages.pass_status(visitor_pass)
        context["zones"] = [z.name for z in visitor_pass.zones.all()]
        if context["status"] in ("valid", "upcoming"):
            context["code"] = services.visitor_code(visitor_pass=visitor_pass)
            context["svg"] = qr_svg(context["code"], scale=4)
    return render(request, "portal/visit_status.html", context)
