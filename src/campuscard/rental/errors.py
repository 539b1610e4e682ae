"""Equipment-rental refusals (SVC-4)."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("rental_item_unknown", 404, _("No equipment item with this code here."))
register("rental_item_inactive", 409, _("This item is out of service."))
register("rental_item_out", 409, _("This item is already checked out; return it first."))
register("rental_key_reused", 409, _("This check-out key was already used for another check-out."))
register("rental_key_invalid", 422, _("A check-out key is 1 to 56 letters, digits and . _ : -."))
register("rental_not_found", 404, _("No such rental."))
register("rental_card_kind", 403, _("This card cannot borrow equipment (students and staff only)."))
register("rental_offline_code", 403, _("The desk is online: show your live pay code or tap your card, not an offline code."))
register("rental_not_identified", 409, _("Identify the holder first (their card or pay code)."))
