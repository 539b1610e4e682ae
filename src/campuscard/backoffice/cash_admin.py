"""Back office: the windows' cash shifts and the kiosks' cash boxes (#18 item 8), through payments.cash.

An operator opens a shift with the drawer's float, takes cash all day (recharges at the window, fees,
refunds paid in cash), and closes it with the count; the printable report shows the ledger's totals,
expected against counted and the difference. A kiosk's box is emptied and counted blind (the form never
shows what is expected); its printable report compares with what the ledger says the box took.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.money import format_fen, parse_yuan
from campuscard.devices.models import Device
from campuscard.payments import cash
from campuscard.payments.models import CashBoxEmptying, CashShift


class YuanField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=14, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in ("", None):
            return 0
        try:
            fen = parse_yuan(value)
        except (ValueError, TypeError):
            raise forms.ValidationError(_("Enter an amount like 50 or 12.50."))
        if fen < 0:
            raise forms.ValidationError(_("Enter an amount of money that is not negative."))
        return fen


class ShiftOpenForm(forms.Form):
    service_point = forms.ModelChoiceField(label=_("Service window"), queryset=ServicePoint.objects.none(),
                                           required=False)
    opening_float = YuanField(label=_("Opening float (yuan)"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service_point"].queryset = ServicePoint.objects.filter(
            area__campus__institution_id=user.institution_id, kind=ServicePoint.Kind.WINDOW).order_by("code")


class CountForm(forms.Form):
    counted = YuanField(label=_("Counted (yuan)"))
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class BoxForm(CountForm):
    device = forms.ModelChoiceField(label=_("Kiosk"), queryset=Device.objects.none())

    field_order = ["device", "counted", "note"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        kiosks = Device.objects.filter(kind=Device.Kind.KIOSK, revoked_at__isnull=True).order_by("code")
        self.fields["device"].queryset = kiosks if user.is_superuser else kiosks.filter(institution_id=user.institution_id)


def _money(value):
    return "" if value is None else format_fen(value)


class CountColumns:
    """A shift and a cash-box emptying show the same three amounts: what the ledger expects, what was counted."""

    @admin.display(description=_("expected"), ordering="expected")
    def expected_display(self, obj):
        return _money(obj.expected)

    @admin.display(description=_("counted"), ordering="counted")
    def counted_display(self, obj):
        return _money(obj.counted)

    @admin.display(description=_("difference"))
    def difference_display(self, obj):
        return _money(obj.difference)


@admin.register(CashShift)
class CashShiftAdmin(CountColumns, ReadOnlyAdmin):
    list_display = ["opened_at", "closed_at", "operator", "service_point", "state", "expected_display",
                    "counted_display", "difference_display", "report_link"]
    list_filter = ["state", "institution"]
    list_select_related = ["operator", "service_point"]
    date_hierarchy = "opened_at"
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("report"))
    def report_link(self, obj):
        report = format_html('<a href="{}" id="shift-report-{}">{}</a>',
                             reverse("admin:payments_cashshift_report", args=[obj.pk]), obj.pk, _("report"))
        if obj.state != CashShift.State.OPEN:
            return report
        return format_html('{} · <a href="{}" id="shift-close-{}">{}</a>', report,  # the service decides who may
                           reverse("admin:payments_cashshift_close", args=[obj.pk]), obj.pk, _("close"))

    def changelist_view(self, request, extra_context=None):
        tools = []
        if request.user.has_perm("payments.add_cashshift") and request.user.institution_id:
            mine = CashShift.objects.filter(operator=request.user, state=CashShift.State.OPEN).first()
            tools = [(reverse("admin:payments_cashshift_close", args=[mine.pk]), _("Close my shift"))] if mine else [
                (reverse("admin:payments_cashshift_open"), _("Open my shift"))]
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("open/", view(self.open_view), name="payments_cashshift_open"),
                path("<int:pk>/close/", view(self.close_view), name="payments_cashshift_close"),
                path("<int:pk>/report/", view(self.report_view), name="payments_cashshift_report"),
                *super().get_urls()]

    def open_view(self, request):
        """Start a shift at a window with the drawer's float."""
        if not request.user.has_perm("payments.add_cashshift"):
            raise PermissionDenied
        form = ShiftOpenForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                shift = cash.cash_shift_open(actor=Actor.by_user(request.user),
                                             service_point=form.cleaned_data["service_point"],
                                             opening_float=form.cleaned_data["opening_float"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Shift opened with a float of %(float)s.")
                                 % {"float": format_fen(shift.opening_float)})
                return redirect("admin:payments_cashshift_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Open a cash shift"),
            "submit": _("Open the shift")})

    def close_view(self, request, pk: int):
        """Count the drawer and close the shift (blind: the expected amount is shown on the report after)."""
        shift = get_object_or_404(self.get_queryset(request), pk=pk)
        form = CountForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                cash.cash_shift_close(actor=Actor.by_user(request.user), shift=shift,
                                      counted=form.cleaned_data["counted"], note=form.cleaned_data["note"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                return redirect("admin:payments_cashshift_report", shift.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "submit": _("Close the shift"),
            "title": _("Close the shift of %(who)s") % {"who": shift.operator},
            "note": _("Count the cash in the drawer, the opening float included.")})

    def report_view(self, request, pk: int):
        """The printable end-of-shift report."""
        shift = get_object_or_404(self.get_queryset(request).select_related("operator", "service_point",
                                                                              "institution"), pk=pk)
        return TemplateResponse(request, "backoffice/cash_report.html", {
            "kind": "shift", "shift": shift, "report": cash.cash_shift_report(shift=shift),
            "institution": shift.institution})


@admin.register(CashBoxEmptying)
class CashBoxEmptyingAdmin(CountColumns, ReadOnlyAdmin):
    list_display = ["emptied_at", "device", "sequence", "emptied_by", "expected_display", "counted_display",
                    "difference_display", "report_link"]
    list_filter = ["institution"]
    list_select_related = ["device", "emptied_by"]
    date_hierarchy = "emptied_at"
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("report"))
    def report_link(self, obj):
        return format_html('<a href="{}" id="box-report-{}">{}</a>',
                           reverse("admin:payments_cashboxemptying_report", args=[obj.pk]), obj.pk, _("report"))

    def changelist_view(self, request, extra_context=None):
        tools = [(reverse("admin:payments_cashboxemptying_empty"), _("Empty a kiosk's cash box"))] \
            if request.user.has_perm("payments.add_cashboxemptying") else []
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("empty/", view(self.empty_view), name="payments_cashboxemptying_empty"),
                path("<int:pk>/report/", view(self.report_view), name="payments_cashboxemptying_report"),
                *super().get_urls()]

    def empty_view(self, request):
        """Record the count of a kiosk's emptied box (blind: the expected amount is shown on the report)."""
        if not request.user.has_perm("payments.add_cashboxemptying"):
            raise PermissionDenied
        form = BoxForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                emptying = cash.cash_box_empty(actor=Actor.by_user(request.user), device=form.cleaned_data["device"],
                                               counted=form.cleaned_data["counted"], note=form.cleaned_data["note"])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                return redirect("admin:payments_cashboxemptying_report", emptying.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Empty a kiosk's cash box"),
            "submit": _("Record the count"),
            "note": _("Empty the box, count it, and record what you counted.")})

    def report_view(self, request, pk: int):
        emptying = get_object_or_404(self.get_queryset(request).select_related("device", "emptied_by",
                                                                                "institution"), pk=pk)
        return TemplateResponse(request, "backoffice/cash_report.html", {
            "kind": "box", "emptying": emptying, "report": cash.cash_box_report(emptying=emptying),
            "institution": emptying.institution})
