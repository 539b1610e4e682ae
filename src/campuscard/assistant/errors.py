"""Assistant refusals (SUP-1)."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("assistant_question_empty", 422, _("Please type a question."))
register("assistant_question_too_long", 422, _("Please ask in at most 500 characters."))
register("assistant_confirm_required", 409, _("Please confirm first: the card stops at once."))
register("assistant_institution_unknown", 404, _("No institution with this code."))
