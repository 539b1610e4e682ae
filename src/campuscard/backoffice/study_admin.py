"""Back office for the study services (SVC-1, SVC-2): study rooms with their seats, the printable QR sheet
and occupancy by hour; exam sessions with rooms, invigilators, roster import and the attendance export.
Writes go through ``study.services`` (authorised and audited)."""

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
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.widgets import UnfoldAdminTextInputWidget

from campuscard.backoffice.access_admin import _COUNT_BARS
from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.cards.selectors import qr_svg
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.study import selectors, services
from campuscard.study.models import ExamEntry, ExamRoom, ExamSession, Seat, SeatBooking, StudyRoom


class SeatInline(TabularInline):
    model = Seat
    extra = 0
    fields = ["label", "active"]


class SeatsForm(forms.Form):
    labels = forms.CharField(label=_("Seat labels"), widget=UnfoldAdminTextInputWidget,
                             help_text=_("A range like A1-A40, or labels separated by commas"))

    def clean_labels(self):
        text = self.cleaned_data["labels"].strip()
        labels: list[str] = []
        for part in text.replace("，", ",").split(","):
            part = part.strip()
            head, sep, tail = part.partition("-")
            prefix = head.rstrip("0123456789")
            if sep and head[len(prefix):].isdigit() and tail.lstrip(prefix).isdigit():
                first, last = int(head[len(prefix):]), int(tail.lstrip(prefix))
                if last < first or last - first > 500:
                    raise forms.ValidationError(_("A range of at most 500 seats."))
                labels += [f"{prefix}{n}" for n in range(first, last + 1)]
            elif part:
                labels.append(part[:20])
        if not labels:
            raise forms.ValidationError(_("Name at least one seat."))
        return labels


@admin.register(StudyRoom)
class StudyRoomAdmin(ScopedAdmin):
    list_display = ["code", "name", "location", "active", "seat_count", "tools"]
    list_filter = ["active", "institution"]
    search_fields = ["code", "name"]
    inlines = [SeatInline]

    @admin.display(description=_("seats"))
    def seat_count(self, obj):
        return obj.seats.count()

    @admin.display(description=_("tools"))
    def tools(self, obj):
        return format_html('<a href="{}" class="text-primary-600 font-medium" id="qr-sheet-{}">{}</a> · '
                           '<a href="{}" class="text-primary-600 font-medium" id="occupancy-{}">{}</a> · '
                           '<a href="{}" class="text-primary-600 font-medium" id="add-seats-{}">{}</a>',
                           reverse("admin:study_studyroom_qr_sheet", args=[obj.pk]), obj.code, gettext("QR sheet"),
                           reverse("admin:study_studyroom_occupancy", args=[obj.pk]), obj.code,
                           gettext("Occupancy by hour"),
                           reverse("admin:study_studyroom_add_seats", args=[obj.pk]), obj.code, gettext("Add seats"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/qr-sheet/", view(self.qr_sheet_view), name="study_studyroom_qr_sheet"),
                path("<int:pk>/occupancy/", view(self.occupancy_view), name="study_studyroom_occupancy"),
                path("<int:pk>/add-seats/", view(self.add_seats_view), name="study_studyroom_add_seats"),
                *super().get_urls()]

    def _room(self, request, pk: int) -> StudyRoom:
        return get_object_or_404(self.get_queryset(request).select_related("institution"), pk=pk)

    def qr_sheet_view(self, request, pk: int):
        """One printable page per room: each seat's QR (the portal link the phone opens) and its label."""
        room = self._room(request, pk)
        seats = [(seat, qr_svg(request.build_absolute_uri(reverse("portal:study_seat", args=[seat.token])), scale=4))
                 for seat in room.seats.filter(active=True).order_by("label")]
        return TemplateResponse(request, "backoffice/study_qr_sheet.html", {"room": room, "seats": seats})

    def add_seats_view(self, request, pk: int):
        room = self._room(request, pk)
        if not request.user.has_perm("study.add_seat"):
            raise PermissionDenied
        form = SeatsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            count = services.study_room_seats_add(actor=Actor.by_user(request.user), room=room,
                                                  labels=form.cleaned_data["labels"])
            messages.success(request, _("%(count)s seat(s) added.") % {"count": count})
            return redirect("admin:study_studyroom_change", room.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
            "title": _("Add seats to %(room)s") % {"room": room.name}, "submit": _("Add seats")})

    def occupancy_view(self, request, pk: int):
        """Seats in use per hour of a day (and bookings released unused), institution time."""
        room = self._room(request, pk)
        time_zone = room.institution.time_zone
        try:
            day = dt.date.fromisoformat(request.GET.get("day", ""))
        except ValueError:
            day = clock.local_date(room.institution)
        counts = selectors.occupancy_by_hour(room, day, time_zone)
        seats = room.seats.filter(active=True).count()
        chart = {"labels": [f"{h:02d}:00" for h in range(24)], "datasets": [
            {"label": gettext("Seats in use"), "data": counts["used"], "backgroundColor": "#2f80d1",
             "maxBarThickness": 28, "borderRadius": 4, "stack": "used"},
            {"label": gettext("Released unused"), "data": counts["released"], "backgroundColor": "#d0463b",
             "maxBarThickness": 28, "borderRadius": 4, "stack": "released"}]}
        peak = max(counts["used"])
        context = {**self.admin_site.each_context(request), "title": _("Occupancy by hour"), "opts": self.model._meta,
                   "room": room, "day": day, "chart": json.dumps(chart), "chart_options": json.dumps(_COUNT_BARS),
                   "time_zone": time_zone,
                   "kpis": [(_("Seats"), seats), (_("Most seats in use"), peak),
                            (_("Peak occupancy"), f"{round(100 * peak / seats)} %" if seats else "—"),
                            (_("Released unused"), sum(counts["released"]))],
                   "previous": (day - dt.timedelta(days=1)).isoformat(), "next": (day + dt.timedelta(days=1)).isoformat()}
        return TemplateResponse(request, "backoffice/study_occupancy.html", context)


@admin.register(SeatBooking)
class SeatBookingAdmin(ReadOnlyAdmin):
    list_display = ["seat", "person", "starts_at", "ends_at", "state", "checked_in_at"]
    list_filter = ["state", "seat__room"]
    search_fields = ["person__number", "person__name", "seat__label"]
    date_hierarchy = "starts_at"
    list_select_related = ["seat__room", "person"]


class ExamRoomInline(TabularInline):
    model = ExamRoom
    extra = 0
    fields = ["code", "invigilators"]
    filter_horizontal = ["invigilators"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        """Invigilators from the operator's own institution only (TEN-1)."""
        if not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                institution_id=request.user.institution_id, groups__name="invigilator")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class RosterForm(forms.Form):
    file = forms.FileField(label=_("Roster file (CSV or XLSX: number/学号, room/考场, seat/座位)"))


@admin.register(ExamSession)
class ExamSessionAdmin(ScopedAdmin):
    list_display = ["code", "title", "starts_at", "ends_at", "attendance", "tools"]
    search_fields = ["code", "title"]
    list_filter = ["institution"]
    date_hierarchy = "starts_at"
    inlines = [ExamRoomInline]

    @admin.display(description=_("present / roster"))
    def attendance(self, obj):
        entries = obj.entries.all()
        return f"{entries.exclude(checked_in_at=None).count()} / {entries.count()}"

    @admin.display(description=_("tools"))
    def tools(self, obj):
        return format_html('<a href="{}" class="text-primary-600 font-medium" id="roster-{}">{}</a> · '
                           '<a href="{}" class="text-primary-600 font-medium" id="export-{}">{}</a>',
                           reverse("admin:study_examsession_roster", args=[obj.pk]), obj.code, gettext("Import roster"),
                           reverse("admin:study_examsession_export", args=[obj.pk]), obj.code,
                           gettext("Attendance (CSV)"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/roster/", view(self.roster_view), name="study_examsession_roster"),
                path("<int:pk>/attendance.csv", view(self.export_view), name="study_examsession_export"),
                *super().get_urls()]

    def roster_view(self, request, pk: int):
        session = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("study.add_examentry"):
            raise PermissionDenied
        form = RosterForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = services.exam_roster_import_file(actor=Actor.by_user(request.user), session=session,
                                                          name=upload.name, stream=upload)
            except DomainError as refused:
                form.add_error("file", refused.message)
                for error in ((refused.details or {}).get("errors") or [])[:50]:
                    form.add_error("file", gettext("line %(line)s, %(column)s: %(message)s") % error)
            else:
                messages.success(request, _("Roster imported: %(created)s added, %(updated)s moved, %(rooms)s room(s) "
                                            "created.") % {"created": report.created, "updated": report.updated,
                                                           "rooms": report.rooms_created})
                return redirect("admin:study_examsession_change", session.pk)
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta, "multipart": True,
            "title": _("Import the roster of %(exam)s") % {"exam": session}, "submit": _("Import"),
            "note": _("All rows or none: a file with any bad row is refused with each row's line. Rooms named in the "
                      "file are created; a holder already on the roster is moved to the room and seat of the file.")})

    def export_view(self, request, pk: int):
        session = get_object_or_404(self.get_queryset(request).select_related("institution"), pk=pk)
        response = HttpResponse(selectors.attendance_csv(session), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="attendance-{session.code}.csv"'
        return response


@admin.register(ExamEntry)
class ExamEntryAdmin(ScopedAdmin):
    list_display = ["person", "session", "room", "seat", "checked_in_at", "method", "checked_in_by"]
    list_filter = ["session", "room__code", ("checked_in_at", admin.EmptyFieldListFilter)]
    search_fields = ["person__number", "person__name"]
    list_select_related = ["person", "session", "room", "checked_in_by"]
    readonly_fields = ["checked_in_at", "checked_in_by", "method"]
    raw_id_fields = ["person"]

    def get_queryset(self, request):
        """Invigilators see the roster of the rooms they are named for."""
        qs = super().get_queryset(request)
        user = request.user
        if user.is_superuser or user.has_perm("study.change_examsession"):
            return qs
        return qs.filter(room__invigilators=user)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_superuser or request.user.has_perm("study.change_examsession"):
            return fields
        return [*fields, "session", "room", "person", "seat"]  # invigilators look, the scanner records

    def has_add_permission(self, request):
        return False  # rosters come from the academic system (file or API)
