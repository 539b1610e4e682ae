"""Back office for merchants, terminals, payments, appeals and settlement (PAY-4, PAY-5).

Every list goes through ``ScopedAdmin`` (permission + institution, TEN-1) and, for merchant
operators, through ``settlement.merchant_scope`` on top: they see their own merchant only. Writes
go through the services (``pos.merchant_open``, ``devices.services.device_register``,
``pos.payment_refund``, ``pos.appeal_decide``); refusals are shown by their ``DomainError`` message.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution, ServicePoint
from campuscard.core.money import format_fen, parse_yuan
from campuscard.core.permissions import restrict
from campuscard.core.selectors import institutions_visible
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.identity.models import User
from campuscard.ledger.selectors import account_balances
from campuscard.payments import pos, settlement
from campuscard.payments.models import Appeal, Merchant, MerchantStaff, Payment, Refund, Terminal

PALETTE = ["#0b5cad", "#2f9e72", "#e8a33d", "#b54ad8", "#d0463b"]


class MerchantScoped:
    """Mixed in before ``ScopedAdmin``: merchant operators see their own merchant's rows only."""

    merchant_path = "merchant"

    def get_queryset(self, request):
        return settlement.merchant_scope(super().get_queryset(request), request.user, self.merchant_path)


class LocalDayRangeFilter(RangeDateFilter):
    """A from/to date filter on a timestamp that means whole local days (ARCHITECTURE rule 8)."""

    def queryset(self, request, queryset):
        zone = clock.zone(request.user.institution.time_zone) if getattr(request.user, "institution", None) \
            else timezone.get_current_timezone()
        filters = {}
        for suffix, lookup, shift in (("_from", "gte", 0), ("_to", "lt", 1)):
            raw = self.used_parameters.get(f"{self.parameter_name}{suffix}")
            if not raw:
                continue
            try:
                day = forms.DateField().clean(raw)
            except ValidationError:
                return queryset.none()
            moment = dt.datetime.combine(day + dt.timedelta(days=shift), dt.time.min, tzinfo=zone)
            filters[f"{self.parameter_name}__{lookup}"] = moment
        return queryset.filter(**filters)


def _label(payment: Payment) -> str:
    return f"{payment.txn_id} ({payment.merchant.name} {format_fen(payment.amount)})"


def _refused(request, label: str, error: DomainError) -> None:
    messages.error(request, f"{label}: {error.message}")


# --- merchants ------------------------------------------------------------------------------------

class MerchantStaffInline(TabularInline):
    """Who works for this merchant: these merchant operators see its payments, appeals and statements."""

    model = MerchantStaff
    extra = 0
    fields = ["user"]
    verbose_name = _("merchant operator")
    verbose_name_plural = _("merchant operators (see only this merchant)")

    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "view")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            users = User.objects.filter(groups__name=settlement.MERCHANT_ROLE, is_active=True)
            kwargs["queryset"] = users if request.user.is_superuser else restrict(users, request.user, "view")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Merchant)
class MerchantAdmin(MerchantScoped, ScopedAdmin):
    merchant_path = "pk"
    list_display = ["code", "name", "name_en", "category", "building", "active", "institution"]
    list_filter = ["category", "active"]
    search_fields = ["code", "name", "name_en"]
    list_select_related = ["building", "institution"]
    fields = ["institution", "code", "name", "name_en", "category", "building", "active", "takings"]
    readonly_fields = ["takings"]
    change_list_template = "backoffice/merchant_change_list.html"

    def get_readonly_fields(self, request, obj=None):
        # The code names the merchant's ledger account: fixed once the merchant is open.
        return ["institution", "code", "takings"] if obj is not None else ["takings"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if obj is not None else [f for f in fields if f != "takings"]

    def get_inlines(self, request, obj):
        return [MerchantStaffInline] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # a merchant with a ledger account is closed by unticking "active", never deleted

    @admin.display(description=_("takings account balance"))
    def takings(self, obj):
        return format_fen(account_balances(account_id=obj.account_id).posted)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        institution = obj.institution if request.user.is_superuser else request.user.institution
        merchant = pos.merchant_open(actor=Actor.by_user(request.user), institution=institution, code=obj.code, name=obj.name,
                                     category=obj.category, building=obj.building, name_en=obj.name_en)
        if not obj.active:
            Merchant.objects.filter(pk=merchant.pk).update(active=False)
        obj.pk, obj.account_id, obj.institution_id = merchant.pk, merchant.account_id, merchant.institution_id
        obj._state.adding = False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "settlement_url": _settlement_url(request)}
        return super().changelist_view(request, extra_context)

    # --- settlement pages (PAY-5) ---

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("settlement/", view(self.settlement_view), name="payments_settlement"),
            path("settlement/csv/", view(self.settlement_export), {"fmt": "csv"}, name="payments_settlement_csv"),
            path("settlement/xlsx/", view(self.settlement_export), {"fmt": "xlsx"},
                 name="payments_settlement_xlsx"),
            *super().get_urls(),
        ]

    def settlement_view(self, request):
        form, report = _settlement_report(request)
        context = {**self.admin_site.each_context(request), "title": _("Settlement"), "opts": self.model._meta,
                   "form": form, "report": report, "merchant_operator": settlement.is_merchant_operator(request.user),
                   "institutions": form.fields["institution"].queryset if "institution" in form.fields else None,
                   "merchants": form.fields["merchant"].queryset}
        if report is not None:
            data = form.cleaned_data
            params = {"start": data["start"].isoformat(), "end": data["end"].isoformat()}
            if data.get("merchant") is not None:
                params["merchant"] = data["merchant"].pk
            if request.user.is_superuser:
                params["institution"] = data["institution"].pk
            query = urlencode(params)
            context.update({
                "csv_url": f"{reverse('admin:payments_settlement_csv')}?{query}",
                "xlsx_url": f"{reverse('admin:payments_settlement_xlsx')}?{query}",
                "kpis": [(_("Takings"), report.total.takings), (_("Refunds"), report.total.refunds),
                         (_("Appeals"), report.total.appeals), (_("Net"), report.total.net)],
                "hour_chart": json.dumps(_hour_chart(report)),
                "merchant_chart": json.dumps(_merchant_chart(report)),
            })
        return TemplateResponse(request, "backoffice/settlement_report.html", context)

    def settlement_export(self, request, fmt: str):
        form, report = _settlement_report(request)
        if report is None:
            return HttpResponseBadRequest("; ".join(str(e) for errors in form.errors.values() for e in errors))
        if fmt == "csv":
            body, content_type = settlement.export_csv(report), "text/csv; charset=utf-8"
        else:
            body = settlement.export_xlsx(report)
            content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{settlement.export_filename(report, fmt)}"'
        return response


def _settlement_url(request) -> str | None:
    return reverse("admin:payments_settlement") if settlement.settlement_allowed(request.user) else None


class SettlementForm(forms.Form):
    """The settlement page's filter bar (GET): a day or a range of days, one merchant or all."""

    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none(), required=False)
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)
    merchant = forms.ModelChoiceField(label=_("Merchant"), queryset=Merchant.objects.none(), required=False)

    def __init__(self, data, *, user):
        super().__init__(data)
        self.user = user
        self.fields["institution"].queryset = institutions_visible(user=user)
        self.fields["merchant"].queryset = settlement.merchants_visible(user)
        if not user.is_superuser:
            del self.fields["institution"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if self.user.is_superuser:
            institution = data.get("institution") or self.fields["institution"].queryset.first()
        else:
            institution = self.user.institution
        if institution is None:
            raise ValidationError(_("There is no institution yet."))
        data["institution"] = institution
        data["start"] = data.get("start") or clock.local_date(institution)
        data["end"] = data.get("end") or data["start"]
        if data["end"] < data["start"]:
            self.add_error("end", _("The period ends before it starts."))
        elif (data["end"] - data["start"]).days >= settlement.MAX_DAYS:
            self.add_error("end", _("A report covers at most %(days)s days.") % {"days": settlement.MAX_DAYS})
        merchant = data.get("merchant")
        if merchant is not None and merchant.institution_id != institution.pk:
            self.add_error("merchant", _("This merchant belongs to another institution."))
        return data


def _settlement_report(request) -> tuple[SettlementForm, settlement.Report | None]:
    if not settlement.settlement_allowed(request.user):
        raise PermissionDenied
    form = SettlementForm(request.GET, user=request.user)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    period = settlement.Period(data["institution"], data["start"], data["end"])
    try:
        return form, settlement.settlement_report(user=request.user, period=period, merchant=data.get("merchant"))
    except DomainError as error:
        raise PermissionDenied(error.message)


def _hour_chart(report: settlement.Report) -> dict:
    return {"labels": [f"{h:02d}:00" for h in range(24)], "datasets": [
        {"label": gettext("Takings (¥)"), "data": [str(settlement.yuan(v)) for v in report.by_hour],
         "backgroundColor": PALETTE[0], "maxBarThickness": 28, "borderRadius": 4, "displayYAxis": True}]}


def _merchant_chart(report: settlement.Report) -> dict:
    lines = report.by_merchant
    return {"labels": [line.merchant.name for line in lines], "datasets": [
        {"label": gettext("Takings (¥)"), "data": [str(settlement.yuan(line.takings)) for line in lines],
         "backgroundColor": [PALETTE[i % len(PALETTE)] for i in range(len(lines))], "maxBarThickness": 48,
         "borderRadius": 4, "displayYAxis": True}]}


# --- terminals ------------------------------------------------------------------------------------

class TerminalRegisterForm(forms.ModelForm):
    device_code = forms.SlugField(label=_("device id"), max_length=40,
                                  help_text=_("Unique; the terminal signs every request with it."),
                                  widget=UnfoldAdminTextInputWidget)
    device_name = forms.CharField(label=_("device name"), max_length=100, widget=UnfoldAdminTextInputWidget)
    service_point = forms.ModelChoiceField(label=_("location"), queryset=ServicePoint.objects.none(),
                                           required=False, widget=UnfoldAdminSelectWidget)

    request_user = None  # set per request by TerminalAdmin.get_form

    class Meta:
        model = Terminal
        fields = ["merchant", "counter"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        points = ServicePoint.objects.select_related("area__campus")
        user = self.request_user
        self.fields["service_point"].queryset = points if user is not None and user.is_superuser else \
            restrict(points, user, "view")

    def clean_device_code(self):
        code = self.cleaned_data["device_code"]
        if Device.objects.filter(code=code).exists():
            raise ValidationError(_("A device with this id is already registered."))
        return code

    def clean(self):
        data = super().clean()
        merchant, point = data.get("merchant"), data.get("service_point")
        if merchant is not None and point is not None and point.area.campus.institution_id != merchant.institution_id:
            self.add_error("service_point", _("This location belongs to another institution."))
        return data


@admin.register(Terminal)
class TerminalAdmin(MerchantScoped, ScopedAdmin):
    list_display = ["device_code", "device_name", "merchant", "counter", "last_seen", "revoked"]
    list_filter = [("merchant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["device__code", "device__name", "counter", "merchant__name"]
    list_select_related = ["device", "merchant"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type("TerminalRegisterForm", (TerminalRegisterForm,), {"request_user": request.user})
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["merchant", "counter", "device_code", "device_name", "service_point"]
        return ["merchant", "device", "counter", "device_secret_note"]

    def get_readonly_fields(self, request, obj=None):
        return ["merchant", "device", "device_secret_note"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "merchant" and field is not None:
            field.queryset = settlement.merchant_scope(field.queryset, request.user, "pk").filter(active=True)
        return field

    def has_delete_permission(self, request, obj=None):
        return False  # payments point at terminals; revoke the device instead

    @admin.display(description=_("device id"), ordering="device__code")
    def device_code(self, obj):
        return obj.device.code

    @admin.display(description=_("device name"))
    def device_name(self, obj):
        return obj.device.name

    @admin.display(description=_("last seen at"))
    def last_seen(self, obj):
        return obj.device.last_seen_at

    @admin.display(description=_("revoked at"))
    def revoked(self, obj):
        return obj.device.revoked_at

    @admin.display(description=_("device secret"))
    def device_secret_note(self, obj):
        return gettext("Shown once at registration; register a new terminal if it is lost.")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        merchant = obj.merchant
        with transaction.atomic():
            device, secret = device_register(actor=Actor.by_user(request.user), institution=merchant.institution,
                                             kind=Device.Kind.POS, code=form.cleaned_data["device_code"],
                                             name=form.cleaned_data["device_name"],
                                             service_point=form.cleaned_data.get("service_point"))
            obj.device = device
            obj.save()
            audit_record(actor=Actor.by_user(request.user), action="terminal_registered", obj=obj,
                         institution_id=merchant.institution_id, after={"device": device.code,
                                                                        "merchant": merchant.code})
        messages.warning(request, _("Device secret (shown once, provision it on the terminal now): %(secret)s")
                         % {"secret": secret})

    @admin.action(description=_("Revoke the selected terminals (takes effect at once)"), permissions=["change"])
    def revoke(self, request, queryset):
        for terminal in queryset.select_related("device"):
            device_revoke(actor=Actor.by_user(request.user), device=terminal.device)
        messages.success(request, _("%(count)s terminal(s) revoked.") % {"count": len(queryset)})


# --- payments and refunds -------------------------------------------------------------------------

class RefundInline(TabularInline):
    model = Refund
    extra = 0
    fields = ["created_at", "kind", "amount_display", "reason"]
    readonly_fields = fields
    can_delete = False
    hide_title = True  # unfold: no per-row title (the row itself says it all)
    verbose_name_plural = _("refunds")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"))
    def amount_display(self, obj):
        return format_fen(obj.amount)


class RefundForm(forms.Form):
    amount = forms.CharField(label=_("Amount (yuan)"), max_length=12, required=False,
                             help_text=_("Empty: everything not yet refunded."),
                             widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}))
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False, widget=UnfoldAdminTextInputWidget)

    def clean_amount(self):
        raw = self.cleaned_data["amount"].strip()
        if not raw:
            return None
        try:
            return parse_yuan(raw)
        except (ValueError, TypeError):
            raise ValidationError(_("Enter an amount like 5 or 12.50."))


@admin.register(Payment)
class PaymentAdmin(MerchantScoped, ReadOnlyAdmin):
    list_display = ["created_at", "txn_id", "merchant", "counter", "holder", "amount_display", "refunded_display",
                    "method"]
    list_filter = [("merchant", admin.RelatedOnlyFieldListFilter), "method", ("created_at", LocalDayRangeFilter)]
    list_filter_submit = True
    search_fields = ["txn_id", "person__number"]
    list_select_related = ["merchant", "terminal", "person"]
    date_hierarchy = "created_at"
    fields = ["created_at", "merchant", "terminal", "person", "card", "txn_id", "amount_display",
              "refunded_display", "method", "balance_after_display"]
    readonly_fields = fields
    inlines = [RefundInline]
    actions = ["refund_same_day"]
    change_list_template = "backoffice/merchant_change_list.html"
    change_form_template = "backoffice/merchant_payment_change_form.html"

    @admin.display(description=_("holder"), ordering="person__number")
    def holder(self, obj):
        return f"{obj.person.number} {obj.person.name}"

    @admin.display(description=_("counter / window"))
    def counter(self, obj):
        return obj.terminal.counter if obj.terminal_id else obj.get_method_display()  # a service charge

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)

    @admin.display(description=_("refunded"))
    def refunded_display(self, obj):
        return format_fen(obj.refunded) if obj.refunded else "—"

    @admin.display(description=_("balance after"))
    def balance_after_display(self, obj):
        return format_fen(obj.balance_after)

    def has_refund_permission(self, request, obj=None):
        return request.user.has_perm("payments.add_refund")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "settlement_url": _settlement_url(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        payment = self.get_object(request, object_id)
        if payment is not None and self.has_refund_permission(request) and payment.refunded < payment.amount:
            extra_context.update(refund_url=reverse("admin:payments_payment_refund", args=[payment.pk]),
                                 refund_form=RefundForm(),
                                 refundable=format_fen(payment.amount - payment.refunded))
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Refund (same day)"), permissions=["refund"])
    def refund_same_day(self, request, queryset):
        done = 0
        for payment in queryset.select_related("merchant"):
            try:
                pos.payment_refund(actor=Actor.by_user(request.user), payment=payment)
                done += 1
            except DomainError as error:
                _refused(request, _label(payment), error)
        if done:
            messages.success(request, _("%(count)s payment(s) refunded.") % {"count": done})

    def get_urls(self):
        return [path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view),
                     name="payments_payment_refund"), *super().get_urls()]

    def refund_view(self, request, pk: int):
        """A full or partial same-day refund of one payment (POST only, outside any outer transaction)."""
        if request.method != "POST":
            return redirect("admin:payments_payment_change", pk)
        payment = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_refund_permission(request):
            raise PermissionDenied
        form = RefundForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
            return redirect("admin:payments_payment_change", pk)
        try:
            refund = pos.payment_refund(actor=Actor.by_user(request.user), payment=payment, amount=form.cleaned_data["amount"],
                                        reason=form.cleaned_data["reason"])
        except DomainError as error:
            _refused(request, _label(payment), error)
        else:
            messages.success(request, _("Refunded %(amount)s to %(holder)s.")
                             % {"amount": format_fen(refund.amount), "holder": payment.person.name})
        return redirect("admin:payments_payment_change", pk)


@admin.register(Refund)
class RefundAdmin(MerchantScoped, ReadOnlyAdmin):
    merchant_path = "payment__merchant"
    list_display = ["created_at", "payment_label", "kind", "amount_display", "reason"]
    list_filter = ["kind", ("payment__merchant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["payment__txn_id", "payment__person__number"]
    list_select_related = ["payment__merchant"]

    @admin.display(description=_("payment"))
    def payment_label(self, obj):
        return _label(obj.payment)

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)


# --- appeals (PAY-4) ------------------------------------------------------------------------------

class AppealRejectForm(forms.ModelForm):
    """Saving an open appeal's form rejects it; the reason is what the holder reads."""

    class Meta:
        model = Appeal
        fields = ["decision"]
        labels = {"decision": _("Reason for rejecting")}
        help_texts = {"decision": _("Saving rejects the appeal with this reason; the holder is notified. "
                                    "To accept and refund, use the button above or the list action.")}

    def clean_decision(self):
        reason = self.cleaned_data["decision"].strip()
        if not reason:
            raise ValidationError(DomainError("decision_reason_required").message)
        return reason


@admin.register(Appeal)
class AppealAdmin(MerchantScoped, ScopedAdmin):
    merchant_path = "payment__merchant"
    form = AppealRejectForm
    list_display = ["created_at", "state", "merchant", "payment_txn", "holder", "amount", "reason", "decision",
                    "decided_when"]
    list_filter = ["state", ("payment__merchant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["payment__txn_id", "payment__person__number"]
    list_select_related = ["payment__merchant", "payment__person"]
    readonly_fields = ["state", "payment_summary", "reason", "created_at", "decided_when", "decided_who"]
    fields = ["state", "payment_summary", "reason", "created_at", "decision", "decided_when", "decided_who"]
    actions = ["accept"]
    change_form_template = "backoffice/merchant_appeal_change_form.html"

    def get_ordering(self, request):
        open_first = Case(When(state=Appeal.State.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
        return [open_first.asc(), "-created_at"]  # open appeals first, newest first

    def has_add_permission(self, request):
        return False  # holders appeal from the portal

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.state == Appeal.State.OPEN)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if obj is not None and obj.state == Appeal.State.OPEN else [*readonly, "decision"]

    @admin.display(description=_("decided at"), ordering="decided_at")
    def decided_when(self, obj):
        return timezone.localtime(obj.decided_at).strftime("%Y-%m-%d %H:%M") if obj.decided_at else "—"

    @admin.display(description=_("decided by"))
    def decided_who(self, obj):
        return obj.decided_by or "—"

    @admin.display(description=_("merchant"), ordering="payment__merchant__code")
    def merchant(self, obj):
        return obj.payment.merchant

    @admin.display(description=_("terminal transaction id"))
    def payment_txn(self, obj):
        return obj.payment.txn_id

    @admin.display(description=_("holder"))
    def holder(self, obj):
        return f"{obj.payment.person.number} {obj.payment.person.name}"

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return format_fen(obj.payment.amount)

    @admin.display(description=_("payment"))
    def payment_summary(self, obj):
        p = obj.payment
        return gettext("%(merchant)s · %(amount)s · %(at)s · %(holder)s · %(txn)s") % {
            "merchant": p.merchant, "amount": format_fen(p.amount), "holder": f"{p.person.number} {p.person.name}",
            "at": timezone.localtime(p.created_at).strftime("%Y-%m-%d %H:%M:%S"), "txn": p.txn_id}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        appeal = self.get_object(request, object_id)
        if appeal is not None and appeal.state == Appeal.State.OPEN and self.has_change_permission(request, appeal):
            extra_context["accept_url"] = reverse("admin:payments_appeal_accept", args=[appeal.pk])
            extra_context["refundable"] = format_fen(appeal.payment.amount - appeal.payment.refunded)
        extra_context["show_save_and_continue"] = False  # saving decides; there is nothing left to edit
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Saving the change form rejects with the given reason (accepting refunds: see ``accept_view``)."""
        try:
            pos.appeal_decide(actor=Actor.by_user(request.user), appeal=obj, accept=False, reason=form.cleaned_data["decision"])
        except DomainError as error:
            request._appeal_refused = error
            _refused(request, _label(obj.payment), error)

    def response_change(self, request, obj):
        if getattr(request, "_appeal_refused", None) is not None:
            return redirect("admin:payments_appeal_change", obj.pk)
        messages.success(request, _("Appeal rejected; the holder is notified."))
        return redirect("admin:payments_appeal_changelist")

    def get_urls(self):
        return [path("<int:pk>/accept/", self.admin_site.admin_view(self.accept_view),
                     name="payments_appeal_accept"), *super().get_urls()]

    def accept_view(self, request, pk: int):
        """Accept one appeal from its page (POST). The refund is a money transaction of its own, so this
        runs outside the admin's change-form transaction."""
        if request.method != "POST":
            return redirect("admin:payments_appeal_change", pk)
        appeal = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, appeal):
            raise PermissionDenied
        self._accept(request, [appeal])
        return redirect("admin:payments_appeal_changelist")

    @admin.action(description=_("Accept and refund"), permissions=["change"])
    def accept(self, request, queryset):
        self._accept(request, queryset.select_related("payment__merchant"))

    def _accept(self, request, appeals) -> None:
        done = 0
        for appeal in appeals:
            try:
                pos.appeal_decide(actor=Actor.by_user(request.user), appeal=appeal, accept=True)
                done += 1
            except DomainError as error:
                _refused(request, _label(appeal.payment), error)
        if done:
            messages.success(request, _("%(count)s appeal(s) accepted and refunded; the holders are notified.")
                             % {"count": done})
