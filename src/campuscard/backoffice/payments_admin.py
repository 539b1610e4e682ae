"""Back office: recharges (with a chart and the window-recharge form) and gateway notifications."""

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, parse_yuan
from campuscard.core.selectors import institutions_visible
from campuscard.payments import selectors, services
from campuscard.payments.models import GatewayNotification, RechargeOrder


class WindowRechargeForm(forms.Form):
    number = forms.CharField(label=_("Student / staff number"), max_length=32)
    amount = forms.CharField(label=_("Amount (yuan)"), max_length=12)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
    key = forms.CharField(widget=forms.HiddenInput)

    def clean_amount(self):
        try:
            return parse_yuan(self.cleaned_data["amount"])
        except (ValueError, TypeError):
            raise forms.ValidationError(_("Enter an amount like 50 or 12.50."))


@admin.register(RechargeOrder)
class RechargeOrderAdmin(ReadOnlyAdmin):
    list_display = ["order_no", "created_at", "person", "amount_display", "channel", "state", "operator", "device"]
    list_filter = ["channel", "state", "institution"]
    search_fields = ["order_no", "person__number", "person__name", "provider_txn"]
    date_hierarchy = "created_at"
    list_select_related = ["person", "operator", "device"]
    change_list_template = "backoffice/recharge_change_list.html"

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)

    def get_urls(self):
        return [path("window/", self.admin_site.admin_view(self.window_view), name="payments_recharge_window"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        rows = selectors.recharges_by_day(self.get_queryset(request))
        days = sorted({r["day"] for r in rows})
        channels = [c for c in RechargeOrder.Channel.values if any(r["channel"] == c for r in rows)]
        palette = {"window": "#0b5cad", "kiosk": "#2f9e72", "online": "#e8a33d"}
        chart = {"labels": [d.strftime("%m-%d") for d in days], "datasets": [
            {"label": str(RechargeOrder.Channel(c).label), "backgroundColor": palette[c], "maxBarThickness": 40,
             "data": [sum(r["total"] for r in rows if r["day"] == d and r["channel"] == c) / 100 for d in days]}
            for c in channels]}
        extra_context = {**(extra_context or {}), "recharge_chart": json.dumps(chart),
                         "can_window": request.user.has_perm("payments.add_rechargeorder")}
        return super().changelist_view(request, extra_context)

    def window_view(self, request):
        """Cash recharge at the service window (TOP-1), by a Card Center operator."""
        if not request.user.has_perm("payments.add_rechargeorder") or not (
                request.user.institution_id or request.user.is_superuser):
            raise PermissionDenied
        form = WindowRechargeForm(request.POST or None, initial={"key": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            institution_id = request.user.institution_id or int(request.POST.get("institution") or 0)
            try:
                person = selectors.holder_by_number(institution_id=institution_id, number=form.cleaned_data["number"])
                order = services.recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=person,
                                               amount=form.cleaned_data["amount"], key=form.cleaned_data["key"],
                                               operator=request.user, note=form.cleaned_data["note"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                balance = selectors.wallet_summary(person).balances.available
                messages.success(request, _("Recharged %(amount)s to %(who)s. New balance %(balance)s. Order %(no)s.")
                                 % {"amount": format_fen(order.amount), "who": f"{person.number} {person.name}",
                                    "balance": format_fen(balance), "no": order.order_no})
                return redirect("admin:payments_recharge_window")
        context = {**self.admin_site.each_context(request), "form": form, "title": _("Recharge at the window"),
                   "institutions": institutions_visible(user=request.user) if request.user.is_superuser else None}
        return TemplateResponse(request, "backoffice/window_recharge.html", context)


@admin.register(GatewayNotification)
class GatewayNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "event_id", "order", "signature_ok", "outcome"]
    list_filter = ["provider", "signature_ok", "outcome"]
    search_fields = ["event_id", "order__order_no"]
