"""Back office for the dorm services (SVC-5): dorm buildings, rooms and their meter accounts, the meter
system's registration, top-ups (refund one the meter never took), the daily reconciliation (run a day,
read its differences); laundry machines (register the controller), bookings."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.money import format_fen
from campuscard.devices.models import Device
from campuscard.dorm import services
from campuscard.dorm.models import (
    Booking,
    DormBuilding,
    DormStaff,
    Machine,
    MeterSystem,
    Reconciliation,
    Room,
    TopUp,
)
from campuscard.dorm.selectors import dorm_scope
from campuscard.identity.models import User


def _own_institution(request) -> Institution:
    if not request.user.institution_id:
        raise PermissionDenied  # a platform admin works inside an institution's account for this
    return Institution.objects.get(pk=request.user.institution_id)


def _kwh(wh: int | None) -> str:
    return "—" if wh is None else f"{wh / 1000:.3f}"


class DormScoped:
    """An operator linked to some buildings (``DormStaff``) sees and picks only those (on top of the
    institution restriction)."""

    dorm_path = "dorm"

    def get_queryset(self, request):
        return dorm_scope(super().get_queryset(request), request.user, self.dorm_path)  # type: ignore[misc]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if db_field.name == "dorm" and field is not None:
            field.queryset = dorm_scope(field.queryset, request.user, "pk")
        return field


@admin.register(DormStaff)
class DormStaffAdmin(ScopedAdmin):
    list_display = ["user", "building_list"]
    filter_horizontal = ["dorms"]

    @admin.display(description=_("dormitory buildings"))
    def building_list(self, obj):
        return ", ".join(str(d) for d in obj.dorms.all())

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(institution_id=request.user.institution_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(DormBuilding)
class DormBuildingAdmin(DormScoped, ScopedAdmin):
    dorm_path = "pk"
    list_display = ["building", "electricity_merchant", "laundry_merchant"]
    list_select_related = ["building", "electricity_merchant", "laundry_merchant"]


@admin.register(Room)
class RoomAdmin(DormScoped, ScopedAdmin):
    list_display = ["number", "dorm", "meter", "price_display", "remaining", "read_at", "low", "resident_count"]
    list_filter = ["dorm", "alerted"]
    search_fields = ["number", "meter", "residents__number", "residents__name"]
    list_select_related = ["dorm__building"]
    fields = ["dorm", "number", "meter", "price", "low_balance_wh", "residents", "remaining_wh", "consumed_wh",
              "read_at", "alerted"]
    readonly_fields = ["remaining_wh", "consumed_wh", "read_at", "alerted"]
    filter_horizontal = ["residents"]

    @admin.display(description=_("price"), ordering="price")
    def price_display(self, obj):
        return gettext("%(price)s per kWh") % {"price": format_fen(obj.price)}

    @admin.display(description=_("remaining (kWh)"), ordering="remaining_wh")
    def remaining(self, obj):
        return _kwh(obj.remaining_wh)

    @admin.display(description=_("low"), boolean=True)
    def low(self, obj):
        return obj.remaining_wh is not None and obj.remaining_wh < obj.low_balance_wh

    @admin.display(description=_("residents"))
    def resident_count(self, obj):
        return obj.residents.count()


class MeterSystemForm(forms.Form):
    code = forms.SlugField(label=_("device id"), max_length=40)
    name = forms.CharField(label=_("device name"), max_length=100)

    def clean_code(self):
        code = self.cleaned_data["code"]
        if Device.objects.filter(code=code).exists():
            raise forms.ValidationError(_("A device with this id is already registered."))
        return code


@admin.register(MeterSystem)
class MeterSystemAdmin(ReadOnlyAdmin):
    list_display = ["device", "last_seen", "revoked"]
    list_select_related = ["device"]
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("last seen"))
    def last_seen(self, obj):
        return obj.device.last_seen_at

    @admin.display(description=_("revoked at"))
    def revoked(self, obj):
        return obj.device.revoked_at

    def _may_register(self, request) -> bool:
        return request.user.has_perm("dorm.add_metersystem") and bool(request.user.institution_id)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:dorm_metersystem_register"), gettext("Register the meter system"))]
                 if self._may_register(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        return [path("register/", self.admin_site.admin_view(self.register_view), name="dorm_metersystem_register"),
                *super().get_urls()]

    def register_view(self, request):
        if not self._may_register(request):
            raise PermissionDenied
        form = MeterSystemForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            _system, secret = services.meter_system_register(
                actor=Actor.by_user(request.user), institution=_own_institution(request),
                code=form.cleaned_data["code"], name=form.cleaned_data["name"])
            messages.warning(request, _("Device secret (shown once, provision it on the meter system now): %(secret)s")
                             % {"secret": secret})
            return redirect("admin:dorm_metersystem_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
            "title": _("Register the meter system"), "submit": _("Register"),
            "note": _("The meter system signs its requests with this device's secret: it fetches the paid top-ups, "
                      "confirms each one it put on a meter, and sends readings.")})


@admin.register(TopUp)
class TopUpAdmin(DormScoped, ReadOnlyAdmin):
    dorm_path = "room__dorm"
    list_display = ["created_at", "room", "person", "amount_display", "energy", "state", "delivered_at", "meter_ref"]
    list_filter = ["state", "room__dorm"]
    search_fields = ["room__number", "person__number", "person__name", "meter_ref"]
    date_hierarchy = "created_at"
    list_select_related = ["room__dorm__building", "person"]
    actions = ["refund_not_delivered"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy(self, obj):
        return _kwh(obj.energy_wh)

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("dorm.change_topup")

    @admin.action(description=_("Refund the selected top-ups the meter never took"), permissions=["refund"])
    def refund_not_delivered(self, request, queryset):
        done = 0
        for top_up in queryset.filter(state=TopUp.State.PAID):
            try:
                services.topup_refund(actor=Actor.by_user(request.user), top_up=top_up, reason="not delivered")
            except DomainError as error:
                messages.error(request, f"{top_up}: {error.message}")
            else:
                done += 1
        messages.success(request, _("%(count)s top-up(s) refunded.") % {"count": done})


def _difference_facts(difference: dict) -> str:
    facts = []
    if "room" in difference:
        facts.append(difference["room"])
    if "top_up" in difference:
        facts.append(gettext("top-up #%(id)s") % {"id": difference["top_up"]})
    if "payment" in difference:
        facts.append(gettext("payment #%(id)s") % {"id": difference["payment"]})
    if "amount" in difference:
        facts.append(format_fen(difference["amount"]))
    for key in ("energy_wh", "applied_wh"):
        if key in difference:
            facts.append(f"{_kwh(difference[key])} kWh")
    return " · ".join(facts)


class ReconcileForm(forms.Form):
    day = forms.DateField(label=_("day"), widget=forms.DateInput(attrs={"type": "date"}))


@admin.register(Reconciliation)
class ReconciliationAdmin(ReadOnlyAdmin):
    list_display = ["day", "ok", "top_ups", "paid_display", "charged_display", "sold", "delivered", "difference_count",
                    "run_at"]
    list_filter = ["ok"]
    date_hierarchy = "day"
    change_list_template = "backoffice/with_tools_change_list.html"
    fields = ["day", "ok", "top_ups", "paid_display", "charged_display", "sold", "delivered", "difference_list",
              "run_at"]
    readonly_fields = fields

    @admin.display(description=_("paid"))
    def paid_display(self, obj):
        return format_fen(obj.paid)

    @admin.display(description=_("in the settlement"))
    def charged_display(self, obj):
        return format_fen(obj.charged)

    @admin.display(description=_("sold (kWh)"))
    def sold(self, obj):
        return _kwh(obj.sold_wh)

    @admin.display(description=_("on the meters (kWh)"))
    def delivered(self, obj):
        return _kwh(obj.delivered_wh)

    @admin.display(description=_("differences found"))
    def difference_count(self, obj):
        return len(obj.differences)

    @admin.display(description=_("what differs"))
    def difference_list(self, obj):
        labels = {"not_delivered": gettext("paid, not on the meter"),
                  "energy_mismatch": gettext("the meter applied another amount"),
                  "payment_missing": gettext("no matching payment"),
                  "payment_without_top_up": gettext("a payment without a top-up")}
        if not obj.differences:
            return gettext("none")
        return format_html("<ul>{}</ul>", format_html_join("", '<li class="difference">{}: {}</li>', (
            (labels.get(d["kind"], d["kind"]), _difference_facts(d)) for d in obj.differences)))

    def _may_run(self, request) -> bool:
        return request.user.has_perm("dorm.add_reconciliation") and bool(request.user.institution_id)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:dorm_reconciliation_run"), gettext("Reconcile a day"))]
                 if self._may_run(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        return [path("run/", self.admin_site.admin_view(self.run_view), name="dorm_reconciliation_run"),
                *super().get_urls()]

    def run_view(self, request):
        if not self._may_run(request):
            raise PermissionDenied
        institution = _own_institution(request)
        yesterday = clock.local_date(institution) - dt.timedelta(days=1)
        form = ReconcileForm(request.POST or None, initial={"day": yesterday})
        if request.method == "POST" and form.is_valid():
            result = services.reconcile_day(institution=institution, day=form.cleaned_data["day"])
            if result.ok:
                messages.success(request, _("%(day)s: top-ups, payments and the meter system agree.")
                                 % {"day": result.day})
            else:
                messages.warning(request, _("%(day)s: %(count)s difference(s) — see the list.")
                                 % {"day": result.day, "count": len(result.differences)})
            return redirect("admin:dorm_reconciliation_change", result.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
            "title": _("Reconcile a day"), "submit": _("Reconcile"),
            "note": _("Compares the day's top-ups with the payments in the settlement and with what the meter system "
                      "confirmed it put on the meters. It also runs by itself every night for the day before.")})


# --- laundry -------------------------------------------------------------------------------------

@admin.register(Machine)
class MachineAdmin(DormScoped, ScopedAdmin):
    list_display = ["code", "name", "dorm", "kind", "price_display", "slot_minutes", "device", "active"]
    list_filter = ["dorm", "kind", "active"]
    search_fields = ["code", "name"]
    list_select_related = ["dorm__building", "device"]
    fields = ["dorm", "code", "name", "kind", "price", "slot_minutes", "active", "device"]
    readonly_fields = ["device"]
    actions = ["register_device"]

    @admin.display(description=_("price"), ordering="price")
    def price_display(self, obj):
        return format_fen(obj.price)

    @admin.action(description=_("Register the controller device of the selected machine"), permissions=["change"])
    def register_device(self, request, queryset):
        for machine in queryset.filter(device=None):
            try:
                _device, secret = services.machine_device_register(actor=Actor.by_user(request.user),
                                                                   machine=machine, code=f"laundry-{machine.code}")
            except IntegrityError:
                messages.error(request, _("A device with this id is already registered."))
                continue
            messages.warning(request, _("%(machine)s: device laundry-%(code)s, secret (shown once): %(secret)s")
                             % {"machine": machine, "code": machine.code, "secret": secret})


@admin.register(Booking)
class BookingAdmin(DormScoped, ReadOnlyAdmin):
    dorm_path = "machine__dorm"
    list_display = ["starts_at", "machine", "person", "state", "amount_display", "started_at", "failure"]
    list_filter = ["state", "machine__dorm", "machine"]
    search_fields = ["person__number", "person__name", "machine__code"]
    date_hierarchy = "starts_at"
    list_select_related = ["machine__dorm__building", "person"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return format_fen(obj.amount)
