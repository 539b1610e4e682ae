"""Back office: the card-application review queue (APP-5) — the evidence (documents through the
protected view, the face score and reason, the liveness frames while undecided), approve / reject
with a reason from the application's page, and bulk approval of the applications whose automatic
checks all passed. Every decision is an ``enrollment.services`` call; nothing is saved by a form."""

from __future__ import annotations

import base64

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.privacy import mask_phone
from campuscard.enrollment import selectors, services
from campuscard.enrollment.models import Application, FaceAttempt

FRAMES_SHOWN = 12  # of at most 30 a attempt: enough to see the blink and the nod


def _frames(attempt: FaceAttempt) -> list[bytes]:
    """The decrypted liveness frames of an attempt (APP-3, PIPL: they exist only while undecided)."""
    if not attempt.frames:
        return []
    from campuscard.enrollment import crypto

    try:
        return crypto.unpack(crypto.decrypt(attempt.frames))
    except Exception:  # noqa: BLE001 - a frame set that does not decrypt is shown as its count only
        return []


def _report(request, approved, refused) -> None:
    for application, error in refused:
        messages.error(request, f"{application.person}: {error.message}")
    if approved:
        messages.success(request, _("%(count)s application(s) approved; the cards are active.") % {
            "count": len(approved)})


@admin.register(Application)
class ApplicationAdmin(ScopedAdmin):
    list_display = ["person", "number", "state", "checks", "face_state", "face_distance", "submitted_at", "collect"]
    list_filter = ["state", "checks_passed", "face_state", "collect"]
    search_fields = ["person__number", "person__name"]  # the phone is encrypted (#18 item 7)
    list_select_related = ["person"]
    actions = ["approve_passed"]
    change_form_template = "backoffice/enrollment_application_change_form.html"
    change_list_template = "backoffice/enrollment_application_change_list.html"
    fields = readonly_fields = [
        "person", "state", "checks_summary", "id_checked_at", "status_proof", "phone_masked", "phone_verified_at",
        "documents_links", "photo_link", "face_state", "face_distance", "face_reason_shown", "frames_view",
        "addons_display", "collect_where", "biometric_consent_at", "submitted_at", "decided_at", "decided_by", "reason",
        "card"]

    def get_ordering(self, request):
        review_first = Case(When(state=Application.State.REVIEW, then=Value(0)), default=Value(1),
                            output_field=IntegerField())
        return [review_first.asc(), "submitted_at", "-created_at"]

    def has_add_permission(self, request):
        return False  # holders apply in the portal

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("mobile phone"))
    def phone_masked(self, obj):
        """Masked (#18 item 7): the entitled see it whole on the person page, audited."""
        return mask_phone(obj.phone) or "—"

    @admin.display(description=_("number"), ordering="person__number")
    def number(self, obj):
        return obj.person.number

    @admin.display(description=_("automatic checks"), ordering="checks_passed")
    def checks(self, obj):
        if obj.checks_passed is None:
            return "—"
        return _("all passed") if obj.checks_passed else ", ".join(
            str(selectors.CHECK_LABELS.get(c, c)) for c in obj.checks_failed)

    @admin.display(description=_("automatic checks"))
    def checks_summary(self, obj):
        return self.checks(obj)

    @admin.display(description=_("documents"))
    def documents_links(self, obj):
        documents = selectors.documents_of(application=obj)
        if not documents:
            return _("none required") if not selectors.required_documents(person=obj.person) else _("missing")
        return format_html_join(" · ", '<a href="{}" target="_blank" class="text-primary-600">{}</a>',
                                ((reverse("portal:apply_document", args=[d.pk]), d.get_kind_display())
                                 for d in documents))

    @admin.display(description=_("certificate photo"))
    def photo_link(self, obj):
        from campuscard.cards.selectors import photo_status

        latest = photo_status(obj.person)["latest"]
        if latest is None:
            return "—"
        return format_html('<img src="{}" style="max-height:160px;border-radius:8px"> {}', latest.image.url,
                           latest.get_state_display())

    @admin.display(description=_("face-check reason"))
    def face_reason_shown(self, obj):
        return selectors.face_reason_text(application=obj) or "—"

    @admin.display(description=_("liveness frames"))
    def frames_view(self, obj):
        attempts = list(FaceAttempt.objects.filter(application=obj).order_by("-created_at")[:1])
        if not attempts:
            return "—"
        attempt = attempts[0]
        if obj.state not in Application.OPEN_STATES or not attempt.frames:
            return _("deleted once the application was decided (%(count)s frames)") % {"count": attempt.frame_count}
        frames = _frames(attempt)
        if not frames:
            return _("%(count)s frames (encrypted)") % {"count": attempt.frame_count}
        return format_html_join("", '<img src="data:image/jpeg;base64,{}" style="height:96px;margin:2px;'
                                    'border-radius:6px;display:inline-block">',
                                ((base64.b64encode(frame).decode(),) for frame in frames[:FRAMES_SHOWN]))

    @admin.display(description=_("add-ons"))
    def addons_display(self, obj):
        from campuscard.cards.models import PackageAddon

        labels = dict(PackageAddon.Addon.choices)
        return " · ".join(str(labels.get(a, a)) for a in obj.addons) or "—"

    @admin.display(description=_("collect the card at"))
    def collect_where(self, obj):
        return f"{obj.get_collect_display()}: {selectors.collect_where(application=obj)}"

    @admin.action(description=_("Approve those whose automatic checks all passed"), permissions=["change"])
    def approve_passed(self, request, queryset):
        approved, refused = services.applications_approve_passed(
            actor=Actor.by_user(request.user), applications=list(queryset.select_related("person")))
        _report(request, approved, refused)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        application = self.get_object(request, object_id)
        if (application is not None and application.state == Application.State.REVIEW
                and self.has_change_permission(request, application)):
            extra_context["approve_url"] = reverse("admin:enrollment_application_approve", args=[application.pk])
            extra_context["reject_url"] = reverse("admin:enrollment_application_reject", args=[application.pk])
            from campuscard.cards.selectors import photo_status

            photos = photo_status(application.person)
            extra_context["photo_pending"] = photos["approved"] is None and photos["latest"] is not None
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        if self.has_change_permission(request):
            queue = selectors.review_queue(user=request.user)
            extra_context["passed_count"] = queue.filter(checks_passed=True).count()
            extra_context["approve_passed_url"] = reverse("admin:enrollment_application_approve_passed")
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:pk>/approve/", view(require_POST(self.approve_view)), name="enrollment_application_approve"),
                path("<int:pk>/reject/", view(require_POST(self.reject_view)), name="enrollment_application_reject"),
                path("approve-passed/", view(require_POST(self.approve_passed_view)),
                     name="enrollment_application_approve_passed"),
                *super().get_urls()]

    def _one(self, request, pk: int) -> Application:
        application = get_object_or_404(self.get_queryset(request).select_related("person"), pk=pk)
        if not self.has_change_permission(request, application):
            raise PermissionDenied
        return application

    def approve_view(self, request, pk: int):
        application = self._one(request, pk)
        try:
            approved = services.application_approve(actor=Actor.by_user(request.user), application=application)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:enrollment_application_change", pk)
        messages.success(request, _("Approved: card %(number)s is active for %(person)s.") % {
            "number": approved.card.number, "person": approved.person})
        return redirect("admin:enrollment_application_changelist")

    def reject_view(self, request, pk: int):
        application = self._one(request, pk)
        try:
            services.application_reject(actor=Actor.by_user(request.user), application=application,
                                        reason=request.POST.get("reason", ""))
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:enrollment_application_change", pk)
        messages.success(request, _("Rejected; the holder is notified."))
        return redirect("admin:enrollment_application_changelist")

    def approve_passed_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        queue = selectors.review_queue(user=request.user).filter(checks_passed=True)
        approved, refused = services.applications_approve_passed(actor=Actor.by_user(request.user),
                                                                 applications=list(queue))
        if not approved and not refused:
            messages.info(request, _("No application waiting for review has passed every automatic check."))
        _report(request, approved, refused)
        return redirect("admin:enrollment_application_changelist")
