"""Holder's wallet pages: balance, transactions, monthly statement (CSV / printable), spending, recharge."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.exports import SafeCsvWriter
from campuscard.core.money import format_fen, parse_yuan
from campuscard.identity import selectors as identity_selectors
from campuscard.payments import selectors, services
from campuscard.payments.models import RechargeOrder


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


def _month(request, person) -> str:
    month = request.GET.get("month") or clock.institution_now(person.institution).strftime("%Y-%m")
    try:
        selectors.month_bounds(month, person.institution.time_zone)
    except DomainError:
        raise Http404
    return month


@login_required
def wallet(request):
    person = _person(request)
    summary = selectors.wallet_summary(person)
    month = _month(request, person)
    data = selectors.statement(person, month)
    recent = list(reversed(data["rows"]))[:20]
    return render(request, "portal/wallet.html", {"person": person, "summary": summary, "month": month,
                                                  "rows": recent, "statement": data})


@login_required
def statement(request):
    person = _person(request)
    month = _month(request, person)
    data = selectors.statement(person, month)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="statement-{person.number}-{month}.csv"'
        response.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese correctly only with a BOM
        writer = SafeCsvWriter(response)
        writer.writerow([_("Time"), _("Type"), _("Counterparty"), _("Amount (¥)"), _("Balance (¥)"), _("Reference")])
        zone = clock.zone(person.institution.time_zone)
        for row in data["rows"]:
            writer.writerow([row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), row.label,
                             row.counterparty.name, f"{row.signed / 100:.2f}", f"{row.running / 100:.2f}",
                             row.reference])
        return response
    return render(request, "portal/statement.html", {"person": person, "statement": data, "month": month})


@login_required
def spending(request):
    person = _person(request)
    month = _month(request, person)
    return render(request, "portal/spending.html", {"person": person, "data": selectors.spending(person, month),
                                                    "month": month})


@login_required
def recharge(request):
    person = _person(request)
    error = None
    if request.method == "POST":
        try:
            amount = parse_yuan(request.POST.get("amount", ""))
        except (ValueError, TypeError):
            amount = 0
        try:
            _order, url = services.recharge_online_start(person=person, amount=amount,
                                                         key=request.POST.get("key") or uuid.uuid4().hex)
            return redirect(url)
        except DomainError as exc:
            error = exc.message
    return render(request, "portal/recharge.html", {"person": person, "error": error, "key": uuid.uuid4().hex,
                                                    "presets": [20, 50, 100, 200],
                                                    "limits": (format_fen(settings.RECHARGE_MIN_FEN),
                                                               format_fen(settings.RECHARGE_MAX_FEN))})


@login_required
def recharge_status(request, order_no: str):
    person = _person(request)
    order = RechargeOrder.objects.filter(order_no=order_no, person=person).first()
    if order is None:
        raise Http404
    template = "portal/_recharge_status.html" if request.htmx else "portal/recharge_status.html"
    balance = selectors.wallet_summary(person).balances.available if order.state == RechargeOrder.State.PAID else None
    return render(request, template, {"order": order, "person": person, "balance": balance})
