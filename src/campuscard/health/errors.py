"""Health-record refusals (SVC-6)."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("health_forbidden", 403,
         _("Health records are shown only to their holder and to the clinicians of the holder's institution."))
register("health_person_unknown", 404, _("No holder with this number at your institution."))
register("health_records_invalid", 422, _("%(count)s record(s) are not valid; nothing was stored."))
register("health_kind_unknown", 422, _("Unknown kind of health record: %(kind)s."))
