"""Back office for library loans (SVC-3): the loans the library system reported, and its CSV feed upload."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ReadOnlyAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.library import services
from campuscard.library.models import Loan


class FeedForm(forms.Form):
    file = forms.FileField(label=_("Loan file (CSV or XLSX: event, loan_id, number, barcode, title, at, due)"))


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin):
    """Loans are the library system's: read here, written only by its feed."""

    list_display = ["title", "barcode", "person", "loaned_at", "due_on", "returned_at", "reminded_at"]
    list_filter = [("returned_at", admin.EmptyFieldListFilter), ("reminded_at", admin.EmptyFieldListFilter),
                   "institution"]
    search_fields = ["person__number", "person__name", "barcode", "title", "external_id"]
    date_hierarchy = "due_on"
    list_select_related = ["person"]
    change_list_template = "backoffice/with_tools_change_list.html"

    def has_feed_permission(self, request) -> bool:
        return request.user.has_perm("library.add_loan") and bool(request.user.institution_id)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:library_loan_feed"), gettext("Upload the loan feed"))]
                 if self.has_feed_permission(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        return [path("feed/", self.admin_site.admin_view(self.feed_view), name="library_loan_feed"),
                *super().get_urls()]

    def feed_view(self, request):
        if not self.has_feed_permission(request):
            raise PermissionDenied
        form = FeedForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            institution = Institution.objects.get(pk=request.user.institution_id)
            try:
                report = services.loan_feed_apply_file(actor=Actor.by_user(request.user), institution=institution,
                                                       name=upload.name, stream=upload)
            except DomainError as refused:
                form.add_error("file", refused.message)
                for error in ((refused.details or {}).get("errors") or [])[:50]:
                    form.add_error("file", gettext("line %(line)s, %(column)s: %(message)s") % error)
            else:
                messages.success(request, _("Feed applied: %(loans)s loan(s), %(returns)s return(s), %(unchanged)s "
                                            "unchanged.") % report.as_dict())
                return redirect("admin:library_loan_changelist")
        return TemplateResponse(request, "backoffice/simple_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta, "multipart": True,
            "title": _("Upload the loan feed"), "submit": _("Apply"),
            "note": _("All rows or none. A loan sent again is stored once; sent with a new due date it is a renewal "
                      "(and is reminded again). Alumni keep their borrowing rights.")})
