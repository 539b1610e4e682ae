"""Back office for access control: zones, residences, approvals, permits, passes and the event log.

Simple scoped admins for now; decisions go through the services (approve/reject actions), so every
change is authorised and audited like the API's.
"""

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dates import WEEKDAYS
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from campuscard.access import keys, pages, services
from campuscard.access.errors import rule_message
from campuscard.access.models import (
    AccessEvent,
    AccessSigningKey,
    CampusEntryApproval,
    DormResidence,
    LabPermit,
    VisitorInvite,
    VisitorPass,
    VisitorRequest,
    Zone,
    ZoneException,
)
from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.permissions import restrict
from campuscard.core.privacy import mask_phone


class ZoneExceptionInline(admin.TabularInline):
    model = ZoneException
    extra = 0


@admin.register(Zone)
class ZoneAdmin(ScopedAdmin):
    list_display = ["code", "name", "level", "campus", "building", "active", "entries_link"]
    list_filter = ["level", "active", "campus", "institution"]
    search_fields = ["code", "name"]
    filter_horizontal = ["gates", "managers"]
    inlines = [ZoneExceptionInline]

    def get_queryset(self, request):
        """Zone managers: the zones they manage and those with no named managers."""
        return pages.managed_only(super().get_queryset(request), request.user)

    def has_set_exceptions_permission(self, request):
        return request.user.has_perm("access.add_zoneexception") and request.user.has_perm(
            "access.change_zoneexception")

    def get_readonly_fields(self, request, obj=None):
        """Who manages a zone (and so approves its lab permits) is the institution administrator's to say,
        not a zone manager's: otherwise one could name themselves manager of any zone."""
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.has_perm("identity.change_user") else [*fields, "managers"]

    @admin.display(description=_("entries"))
    def entries_link(self, obj):
        return format_html('<a href="{}" class="text-primary-600 font-medium" id="entries-{}">{}</a>',
                           reverse("admin:access_zone_entries", args=[obj.pk]), obj.code, gettext("Entries by hour"))

    actions = ["set_exceptions"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/entries/", view(self.entries_view), name="access_zone_entries"),
                path("exceptions/", view(self.exceptions_view), name="access_zone_exceptions"), *super().get_urls()]

    @admin.action(description=_("Holiday or special hours for selected zones…"), permissions=["set_exceptions"])
    def set_exceptions(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return redirect(f"{reverse('admin:access_zone_exceptions')}?zones={ids}")

    def exceptions_view(self, request):
        """One closure or set of opening hours for many zones and days (services.zone_exceptions_set)."""
        if not self.has_set_exceptions_permission(request):
            raise PermissionDenied
        zones = self.get_queryset(request).select_related("institution")
        chosen = [pk for pk in request.GET.get("zones", "").split(",") if pk.isdigit()]
        form = ZoneExceptionsForm(request.POST or None, zones=zones, initial={"zones": chosen, "closed": True})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            picked = list(data["zones"])
            days = services.exception_days(institution=picked[0].institution if picked else None,
                                           first=data["first"], last=data["last"],
                                           holidays_only=data["holidays_only"])
            try:
                count = services.zone_exceptions_set(actor=Actor.by_user(request.user), zones=picked, days=days,
                                                     closed=data["closed"], open_from=data["open_from"],
                                                     open_to=data["open_to"], note=data["note"])
            except DomainError as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(request, _("%(count)d zone days set.") % {"count": count})
                return redirect("admin:access_zoneexception_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
            "title": _("Holiday or special hours"), "submit": _("Set for the chosen zones and days"),
            "note": _("The same exception for every chosen zone and day; one already there for a zone and day is "
                      "replaced. Gates apply it at once online and from their next snapshot offline.")})

    def entries_view(self, request, pk: int):
        """Admitted and refused decisions per hour at one zone, today or a chosen day (institution time)."""
        zone = get_object_or_404(self.get_queryset(request).select_related("institution"), pk=pk)
        time_zone = zone.institution.time_zone
        try:
            day = dt.date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = clock.local_date(zone.institution)
        counts = pages.entries_by_hour(zone, day, time_zone)
        chart = {"labels": [f"{h:02d}:00" for h in range(24)], "datasets": [
            {"label": pgettext("access decision", "Admitted"), "data": counts["admitted"], "backgroundColor": "#2f9e72",
             "maxBarThickness": 28, "borderRadius": 4, "stack": "entries", "displayYAxis": True},
            {"label": pgettext("access decision", "Refused"), "data": counts["refused"], "backgroundColor": "#d0463b",
             "maxBarThickness": 28, "borderRadius": 4, "stack": "entries"}]}
        admitted, refused = sum(counts["admitted"]), sum(counts["refused"])
        busiest = max(range(24), key=lambda h: counts["admitted"][h] + counts["refused"][h])
        context = {**self.admin_site.each_context(request), "title": _("Entries by hour"), "opts": self.model._meta,
                   "zone": zone, "day": day, "chart": json.dumps(chart), "chart_options": json.dumps(_COUNT_BARS),
                   "time_zone": time_zone,
                   "kpis": [(pgettext_lazy("access decision", "Admitted"), admitted),
                            (pgettext_lazy("access decision", "Refused"), refused), (_("Decisions"), admitted + refused)],
                   "busiest": f"{busiest:02d}:00" if admitted + refused else None,
                   "previous": (day - dt.timedelta(days=1)).isoformat(), "next": (day + dt.timedelta(days=1)).isoformat(),
                   "search_url": reverse("admin:access_accessevent_search")}
        return TemplateResponse(request, "backoffice/access_zone_entries.html", context)


class _DateInput(UnfoldAdminTextInputWidget):
    input_type = "date"


class _TimeInput(UnfoldAdminTextInputWidget):
    input_type = "time"


class ZoneExceptionsForm(forms.Form):
    zones = forms.ModelMultipleChoiceField(label=_("Zones"), queryset=Zone.objects.none(),
                                           widget=UnfoldAdminCheckboxSelectMultipleWidget)
    first = forms.DateField(label=_("First day"), widget=_DateInput)
    last = forms.DateField(label=_("Last day"), widget=_DateInput)
    holidays_only = forms.BooleanField(label=_("Only the public holidays in this period"), required=False,
                                       widget=UnfoldBooleanSwitchWidget)
    closed = forms.BooleanField(label=_("Closed all day"), required=False, widget=UnfoldBooleanSwitchWidget)
    open_from = forms.TimeField(label=_("Otherwise open from"), required=False, widget=_TimeInput)
    open_to = forms.TimeField(label=_("open until"), required=False, widget=_TimeInput)
    note = forms.CharField(label=_("Note"), max_length=200, required=False, widget=UnfoldAdminTextInputWidget)

    def __init__(self, data, *, zones, initial):
        super().__init__(data, initial=initial)
        self.fields["zones"].queryset = zones

    def clean(self):
        data = super().clean()
        if data.get("first") and data.get("last") and data["last"] < data["first"]:
            self.add_error("last", _("The period ends before it starts."))
        elif data.get("first") and data.get("last") and (data["last"] - data["first"]).days >= 366:
            self.add_error("last", _("A year at most."))
        if len({zone.institution_id for zone in data.get("zones") or ()}) > 1:
            self.add_error("zones", _("Zones of one institution at a time."))
        return data


# Chart.js options for stacked bars of counts (given, they replace unfold's defaults whole): whole-number
# ticks on the y axis — with the defaults a quiet hour's axis read 0, 0.5, 1, 1.5.
_COUNT_BARS = {
    "animation": False, "responsive": True, "maintainAspectRatio": False,
    "plugins": {"legend": {"display": False}, "tooltip": {"enabled": True}},
    "scales": {
        "x": {"stacked": True, "border": {"width": 0}, "grid": {"display": False}, "ticks": {"color": "#9ca3af"}},
        "y": {"stacked": True, "beginAtZero": True, "border": {"width": 0}, "grid": {"color": "#e5e7eb"},
              "ticks": {"color": "#9ca3af", "precision": 0}},
    },
}


@admin.register(ZoneException)
class ZoneExceptionAdmin(ScopedAdmin):
    list_display = ["zone", "date", "closed", "open_from", "open_to", "note"]
    list_filter = ["closed", "zone"]
    date_hierarchy = "date"

    def get_queryset(self, request):
        return pages.managed_only(super().get_queryset(request), request.user, "zone__")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "zone":
            field.queryset = pages.managed_only(field.queryset, request.user)
        return field


@admin.register(DormResidence)
class DormResidenceAdmin(ScopedAdmin):
    list_display = ["person", "building", "room", "valid_from", "valid_to"]
    list_filter = ["building"]
    search_fields = ["person__number", "person__name", "room"]
    raw_id_fields = ["person"]


def _each(admin_obj, request, queryset, act) -> None:
    """``act`` on each selected row through its service; a refusal is reported for its row only."""
    done = 0
    for obj in queryset:
        try:
            act(obj)
            done += 1
        except DomainError as refused:
            admin_obj.message_user(request, f"{obj}: {refused.message}", messages.ERROR)
    if done:
        admin_obj.message_user(request, _("%(count)d done.") % {"count": done}, messages.SUCCESS)


def _decide(admin_obj, request, queryset, decide, approve: bool) -> None:
    _each(admin_obj, request, queryset,
          lambda obj: decide(actor=Actor.by_user(request.user), approve=approve, **{admin_obj.decide_arg: obj}))


@admin.register(CampusEntryApproval)
class CampusEntryApprovalAdmin(ScopedAdmin):
    list_display = ["person", "state", "reason", "requested_at", "decided_by", "decided_at"]
    list_filter = ["state"]
    search_fields = ["person__number", "person__name"]
    readonly_fields = ["institution", "person", "state", "reason", "requested_at", "decided_by", "decided_at"]
    actions = ["approve", "reject", "revoke"]
    decide_arg = "approval"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve selected applications"), permissions=["change"])
    def approve(self, request, queryset):
        _decide(self, request, queryset, services.campus_entry_decide, True)

    @admin.action(description=_("Reject selected applications"), permissions=["change"])
    def reject(self, request, queryset):
        _decide(self, request, queryset, services.campus_entry_decide, False)

    @admin.action(description=_("Revoke selected approved entries (online gates at once, offline at their next sync)"),
                  permissions=["change"])
    def revoke(self, request, queryset):
        _each(self, request, queryset, lambda approval: services.campus_entry_revoke(actor=Actor.by_user(request.user),
                                                                                    approval=approval))


def _slot_list(testid: str, rows: list) -> str:
    if not rows:
        return "—"
    return format_html('<ul data-testid="{}">{}</ul>', testid, format_html_join(
        "", "<li>{} {}–{}</li>", ((label, slot.get("start", ""), slot.get("end", "")) for label, slot in rows)))


@admin.register(LabPermit)
class LabPermitAdmin(ScopedAdmin):
    list_display = ["person", "zone", "state", "valid_from", "valid_to", "requested_at", "decided_by"]
    list_filter = ["state", "zone"]
    search_fields = ["person__number", "person__name"]
    readonly_fields = ["institution", "person", "zone", "weekly_times", "dated_times", "valid_from", "valid_to",
                       "state", "purpose", "requested_at", "decided_by", "decided_at"]
    exclude = ["weekly_slots", "dated_slots"]  # shown readable (weekday names, dates) instead of their JSON
    actions = ["approve", "reject", "revoke"]
    decide_arg = "permit"
    list_select_related = ["person", "zone", "decided_by"]

    @admin.display(description=_("weekly slots"))
    def weekly_times(self, obj):
        """``[{"weekday": 0, …}]`` as "Monday 08:00–18:00" in the reader's language (#17 item 8)."""
        slots = sorted(obj.weekly_slots or [], key=lambda slot: (slot.get("weekday", 0), slot.get("start", "")))
        return _slot_list("weekly-slots", [(WEEKDAYS.get(slot.get("weekday"), "?"), slot) for slot in slots])

    @admin.display(description=_("dated slots"))
    def dated_times(self, obj):
        rows = []
        for slot in sorted(obj.dated_slots or [], key=lambda slot: (slot.get("date", ""), slot.get("start", ""))):
            try:
                day = dt.date.fromisoformat(slot.get("date", ""))
            except ValueError:
                label = slot.get("date", "?")
            else:
                label = f"{date_format(day, 'Y-m-d')} {WEEKDAYS[day.weekday()]}"
            rows.append((label, slot))
        return _slot_list("dated-slots", rows)

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        """Zone managers see the permits of their own zones (and of zones with no named managers)."""
        return pages.permits_visible(super().get_queryset(request), request.user)

    @admin.action(description=_("Approve selected permits"), permissions=["change"])
    def approve(self, request, queryset):
        _decide(self, request, queryset, services.lab_permit_decide, True)

    @admin.action(description=_("Reject selected permits"), permissions=["change"])
    def reject(self, request, queryset):
        _decide(self, request, queryset, services.lab_permit_decide, False)

    @admin.action(description=_("Revoke selected approved permits (online gates at once, offline at their next sync)"),
                  permissions=["change"])
    def revoke(self, request, queryset):
        _each(self, request, queryset, lambda permit: services.lab_permit_revoke(actor=Actor.by_user(request.user), permit=permit))


@admin.register(VisitorPass)
class VisitorPassAdmin(ReadOnlyAdmin):
    list_display = ["visitor_name", "host", "valid_from", "valid_to", "revoked_at", "created_at"]
    search_fields = ["visitor_name", "host__name", "host__number"]
    exclude = ["visitor_phone"]  # encrypted, shown masked (#18 item 7)
    readonly_fields = ["visitor_phone_masked"]
    actions = ["revoke"]

    @admin.display(description=_("visitor phone"))
    def visitor_phone_masked(self, obj):
        return mask_phone(obj.visitor_phone)

    @admin.action(description=_("Revoke selected passes (online gates at once, offline at next sync)"),
                  permissions=["view"])
    def revoke(self, request, queryset):
        if not request.user.has_perm("access.change_visitorpass"):
            self.message_user(request, _("You are not allowed to do this."), messages.ERROR)
            return
        for visitor_pass in queryset.filter(revoked_at=None):
            services.visitor_pass_revoke(actor=Actor.by_user(request.user), visitor_pass=visitor_pass)


@admin.register(VisitorInvite)
class VisitorInviteAdmin(ReadOnlyAdmin):
    list_display = ["purpose", "host", "max_visitors", "needs_approval", "expires_at", "revoked_at", "created_at"]
    search_fields = ["purpose", "host__name", "host__number"]
    exclude = ["token"]  # the link is the host's to share


@admin.register(VisitorRequest)
class VisitorRequestAdmin(ReadOnlyAdmin):
    list_display = ["visitor_name", "invite", "valid_from", "valid_to", "state", "requested_at", "decided_at"]
    list_filter = ["state"]
    search_fields = ["visitor_name", "invite__host__name"]  # the phone is encrypted (#18 item 7)
    exclude = ["token", "visitor_phone"]
    readonly_fields = ["visitor_phone_masked"]

    @admin.display(description=_("visitor phone"))
    def visitor_phone_masked(self, obj):
        return mask_phone(obj.visitor_phone)


class RotateKeyForm(forms.Form):
    """Nothing to fill for an institution's administrator (their institution); a platform admin picks one."""

    def __init__(self, data, *, user):
        super().__init__(data)
        if user.institution_id is None:
            from campuscard.core.selectors import institutions_visible

            self.fields["institution"] = forms.ModelChoiceField(
                label=_("Institution"), queryset=institutions_visible(user=user, action="view"))


@admin.register(AccessSigningKey)
class AccessSigningKeyAdmin(ReadOnlyAdmin):
    """The keys that sign visitor codes and offline snapshots: rotate (tool button) and retire old keys
    (action), both through ``access.keys`` and only with ``access.add_accesssigningkey``. Gates are
    provisioned with the public keys shown here (see ``access.offline`` on key continuity)."""

    list_display = ["institution", "key_id", "active", "created_at", "retired_at", "public_key"]
    list_filter = ["active", ("retired_at", admin.EmptyFieldListFilter)]
    fields = ["institution", "key_id", "public_key", "active", "created_at", "retired_at"]
    actions = ["retire"]
    change_list_template = "backoffice/with_tools_change_list.html"

    def has_manage_permission(self, request) -> bool:
        return request.user.is_active and request.user.has_perm(keys.MANAGE_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:access_accesssigningkey_rotate"), _("Rotate signing key"))]
                 if self.has_manage_permission(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("rotate/", view(self.rotate_view), name="access_accesssigningkey_rotate"), *super().get_urls()]

    def rotate_view(self, request):
        """GET: what rotating means; POST (CSRF): a new active key for the user's institution."""
        if not self.has_manage_permission(request) or (request.user.institution_id is None
                                                       and not request.user.is_superuser):
            raise PermissionDenied
        form = RotateKeyForm(request.POST if request.method == "POST" else None, user=request.user)
        if request.method == "POST" and form.is_valid():
            institution = form.cleaned_data.get("institution")
            institution_id = institution.pk if institution else request.user.institution_id
            try:
                key = keys.signing_key_rotate(actor=Actor.by_user(request.user), institution_id=institution_id)
            except DomainError as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(request, _("Key %(key_id)s now signs visitor codes and gate snapshots. Retire the "
                                            "old key once every offline gate has synced.") % {"key_id": key.key_id})
                return redirect("admin:access_accesssigningkey_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Rotate signing key"),
            "opts": self.model._meta, "submit": _("Rotate now"),
            "note": _("A new key will sign new visitor codes and gate snapshots. Older keys keep verifying until "
                      "you retire them; snapshots are signed by every key that is not retired, so offline gates "
                      "move to the new key at their next sync.")})

    @admin.action(description=_("Retire selected keys"), permissions=["manage"])
    def retire(self, request, queryset):
        _each(self, request, queryset.filter(retired_at=None), lambda key: keys.signing_key_retire(
            actor=Actor.by_user(request.user), institution_id=key.institution_id, key_id=key.key_id))


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ["decided_at", "zone", "person", "credential_kind", "admitted", "rule", "source", "device"]
    list_filter = ["admitted", "source", "credential_kind", "zone"]
    search_fields = ["person__number", "person__name", "rule"]
    date_hierarchy = "decided_at"
    list_select_related = ["zone", "person", "device"]
    change_list_template = "backoffice/with_tools_change_list.html"

    def changelist_view(self, request, extra_context=None):
        tools = [(reverse("admin:access_accessevent_search"), _("Security search"))]
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("search/", view(self.search_view), name="access_accessevent_search"),
                path("search/csv/", view(self.search_csv), name="access_accessevent_search_csv"),
                *super().get_urls()]

    def _search(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = EventSearchForm(request.GET or None, user=request.user)
        if not form.is_bound or not form.is_valid():
            return form, None, None
        data = form.cleaned_data
        time_zone = _time_zone(request.user, data.get("zone"))
        local = clock.zone(time_zone)
        start, end = data.get("start"), data.get("end")
        start = dt.datetime.combine(start, data.get("start_time") or dt.time(), local) if start else None
        if end and data.get("end_time"):  # up to that minute, inclusive
            end = dt.datetime.combine(end, data["end_time"], local) + dt.timedelta(minutes=1)
        elif end:  # the whole last day
            end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), local)
        rows = pages.events_search(request.user, number=data.get("number") or "", zone=data.get("zone"),
                                   start=start, end=end)
        return form, rows, time_zone

    def search_view(self, request):
        form, rows, time_zone = self._search(request)
        context = {**self.admin_site.each_context(request), "title": _("Security search"), "opts": self.model._meta,
                   "form": form, "time_zone": time_zone or "UTC"}
        if rows is not None:
            total = rows.count()
            context.update(total=total, limit=pages.SEARCH_LIMIT,
                           results=[pages.EventView(e, rule_message(e.rule)) for e in rows[:pages.SEARCH_LIMIT]],
                           csv_url=f"{reverse('admin:access_accessevent_search_csv')}?{request.GET.urlencode()}")
        return TemplateResponse(request, "backoffice/access_event_search.html", context)

    def search_csv(self, request):
        form, rows, time_zone = self._search(request)
        if rows is None:
            return HttpResponse("; ".join(str(e) for errors in form.errors.values() for e in errors) or "no query",
                                status=400, content_type="text/plain; charset=utf-8")
        response = HttpResponse(pages.events_csv(rows, time_zone), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="access-events.csv"'
        return response


def _time_zone(user, zone) -> str:
    if zone is not None:
        return zone.institution.time_zone
    institution = getattr(user, "institution", None)
    return institution.time_zone if institution is not None else "Asia/Shanghai"


class EventSearchForm(forms.Form):
    """Security staff's search: a person's number, a zone and a period in the zone's local time — days, or
    days and times of day (all optional, one needed)."""

    number = forms.CharField(label=_("Person number"), max_length=40, required=False)
    zone = forms.ModelChoiceField(label=_("Zone"), queryset=Zone.objects.none(), required=False)
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)
    start_time = forms.TimeField(label=_("From (time)"), required=False)
    end_time = forms.TimeField(label=_("To (time)"), required=False)

    def __init__(self, data, *, user):
        super().__init__(data)
        self.fields["zone"].queryset = restrict(Zone.objects.select_related("institution"), user, "view")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if not any(data.get(k) for k in ("number", "zone", "start", "end")):
            raise forms.ValidationError(_("Give a person number, a zone or a time range."))
        if (data.get("start_time") and not data.get("start")) or (data.get("end_time") and not data.get("end")):
            raise forms.ValidationError(_("A time of day needs its date."))
        if data.get("start") and data.get("end") and (
                (data["end"], data.get("end_time") or dt.time.max) < (data["start"], data.get("start_time") or dt.time())):
            self.add_error("end", _("The period ends before it starts."))
        return data
