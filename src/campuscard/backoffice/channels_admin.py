"""Outside channels bound to holders' cards (ID-6): operators list their institution's and revoke them."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.cards.channels import channel_binding_revoke
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.models import ChannelBinding


@admin.register(ChannelBinding)
class ChannelBindingAdmin(ScopedAdmin):
    list_display = ["channel", "person", "scope_list", "via", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["via", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["channel", "prefix", "person__number", "person__name"]
    list_select_related = ["person"]
    fields = ["person", "channel", "scope_list", "via", "prefix", "created_at", "last_used_at", "revoked_at",
              "revoked_by"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return "、".join(obj.scope_labels())

    def has_add_permission(self, request):
        return False  # a holder binds a channel (query password or portal); the token is theirs alone

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, not deleted: the history stays

    @admin.action(description=_("Revoke selected bindings (takes effect at once)"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for binding in queryset.select_related("person").filter(revoked_at=None):
            try:
                channel_binding_revoke(actor=Actor.by_user(request.user), binding=binding)
            except DomainError as error:
                messages.error(request, f"{binding}: {error.message}")
            else:
                revoked += 1
        messages.success(request, _("%(count)s bindings revoked.") % {"count": revoked})
