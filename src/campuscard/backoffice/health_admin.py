"""Back office for health records (SVC-6).

Clinicians do not get a list of everyone's records: they look a holder up by number and open that holder's
records, and each opening goes through ``health.services.health_records_read``, which logs it (the holder
sees it in the portal). They also upload the hospital's CSV/XLSX export. The read log is for the
institution's administrators and auditors (``health.view_recordread``), never the records themselves.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.health import selectors, services
from campuscard.health.models import Examination, RecordRead
from campuscard.identity.models import Person


class LookupForm(forms.Form):
    number = forms.CharField(label=_("Student / staff number"), max_length=32, widget=UnfoldAdminTextInputWidget)
    purpose = forms.CharField(label=_("Purpose of this read (shown to the holder)"), max_length=200,
                              required=False, widget=UnfoldAdminTextInputWidget)


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Records"), choices=[("examinations", _("physical examinations")),
                                                          ("vaccinations", _("vaccinations"))],
                             widget=UnfoldAdminSelectWidget)
    file = forms.FileField(label=_("The hospital's export (CSV or XLSX, header line first)"),
                           widget=UnfoldAdminFileFieldWidget)


@admin.register(Examination)
class HealthRecordsAdmin(ScopedAdmin):
    """The clinician's entry: "Health records" in the menu opens the look-up, not a list."""

    def _clinician(self, request) -> bool:
        # the login page asks too, for an anonymous user (no institution)
        return services.is_clinician_of(user=request.user,
                                        institution_id=getattr(request.user, "institution_id", None))

    def has_module_permission(self, request):
        return self._clinician(request)

    def has_view_permission(self, request, obj=None):
        return self._clinician(request) and obj is None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("person/<int:pk>/", view(self.person_view), name="health_person"),
                path("import/", view(self.import_view), name="health_import"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if not self._clinician(request):
            raise PermissionDenied
        form = LookupForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                person = services.clinician_person(reader=request.user, number=form.cleaned_data["number"])
            except DomainError as refused:
                form.add_error("number", refused.message)
            else:
                url = reverse("admin:health_person", args=[person.pk])
                purpose = form.cleaned_data["purpose"]
                return redirect(f"{url}?{urlencode({'purpose': purpose})}" if purpose else url)
        return TemplateResponse(request, "backoffice/health_lookup.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "title": _("Health records"), "import_url": reverse("admin:health_import")})

    def person_view(self, request, pk: int):
        """One holder's records; opening this page is a read, logged and shown to the holder."""
        person = Person.objects.select_related("institution").filter(pk=pk).first()
        if person is None:
            raise PermissionDenied
        try:
            records = services.health_records_read(reader=request.user, person=person,
                                                   channel=RecordRead.Channel.BACKOFFICE,
                                                   purpose=request.GET.get("purpose", ""))
        except DomainError:
            raise PermissionDenied
        return TemplateResponse(request, "backoffice/health_person.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "person": person,
            "records": records, "title": f"{person.number} {person.name}",
            "reads": selectors.reads_of(person, limit=20), "lookup_url": reverse("admin:health_examination_changelist")})

    def import_view(self, request):
        user = request.user
        if not self._clinician(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = services.records_import(actor=Actor.by_user(user), institution=user.institution,
                                                 kind=form.cleaned_data["kind"], name=upload.name, stream=upload)
            except DomainError as refused:
                form.add_error(None, refused.message)
                for error in (refused.details or {}).get("errors", [])[:50]:
                    form.add_error(None, _("line %(line)s, %(column)s: %(message)s") % error)
            else:
                messages.success(request, _("%(created)d new, %(updated)d corrected, %(unchanged)d unchanged.")
                                 % report.as_dict())
                return redirect("admin:health_examination_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "multipart": True,
            "title": _("Import the hospital's records"), "submit": _("Import"),
            "note": _("All rows or none: a file with a bad row is refused whole, with every bad line listed. A "
                      "record number sent again replaces the stored record. The holders are notified.")})


@admin.register(RecordRead)
class RecordReadAdmin(ReadOnlyAdmin):
    """Who read whose health records, when and what (the records themselves are not here)."""

    list_display = ["read_at", "person", "reader_name", "what", "channel", "purpose"]
    list_filter = ["channel"]
    search_fields = ["person__number", "reader_name"]
    date_hierarchy = "read_at"
