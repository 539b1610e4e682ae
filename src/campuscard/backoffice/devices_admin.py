"""Back office: the device registry (register with a secret shown once, revoke at once)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke


@admin.register(Device)
class DeviceAdmin(ScopedAdmin):
    list_display = ["code", "name", "kind", "service_point", "last_seen_at", "revoked_at", "institution"]
    list_filter = ["kind", "institution"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at", "last_seen_at", "revoked_at"]
    fields = ["institution", "kind", "code", "name", "service_point", "created_at", "last_seen_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        institution = obj.institution if request.user.is_superuser else request.user.institution
        device, secret = device_register(actor=Actor.by_user(request.user), institution=institution, kind=obj.kind,
                                         code=obj.code, name=obj.name, service_point=obj.service_point)
        obj.pk = device.pk
        messages.warning(request, _("Device secret (shown once, provision it on the device now): %(secret)s")
                         % {"secret": secret})

    @admin.action(description=_("Revoke selected devices (takes effect at once)"), permissions=["change"])
    def revoke(self, request, queryset):
        for device in queryset:
            device_revoke(actor=Actor.by_user(request.user), device=device)
