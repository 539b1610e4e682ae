"""The notification centre and the alert settings (SUP-4): presentation only; the rules are in support."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, parse_yuan
from campuscard.identity import selectors as identity_selectors
from campuscard.support import alerts, selectors
from campuscard.support.models import Notification
from campuscard.support.services import SWITCHABLE, notifications_mark_read


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


@login_required
def notifications(request):
    """Newest first, the unread ones marked (and counted per kind); seeing them reads them."""
    person = _person(request)
    kind = request.GET.get("kind", "")
    kind = kind if kind in Notification.Kind.values else ""
    unread = selectors.unread_by_kind(person=person)
    items = selectors.notifications_of(person=person, kind=kind)
    notifications_mark_read(person=person, kind=kind)
    kinds = [(value, label, unread.get(value, 0)) for value, label in Notification.Kind.choices]
    return render(request, "portal/notifications.html", {
        "person": person, "items": items, "kind": kind, "kinds": kinds, "unread_total": sum(unread.values())})


@login_required
def alert_settings(request):
    person = _person(request)
    if request.method == "POST":
        raw = request.POST.get("low_balance_threshold", "").strip()
        try:
            threshold = parse_yuan(raw) if raw else -1
        except (DomainError, ValueError):
            threshold = -1
        try:
            alerts.preferences_set(actor=Actor.by_user(request.user), person=person,
                                   enabled=request.POST.getlist("kinds"), low_balance_threshold=threshold)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Alert settings saved."))
            return redirect("portal:alert_settings")
    prefs = alerts.preferences_of(person=person)
    labels = dict(Notification.Kind.choices)
    return render(request, "portal/alert_settings.html", {
        "person": person, "kinds": [(kind.value, labels[kind], prefs["kinds"][kind.value]) for kind in SWITCHABLE],
        "threshold": format_fen(prefs["low_balance_threshold"], symbol=""),
        "threshold_max": format_fen(settings.LOW_BALANCE_THRESHOLD_MAX_FEN)})
