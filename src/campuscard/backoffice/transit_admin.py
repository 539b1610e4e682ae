"""Back office for the city buses (TRN-1, TRN-2): operators and their fare rules, routes, validators
(registered as signed devices, the secret shown once), bindings, taps, disputes (the operator adds its
evidence, the Card Center decides), and the clearing page: an operator's day reconciled with the ledger,
downloads (CSV/XLSX) and the rides per route by hour (chart). A bus-operator login sees its own operator
only (``transit.selectors.operators_visible``)."""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.core.permissions import restrict
from campuscard.transit import selectors, services
from campuscard.transit.models import Binding, Dispute, Operator, OperatorStaff, Route, Tap, Validator


class OperatorForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["institution", "code", "name", "student_discount_percent", "staff_discount_percent",
                  "transfer_minutes", "transfer_discount", "terms"]


@admin.register(Operator)
class OperatorAdmin(ScopedAdmin):
    form = OperatorForm
    list_display = ["code", "name", "student_discount_percent", "staff_discount_percent", "transfer_minutes",
                    "transfer_shown"]
    search_fields = ["code", "name"]
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("transfer discount"))
    def transfer_shown(self, obj):
        return format_fen(obj.transfer_discount)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=selectors.operators_visible(request.user)) \
            if selectors.operator_of_user(request.user) else super().get_queryset(request)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        institution = obj.institution if request.user.is_superuser else request.user.institution
        rules = {f: getattr(obj, f) for f in ("student_discount_percent", "staff_discount_percent",
                                              "transfer_minutes", "transfer_discount", "terms")}
        made = services.operator_create(actor=Actor.by_user(request.user), institution=institution, code=obj.code,
                                        name=obj.name, **rules)
        obj.pk, obj.clearing_account_id, obj.institution_id = made.pk, made.clearing_account_id, made.institution_id
        obj._state.adding = False

    def changelist_view(self, request, extra_context=None):
        tools = [(reverse("admin:transit_clearing"), _("Clearing and rides per hour"))]
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    # --- the clearing page -------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("clearing/", view(self.clearing_view), name="transit_clearing"),
                path("clearing/<str:fmt>/", view(self.clearing_export), name="transit_clearing_export"),
                *super().get_urls()]

    def _pick(self, request):
        operators = selectors.operators_visible(request.user)
        if not operators.exists():
            raise PermissionDenied
        code = request.GET.get("operator")
        operator = (operators.filter(code=code).first() if code else None) or operators.order_by("code").first()
        try:
            day = dt.date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = clock.local_date(operator.institution)
        return operators, operator, day

    def clearing_view(self, request):
        operators, operator, day = self._pick(request)
        c = selectors.clearing(operator, day)
        hours = selectors.taps_by_route_hour(operators.filter(pk=operator.pk), day, operator.institution)
        palette = ["#0b5cad", "#2f9e72", "#b54708", "#7a5af8", "#c11574", "#027a48"]
        chart = {"labels": [f"{h:02d}" for h in range(24)],
                 "datasets": [{"label": row["route"], "data": [h["n"] for h in row["hours"]],
                               "backgroundColor": palette[i % len(palette)], "maxBarThickness": 22, "borderRadius": 3}
                              for i, row in enumerate(hours)]}
        query = f"?operator={operator.code}&day={day.isoformat()}"
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Bus clearing"),
                   "operators": operators.order_by("code"), "operator": operator, "day": day, "clearing": c,
                   "previous": (day - dt.timedelta(days=1)).isoformat(), "next": (day + dt.timedelta(days=1)).isoformat(),
                   "kpis": [(_("Rides charged"), c.count), (_("Fares"), format_fen(c.fares)),
                            (_("Refunded (disputes)"), format_fen(c.refunds)), (_("Net"), format_fen(c.net))],
                   "chart": json.dumps(chart), "chart_options": json.dumps({"scales": {"x": {"stacked": True},
                                                                                     "y": {"stacked": True}}}),
                   "routes": hours, "csv_url": reverse("admin:transit_clearing_export", args=["csv"]) + query,
                   "xlsx_url": reverse("admin:transit_clearing_export", args=["xlsx"]) + query}
        return TemplateResponse(request, "backoffice/transit_clearing.html", context)

    def clearing_export(self, request, fmt: str):
        _operators, operator, day = self._pick(request)
        c = selectors.clearing(operator, day)
        if fmt == "csv":
            body, kind = selectors.clearing_csv(c), "text/csv; charset=utf-8"
        elif fmt == "xlsx":
            body, kind = selectors.clearing_xlsx(c), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            raise PermissionDenied
        response = HttpResponse(body, content_type=kind)
        response["Content-Disposition"] = f'attachment; filename="{selectors.clearing_filename(c, fmt)}"'
        return response


@admin.register(OperatorStaff)
class OperatorStaffAdmin(ScopedAdmin):
    list_display = ["user", "operator"]
    autocomplete_fields = []


@admin.register(Route)
class RouteAdmin(ScopedAdmin):
    list_display = ["code", "name", "operator", "fare_shown", "stage_fare_shown", "max_stages", "active"]
    list_filter = ["operator", "active"]
    search_fields = ["code", "name"]

    @admin.display(description=_("full fare"))
    def fare_shown(self, obj):
        return format_fen(obj.fare)

    @admin.display(description=_("each further stage"))
    def stage_fare_shown(self, obj):
        return format_fen(obj.stage_fare)


class ValidatorForm(forms.ModelForm):
    code = forms.SlugField(label=_("device id"), max_length=40)
    name = forms.CharField(label=_("name"), max_length=100, required=False)

    class Meta:
        model = Validator
        fields = ["route"]


@admin.register(Validator)
class ValidatorAdmin(ScopedAdmin):
    list_display = ["device", "operator", "route"]
    list_filter = ["operator", "route"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ValidatorForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["device", "operator"] if obj else []

    def get_fields(self, request, obj=None):
        return ["code", "name", "route"] if obj is None else ["device", "operator", "route"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.operator = obj.route.operator
            return super().save_model(request, obj, form, change)
        try:
            made, secret = services.validator_register(actor=Actor.by_user(request.user), route=obj.route,
                                                       code=form.cleaned_data["code"],
                                                       name=form.cleaned_data.get("name") or "")
        except Exception as error:  # noqa: BLE001 - a taken device id: shown, nothing saved
            raise forms.ValidationError(str(error))
        obj.pk, obj.device_id, obj.operator_id = made.pk, made.device_id, made.operator_id
        obj._state.adding = False
        messages.warning(request, gettext("Validator %(code)s registered. Its secret (shown only now): %(secret)s")
                         % {"code": made.device.code, "secret": secret})


@admin.register(Binding)
class BindingAdmin(ScopedAdmin):
    list_display = ["card", "person", "state", "with_card", "phone_bound", "created_at", "changed_at", "end_reason"]
    list_filter = ["state", "with_card", "phone_bound"]
    search_fields = ["card__number", "person__number", "person__name"]
    readonly_fields = ["card", "person", "terms_accepted_at", "created_at", "changed_at", "end_reason", "institution",
                       "with_card", "phone", "phone_bound"]
    fields = ["card", "person", "state", "with_card", "phone", "phone_bound", "terms_accepted_at", "created_at",
              "changed_at", "end_reason"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.binding_set(actor=Actor.by_user(request.user), binding=obj, state=obj.state, reason="back office")


class TapScoped:
    def get_queryset(self, request):
        qs = super().get_queryset(request)  # type: ignore[misc]
        if selectors.operator_of_user(request.user):
            return qs.filter(**{self.operator_path: selectors.operator_of_user(request.user)})  # type: ignore[attr-defined]
        return qs


@admin.register(Tap)
class TapAdmin(TapScoped, ReadOnlyAdmin):
    operator_path = "operator"
    list_display = ["tapped_at", "posted_at", "device", "counter", "route", "card", "medium", "fare_class", "fare_shown",
                    "state", "refusal", "flagged", "transfer_id"]
    list_filter = ["state", "fare_class", "operator", "route", "flagged"]
    search_fields = ["card__number", "nfc_uid", "device__code"]
    date_hierarchy = "posted_at"
    list_select_related = ["device", "route", "card"]

    @admin.display(description=_("fare"))
    def fare_shown(self, obj):
        return format_fen(obj.fare)


class DisputeForm(forms.ModelForm):
    class Meta:
        model = Dispute
        fields = ["evidence"]


@admin.register(Dispute)
class DisputeAdmin(TapScoped, ScopedAdmin):
    operator_path = "tap__operator"
    form = DisputeForm
    list_display = ["ride", "holder", "reason", "state", "created_at", "decided_at"]
    list_filter = ["state"]
    list_select_related = ["tap__route", "tap__person"]
    readonly_fields = ["tap", "reason", "state", "decision", "decided_by", "created_at", "decided_at"]
    fields = ["tap", "reason", "evidence", "state", "decision", "decided_by", "created_at", "decided_at"]
    change_form_template = "backoffice/transit_dispute_change_form.html"

    @admin.display(description=_("ride"), ordering="tap__tapped_at")
    def ride(self, obj):
        return f"{obj.tap.route.code} · {obj.tap}"

    @admin.display(description=_("holder"))
    def holder(self, obj):
        return obj.tap.person or "—"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            services.dispute_evidence(actor=Actor.by_user(request.user), user=request.user, dispute=obj,
                                      evidence=form.cleaned_data.get("evidence", ""))
        except DomainError as error:
            messages.error(request, error.message)

    def get_urls(self):
        return [path("<int:pk>/decide/", self.admin_site.admin_view(self.decide_view), name="transit_dispute_decide"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "can_decide": request.user.has_perm("transit.change_dispute")
                 and not selectors.operator_of_user(request.user)}
        return super().change_view(request, object_id, form_url, extra)

    def decide_view(self, request, pk: int):
        dispute = get_object_or_404(restrict(Dispute.objects.all(), request.user), pk=pk)
        if request.method == "POST":
            try:
                services.dispute_decide(actor=Actor.by_user(request.user), user=request.user, dispute=dispute,
                                        accept=request.POST.get("decision") == "accept",
                                        reason=request.POST.get("reason", ""))
            except DomainError as error:
                messages.error(request, error.message)
            except PermissionDenied:
                messages.error(request, gettext("You are not allowed to do this."))
            else:
                messages.success(request, gettext("Decided."))
        return redirect("admin:transit_dispute_change", pk)
