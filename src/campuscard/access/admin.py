"""Back office for access control: zones, residences, approvals, permits, passes and the event log.

Simple scoped admins for now; decisions go through the services (approve/reject actions), so every
change is authorised and audited like the API's.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from campuscard.access import services
from campuscard.access.models import (
    AccessAddon,
    AccessEvent,
    AccessSigningKey,
    CampusEntryApproval,
    DormResidence,
    LabPermit,
    VisitorPass,
    Zone,
    ZoneException,
)
from campuscard.backoffice.scoped import ReadOnlyAdmin, ScopedAdmin
from campuscard.core.errors import DomainError


class ZoneExceptionInline(admin.TabularInline):
    model = ZoneException
    extra = 0


@admin.register(Zone)
class ZoneAdmin(ScopedAdmin):
    list_display = ["code", "name", "level", "campus", "building", "active"]
    list_filter = ["level", "active", "campus", "institution"]
    search_fields = ["code", "name"]
    filter_horizontal = ["gates", "managers"]
    inlines = [ZoneExceptionInline]


@admin.register(ZoneException)
class ZoneExceptionAdmin(ScopedAdmin):
    list_display = ["zone", "date", "closed", "open_from", "open_to", "note"]
    list_filter = ["closed", "zone"]
    date_hierarchy = "date"


@admin.register(DormResidence)
class DormResidenceAdmin(ScopedAdmin):
    list_display = ["person", "building", "room", "valid_from", "valid_to"]
    list_filter = ["building"]
    search_fields = ["person__number", "person__name", "room"]
    raw_id_fields = ["person"]


def _decide(admin_obj, request, queryset, decide, approve: bool) -> None:
    done = 0
    for obj in queryset:
        try:
            decide(actor=request.user, approve=approve, **{admin_obj.decide_arg: obj})
            done += 1
        except DomainError as refused:
            admin_obj.message_user(request, f"{obj}: {refused.message}", messages.ERROR)
    if done:
        admin_obj.message_user(request, _("%(count)d decided.") % {"count": done}, messages.SUCCESS)


@admin.register(CampusEntryApproval)
class CampusEntryApprovalAdmin(ScopedAdmin):
    list_display = ["person", "state", "reason", "requested_at", "decided_by", "decided_at"]
    list_filter = ["state"]
    search_fields = ["person__number", "person__name"]
    readonly_fields = ["institution", "person", "state", "reason", "requested_at", "decided_by", "decided_at"]
    actions = ["approve", "reject"]
    decide_arg = "approval"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve selected applications"), permissions=["change"])
    def approve(self, request, queryset):
        _decide(self, request, queryset, services.campus_entry_decide, True)

    @admin.action(description=_("Reject selected applications"), permissions=["change"])
    def reject(self, request, queryset):
        _decide(self, request, queryset, services.campus_entry_decide, False)


@admin.register(LabPermit)
class LabPermitAdmin(ScopedAdmin):
    list_display = ["person", "zone", "state", "valid_from", "valid_to", "requested_at", "decided_by"]
    list_filter = ["state", "zone"]
    search_fields = ["person__number", "person__name"]
    readonly_fields = ["institution", "person", "zone", "weekly_slots", "dated_slots", "valid_from", "valid_to",
                       "state", "purpose", "requested_at", "decided_by", "decided_at"]
    actions = ["approve", "reject"]
    decide_arg = "permit"

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Approve selected permits"), permissions=["change"])
    def approve(self, request, queryset):
        _decide(self, request, queryset, services.lab_permit_decide, True)

    @admin.action(description=_("Reject selected permits"), permissions=["change"])
    def reject(self, request, queryset):
        _decide(self, request, queryset, services.lab_permit_decide, False)


@admin.register(AccessAddon)
class AccessAddonAdmin(ReadOnlyAdmin):
    list_display = ["person", "addon", "granted_at", "revoked_at"]
    list_filter = ["addon"]
    search_fields = ["person__number", "person__name"]


@admin.register(VisitorPass)
class VisitorPassAdmin(ReadOnlyAdmin):
    list_display = ["visitor_name", "host", "valid_from", "valid_to", "revoked_at", "created_at"]
    search_fields = ["visitor_name", "host__name", "host__number"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke selected passes (online gates at once, offline at next sync)"),
                  permissions=["view"])
    def revoke(self, request, queryset):
        if not request.user.has_perm("access.change_visitorpass"):
            self.message_user(request, _("You are not allowed to do this."), messages.ERROR)
            return
        for visitor_pass in queryset.filter(revoked_at=None):
            services.visitor_pass_revoke(actor=request.user, visitor_pass=visitor_pass)


@admin.register(AccessSigningKey)
class AccessSigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["institution", "key_id", "active", "created_at"]
    fields = ["institution", "key_id", "public_key", "active", "created_at"]


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ["decided_at", "zone", "person", "credential_kind", "admitted", "rule", "source", "device"]
    list_filter = ["admitted", "source", "credential_kind", "zone"]
    search_fields = ["person__number", "person__name", "rule"]
    date_hierarchy = "decided_at"
    list_select_related = ["zone", "person", "device"]
