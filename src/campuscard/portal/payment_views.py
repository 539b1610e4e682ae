"""Holder's side of merchant payments: receipts and mistaken-charge appeals (PAY-4), the daily limit and
payment-password state (PAY-2, PAY-3), and how busy the canteens are (issue 5, item 6).

Presentation only: the rules live in ``payments.pos`` and ``payments.crowding``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, parse_yuan
from campuscard.identity import selectors as identity_selectors
from campuscard.payments import crowding, pos
from campuscard.payments.models import Appeal, DailyUsage, Payment

PAGE_SIZE = 30


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


@dataclass
class PaymentRow:
    payment: Payment
    appeal: Appeal | None
    appeal_until: dt.datetime
    can_appeal: bool


class AppealForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("What went wrong?"), max_length=300, widget=forms.Textarea(
        attrs={"rows": 4, "id": "appeal-reason"}))


class LimitForm(forms.Form):
    daily_limit = forms.CharField(label=gettext_lazy("New daily limit (yuan)"), max_length=12,
                                  widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))

    def clean_daily_limit(self) -> int:
        try:
            return parse_yuan(self.cleaned_data["daily_limit"])
        except (ValueError, TypeError):
            raise forms.ValidationError(DomainError("daily_limit_invalid",
                                                    max=format_fen(settings.DAILY_LIMIT_MAX_FEN)).message)


def _rows(payments, now: dt.datetime) -> list[PaymentRow]:
    window = dt.timedelta(hours=settings.APPEAL_WINDOW_HOURS)
    rows = []
    for payment in payments:
        appeal = getattr(payment, "appeal", None)  # reverse one-to-one: absent → None
        until = payment.created_at + window
        rows.append(PaymentRow(payment=payment, appeal=appeal, appeal_until=until,
                               can_appeal=appeal is None and now <= until))
    return rows


@login_required
def payments(request):
    person = _person(request)
    queryset = (Payment.objects.filter(person=person).select_related("merchant", "card", "terminal", "appeal")
                .order_by("-created_at", "-pk"))
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/payments.html", {
        "person": person, "page": page, "rows": _rows(page.object_list, clock.now()),
        "hours": settings.APPEAL_WINDOW_HOURS, "tz": person.institution.time_zone})


@login_required
def appeal(request, pk: int):
    person = _person(request)
    payment = (Payment.objects.filter(pk=pk, person=person).select_related("merchant", "card", "terminal", "appeal")
               .first())
    if payment is None:
        raise Http404
    [row] = _rows([payment], clock.now())
    form = AppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pos.appeal_open(actor=Actor.by_user(request.user), person=person, payment=payment, reason=form.cleaned_data["reason"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Your appeal has been sent. You will get a message when it is decided."))
            return redirect("portal:payments")
    return render(request, "portal/payments_appeal.html", {
        "person": person, "row": row, "form": form, "hours": settings.APPEAL_WINDOW_HOURS,
        "tz": person.institution.time_zone,
        "presets": [_("Charged twice"), _("Wrong amount"), _("I did not make this payment")]})


@login_required
def limits(request):
    person = _person(request)
    form = LimitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            limit = pos.daily_limit_set(actor=Actor.by_user(request.user), person=person, limit=form.cleaned_data["daily_limit"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Your daily limit is now %(limit)s.") % {"limit": format_fen(limit)})
            return redirect("portal:payment_limits")
    today = clock.local_date(person.institution)
    usage = DailyUsage.objects.filter(person=person, day=today).first()
    spent = usage.spent if usage else 0
    wrong = usage.wrong_passwords if usage else 0
    limit = pos.daily_limit_of(person=person)
    changed = person.payment_password_changed_at
    return render(request, "portal/payments_limits.html", {
        "person": person, "form": form, "limit": limit, "spent": spent, "remaining": max(0, limit - spent),
        "percent": min(100, round(100 * spent / limit)) if limit else 100, "over": spent >= limit,
        "max_limit": settings.DAILY_LIMIT_MAX_FEN, "default_limit": settings.DAILY_LIMIT_DEFAULT_FEN,
        "password_free": settings.PASSWORD_FREE_LIMIT_FEN,
        "password_set": person.has_payment_password, "password_changed": changed,
        "password_due": person.has_payment_password and pos.password_due(person=person),
        "password_due_at": changed + dt.timedelta(days=settings.PAYMENT_PASSWORD_MAX_AGE_DAYS) if changed else None,
        "wrong": wrong, "max_wrong": settings.PAYMENT_PASSWORD_MAX_WRONG,
        "locked": wrong >= settings.PAYMENT_PASSWORD_MAX_WRONG, "tz": person.institution.time_zone})


@login_required
def canteens(request):
    person = _person(request)
    now = clock.institution_now(person.institution)
    return render(request, "portal/payments_canteens.html", {
        "person": person, "rows": crowding.canteens_crowding(person.institution), "now": now,
        "tz": person.institution.time_zone, "window": crowding.SLOT_MINUTES,
        "weeks": crowding.HISTORY_DAYS // 7, "levels": crowding.Level})
