"""Refusals of the library feed (SVC-3), with translated messages."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("library_feed_invalid", 422, _("The loan feed has errors; nothing was recorded."))
register("library_feed_unreadable", 422, _("The loan file could not be read: %(reason)s"))
register("library_patron_unknown", 404, _("No holder with this number or card."))
