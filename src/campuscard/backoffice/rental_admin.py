"""Back office for equipment rental (SVC-4): the items (with deposit, rate and loan period), the rentals
(overdue first to see), and the usage-duration statistics per item and per holder, drawn as the other
back-office charts are (unfold's Chart.js bar component). Check-out and return happen at the desk page."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core import clock
from campuscard.core.money import format_fen
from campuscard.rental import selectors
from campuscard.rental.models import Item, Rental

PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365}


class OverdueFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("out", _("out")), ("overdue", _("overdue")), ("unsettled", _("fee owed")),
                ("returned", _("returned"))]

    def queryset(self, request, queryset):
        now = clock.now()
        return {"out": queryset.filter(returned_at=None),
                "overdue": queryset.filter(returned_at=None, due_at__lte=now),
                "unsettled": queryset.exclude(returned_at=None).filter(settled_at=None),
                "returned": queryset.exclude(returned_at=None)}.get(self.value(), queryset)


@admin.register(Item)
class ItemAdmin(ScopedAdmin):
    list_display = ["code", "name", "category", "deposit_shown", "rate_shown", "loan_hours", "merchant", "active"]
    list_filter = ["category", "active", "merchant"]
    search_fields = ["code", "name"]

    @admin.display(description=_("deposit"))
    def deposit_shown(self, obj):
        return format_fen(obj.deposit)

    @admin.display(description=_("rate per hour"))
    def rate_shown(self, obj):
        return format_fen(obj.rate_per_hour)

    def get_urls(self):
        return [path("usage/", self.admin_site.admin_view(self.usage_view), name="rental_usage"), *super().get_urls()]

    change_list_template = "backoffice/with_tools_change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "tools": _tools(request)})

    def usage_view(self, request):
        """Hours out per item and per holder over a period, busiest first (SVC-4)."""
        user = request.user
        if not user.has_perm("rental.view_rental"):
            raise PermissionDenied
        institution_id = user.institution_id or int(request.GET.get("institution") or 0)
        days = PERIODS.get(request.GET.get("days", "30"), 30)
        end = clock.now()
        start = end - dt.timedelta(days=days)
        by_item = selectors.usage(user=user, institution_id=institution_id, start=start, end=end, by="item")
        by_holder = selectors.usage(user=user, institution_id=institution_id, start=start, end=end, by="person")
        charts = {name: json.dumps(_bars(rows[: selectors.STATS_ROWS], color))
                  for name, rows, color in (("item", by_item, "#0b5cad"), ("holder", by_holder, "#2f9e72"))}
        total_seconds = sum(u.seconds for u in by_item)
        rentals = sum(u.rentals for u in by_item)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Equipment usage"),
                   "days": days, "periods": PERIODS, "by_item": by_item[:50], "by_holder": by_holder[:50],
                   "item_chart": charts["item"], "holder_chart": charts["holder"], "chart_options": json.dumps(_HOURS),
                   "kpis": [(_("Rentals"), rentals), (_("Hours out"), round(total_seconds / 3600, 1)),
                            (_("Average per rental (min)"), int(total_seconds / rentals / 60) if rentals else 0),
                            (_("Overdue now"), selectors.overdue_count(user=user, institution_id=institution_id))],
                   "rentals_url": reverse("admin:rental_rental_changelist")}
        return TemplateResponse(request, "backoffice/rental_usage.html", context)


def _tools(request) -> list:
    tools = [(reverse("admin:rental_usage"), _("Usage statistics"))]
    if request.user.has_perm("rental.add_rental"):
        tools.append((reverse("devices:rental_desk"), _("Open the equipment desk")))
    return tools


def _bars(rows, color: str) -> dict:
    return {"labels": [u.label for u in rows],
            "datasets": [{"label": gettext("Hours"), "data": [u.hours for u in rows], "backgroundColor": color,
                          "maxBarThickness": 28, "borderRadius": 4}]}


# Horizontal bars (item names are long), whole-hour ticks — as access_admin's count bars replace unfold's defaults.
_HOURS = {
    "animation": False, "responsive": True, "maintainAspectRatio": False, "indexAxis": "y",
    "plugins": {"legend": {"display": False}, "tooltip": {"enabled": True}},
    "scales": {"x": {"beginAtZero": True, "border": {"width": 0}, "grid": {"color": "#e5e7eb"},
                     "ticks": {"color": "#9ca3af"}},
               "y": {"border": {"width": 0}, "grid": {"display": False}, "ticks": {"color": "#6b7280"}}},
}


@admin.register(Rental)
class RentalAdmin(ReadOnlyAdmin):
    list_display = ["item", "person", "out_at", "due_at", "state_shown", "returned_at", "fee_shown", "deposit_shown"]
    list_filter = [OverdueFilter, "item__category"]
    search_fields = ["item__code", "item__name", "person__number", "person__name"]
    date_hierarchy = "out_at"
    list_select_related = ["item", "person"]
    change_list_template = "backoffice/with_tools_change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "tools": _tools(request)})

    @admin.display(description=_("state"))
    def state_shown(self, obj):
        if obj.returned_at is None:
            if obj.due_at <= clock.now():
                return format_html('<b class="text-red-700" data-state="overdue">{}</b>', gettext("overdue"))
            return format_html('<span data-state="out">{}</span>', pgettext_lazy("rental", "out"))
        if obj.settled_at is None:
            return format_html('<b class="text-amber-700" data-state="unsettled">{}</b>', gettext("fee owed"))
        return format_html('<span data-state="returned">{}</span>', gettext("returned"))

    @admin.display(description=_("fee"))
    def fee_shown(self, obj):
        return format_fen(obj.fee)

    @admin.display(description=_("deposit"))
    def deposit_shown(self, obj):
        return format_fen(obj.deposit)
