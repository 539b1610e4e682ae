"""Back office for the assistant (SUP-1): the knowledge base operators edit (the assistant's index follows
at once), and the questions it was unsure about, to improve the entries from."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.assistant import services
from campuscard.assistant.models import Entry, Question
from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.core.models import Institution


@admin.register(Entry)
class EntryAdmin(ScopedAdmin):
    list_display = ["title", "title_en", "slug", "published", "updated_at", "page"]
    list_filter = ["published", "institution"]
    search_fields = ["slug", "title", "title_en", "body", "body_en", "keywords"]
    fields = ["institution", "slug", "title", "title_en", "body", "body_en", "keywords", "examples", "link",
              "published"]
    change_list_template = "backoffice/with_tools_change_list.html"

    @admin.display(description=_("portal page"))
    def page(self, obj: Entry):
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', services.entry_url(entry=obj), obj.slug)

    def has_seed_permission(self, request) -> bool:
        return request.user.has_perm("assistant.add_entry") and bool(request.user.institution_id)

    def changelist_view(self, request, extra_context=None):
        tools = ([(reverse("admin:assistant_entry_seed"), gettext("Add the starting entries that are missing"))]
                 if self.has_seed_permission(request) else [])
        return super().changelist_view(request, {**(extra_context or {}), "tools": tools})

    def get_urls(self):
        return [path("seed/", self.admin_site.admin_view(self.seed_view), name="assistant_entry_seed"),
                *super().get_urls()]

    def seed_view(self, request):
        if not self.has_seed_permission(request):
            raise PermissionDenied
        # only the missing slugs are added, so following the link twice changes nothing
        added = services.knowledge_base_seed(institution=Institution.objects.get(pk=request.user.institution_id))
        messages.success(request, gettext("%(n)d starting entries added.") % {"n": added})
        return redirect("admin:assistant_entry_changelist")


class ToImprove(admin.SimpleListFilter):
    title = _("to improve")
    parameter_name = "to_improve"

    def lookups(self, request, model_admin):
        return [("yes", _("unsure, not reviewed"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(outcome=Question.Outcome.UNSURE, reviewed=False)
        return queryset


@admin.register(Question)
class QuestionAdmin(ScopedAdmin):
    list_display = ["asked_at", "text", "outcome", "entry", "coverage_shown", "language", "channel", "reviewed"]
    list_filter = [ToImprove, "outcome", "reviewed", "language", "channel", "institution"]
    search_fields = ["text"]
    date_hierarchy = "asked_at"
    list_select_related = ["entry"]
    readonly_fields = ["institution", "person", "text", "language", "channel", "outcome", "entry", "score", "coverage",
                       "asked_at"]
    actions = ["teach", "mark_reviewed"]

    @admin.display(description=_("coverage"), ordering="coverage")
    def coverage_shown(self, obj: Question) -> str:
        return f"{obj.coverage:.0%}"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Add to the best entry's ways of asking"), permissions=["change"])
    def teach(self, request, queryset):
        if not request.user.has_perm("assistant.change_entry"):
            raise PermissionDenied
        n = services.questions_teach(questions=queryset)
        messages.success(request, gettext("%(n)d entries learned new ways of asking.") % {"n": n})

    @admin.action(description=_("Mark as reviewed"), permissions=["change"])
    def mark_reviewed(self, request, queryset):
        n = services.question_review(questions=queryset)
        messages.success(request, gettext("%(n)d questions marked as reviewed.") % {"n": n})
