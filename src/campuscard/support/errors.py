"""Refusals of the alerts (SUP-4), with translated messages."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("alert_kind_not_switchable", 422, _("These alerts cannot be switched off or do not exist: %(kinds)s"))
register("low_balance_threshold_invalid", 422, _("The low-balance threshold must be between ¥0.00 and %(max)s."))
