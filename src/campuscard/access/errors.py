"""Access refusal codes (the ``rule`` of a refused decision) and service errors, with translated messages."""

import functools

from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import DomainError, register

# Gate decisions: the rule that refused (status 403 when raised; gates get them as "rule").
register("refuse_credential_unknown", 403, _("Unknown card or code."))
register("refuse_credential_other_institution", 403, _("This card or code belongs to another institution."))
register("refuse_code_invalid", 403, _("This code is not valid."))
register("refuse_code_expired", 403, _("The code has expired. Refresh it and try again."))
register("refuse_code_replayed", 403, _("This code was already used. Refresh it and try again."))
register("refuse_code_offline_unsupported", 403,
         _("This gate is offline: use your physical card or a visitor code."))
register("refuse_card_lost", 403, _("This card has been reported lost."))
register("refuse_card_frozen", 403, _("This card is frozen."))
register("refuse_card_cancelled", 403, _("This card has been cancelled."))
register("refuse_card_replaced", 403, _("This card has been replaced by a new one."))
register("refuse_card_not_active", 403, _("This card is not active yet."))
register("refuse_holder_inactive", 403, _("The card holder is not currently registered."))
register("refuse_alumni_not_library", 403, _("Alumni cards open only the library."))
register("refuse_zone_inactive", 403, _("This entrance is not in service."))
register("refuse_zone_closed", 403, _("Closed today."))
register("refuse_zone_outside_hours", 403, _("Closed at this time today."))
register("refuse_dorm_night_not_resident", 403,
         _("Between %(start)s and %(end)s only residents of this building may enter."))
register("refuse_dorm_day_not_student", 403, _("Only students may enter dormitory buildings."))
register("refuse_lab_no_addon", 403, _("Laboratory access needs the lab add-on of your card package."))
register("refuse_lab_no_permit", 403, _("You have no approved lab permit for this time slot."))
register("refuse_no_campus_entry", 403,
         _("Your card has no approved campus entry yet. Apply for campus entry in the portal."))
register("refuse_visitor_forged", 403, _("This visitor code is not genuine."))
register("refuse_visitor_unknown", 403, _("Unknown visitor pass."))
register("refuse_visitor_revoked", 403, _("This visitor pass has been revoked."))
register("refuse_visitor_wrong_zone", 403, _("This visitor pass is not valid here."))
register("refuse_visitor_not_yet", 403, _("This visitor pass is not valid yet."))
register("refuse_visitor_expired", 403, _("This visitor pass has expired."))
register("refuse_snapshot_expired", 403,
         _("This gate has been offline too long to decide here. Please contact security."))

# Services.
register("zone_unknown", 404, _("Unknown zone."))
register("gate_device_required", 403, _("Only gate and door controllers may ask for access decisions."))
register("gate_zone_not_bound", 403, _("This gate does not guard that zone."))
register("credential_missing", 422, _("Present exactly one card, code or visitor code."))
register("campus_entry_open", 409, _("There is already an open or approved campus entry application."))
register("application_not_pending", 409, _("This application has already been decided."))
register("lab_zone_required", 422, _("Lab permits are for laboratory zones only."))
register("lab_addon_required", 409, _("Lab permits need the lab add-on of your card package."))
register("lab_slots_invalid", 422, _("The time slots are not valid: %(reason)s"))
register("lab_permit_not_approved", 409, _("Only an approved permit can be revoked."))
register("visitor_window_invalid", 422, _("The visit must end after it starts and last at most %(hours)s hours."))
register("visitor_too_far_ahead", 422, _("A visitor pass can start at most %(hours)s hours ahead."))
register("visitor_in_past", 422, _("A visitor pass cannot start in the past."))
register("visitor_zones_invalid", 422, _("Choose one or more zones that visitors may enter."))
register("visitor_host_not_allowed", 403, _("Only holders with an active card may invite visitors."))
register("visitor_pass_revoked", 409, _("This visitor pass is already revoked."))
register("visitor_invite_invalid", 404, _("This invitation link does not work (any more). Ask your host for a new one."))
register("visitor_invite_used_up", 409, _("This invitation link has been used by as many visitors as it allows."))
register("visitor_invite_hours", 422, _("An invitation link can work for at most %(hours)s hours."))
register("visitor_request_decided", 409, _("This visitor request has already been decided."))
register("visitor_request_expired", 409, _("The requested visit is already over."))
register("access_key_missing", 409, _("No signing key for access codes has been set up."))
register("access_key_unknown", 404, _("Unknown signing key."))
register("access_key_active", 409,
         _("The active signing key cannot be retired: rotate to a new key first, then retire the old one."))
register("campus_entry_not_approved", 409, _("Only an approved campus entry can be revoked."))
register("zone_exception_invalid", 422,
         _("Choose at least one zone and day (a year at most), and either closed all day or opening hours "
           "that end after they start."))
register("events_invalid", 422, _("The uploaded events are not valid: %(reason)s"))

ADMIT_MESSAGES = {
    "admit_teaching": _("Welcome."),
    "admit_library": _("Welcome to the library."),
    "admit_library_alumni": _("Welcome back to the library."),
    "admit_dorm_resident": _("Welcome home."),
    "admit_dorm_day": _("Welcome."),
    "admit_lab_permit": _("Lab permit valid. Welcome."),
    "admit_campus_entry": _("Welcome to campus."),
    "admit_other": _("Welcome."),
    "admit_visitor": _("Welcome, visitor."),
}


def rule_message(rule: str) -> str:
    """The translated message for any decision rule (admit or refuse), in the active language; the
    dormitory's night hours are the configured ones (``ACCESS_DORM_NIGHT``)."""
    return _message(rule, get_language(), tuple(settings.ACCESS_DORM_NIGHT))


@functools.cache
def _message(rule: str, language: str | None, night: tuple[str, str]) -> str:
    # a few dozen rules × two languages: translated once, not on every gate decision
    if rule in ADMIT_MESSAGES:
        return str(ADMIT_MESSAGES[rule])
    return DomainError(rule, start=night[0], end=night[1]).message
