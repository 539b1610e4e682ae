from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("device_auth_failed", 401, _("The device could not be authenticated."))
register("device_revoked", 401, _("This device has been revoked."))
register("device_request_expired", 401, _("The request timestamp is outside the allowed window."))
register("device_request_replayed", 401, _("This request was already received (replay refused)."))
register("device_wrong_kind", 403, _("This kind of device cannot do that."))
register("kiosk_staff_go_to_window", 403, _("Staff are served at the Card Center's service window."))
