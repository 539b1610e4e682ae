"""Back office: the registrar's photos (APP-3) — which students have one and whether a face was found,
and a ZIP upload (photos named by student number) for when the registrar's feed missed someone. The
photos and embeddings stay encrypted; nothing here shows them. Imports go through ``enrollment.registrar``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.enrollment import registrar
from campuscard.enrollment.models import RegistrarPhoto

ERRORS_SHOWN = 50


class PhotosZipForm(forms.Form):
    file = forms.FileField(label=_("ZIP of photos named by student number (2026000001.jpg …)"))
    institution = forms.ModelChoiceField(Institution.objects.all(), required=False, label=_("institution"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None and not user.is_superuser:
            del self.fields["institution"]


@admin.register(RegistrarPhoto)
class RegistrarPhotoAdmin(ScopedAdmin):
    list_display = ["person", "number", "face_found", "source", "imported_at"]
    list_filter = ["source", ("embedding", admin.EmptyFieldListFilter)]
    search_fields = ["person__number", "person__name"]
    fields = ["person", "source", "imported_at", "face_found"]
    readonly_fields = fields
    list_select_related = ["person"]
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("number"), ordering="person__number")
    def number(self, obj):
        return obj.person.number

    @admin.display(description=_("face found"), boolean=True)
    def face_found(self, obj):
        return obj.embedding is not None

    def has_add_permission(self, request):
        return False  # photos come from the registrar's feed or the ZIP upload, never typed in

    def has_upload_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.has_perm("enrollment.add_registrarphoto") and \
            user.has_perm("enrollment.change_registrarphoto") and (user.is_superuser or user.institution_id)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:enrollment_registrarphoto_upload"), _("Upload a ZIP of photos"))]
                 if self.has_upload_permission(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("upload/", view(self.upload_view), name="enrollment_registrarphoto_upload"),
                *super().get_urls()]

    def upload_view(self, request):
        if not self.has_upload_permission(request):
            raise PermissionDenied
        form = PhotosZipForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            institution = form.cleaned_data.get("institution") or request.user.institution
            if institution is None:
                form.add_error("institution", _("Choose the institution."))
            else:
                try:
                    report = registrar.registrar_photos_import(
                        actor=Actor.by_user(request.user), institution=institution, file=form.cleaned_data["file"])
                except DomainError as refused:
                    form.add_error("file", refused.message)
                else:
                    messages.success(request, _("%(count)s photo(s) imported.") % {"count": report.imported})
                    for name, _code, message in report.errors[:ERRORS_SHOWN]:
                        messages.error(request, f"{name}: {message}")
                    if len(report.errors) > ERRORS_SHOWN:
                        messages.error(request, _("… and %(count)s more refused.") % {
                            "count": len(report.errors) - ERRORS_SHOWN})
                    return redirect("admin:enrollment_registrarphoto_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "title": _("Upload registrar photos"),
            "opts": self.model._meta, "submit": _("Import"), "multipart": True,
            "note": _("Each photo must show one face. Each file is imported whole or refused with the reason; the "
                      "face is measured once now and stored encrypted for the applicants' face checks.")})
