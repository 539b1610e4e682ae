from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("transit_terms_required", 422, _("Accept the bus service's terms to bind the card."))
register("transit_card_cannot_ride", 403, _("This card cannot pay bus fares (only active cards that can pay)."))
register("transit_already_bound", 409, _("This card is already bound to the buses."))
register("transit_not_bound", 404, _("This card is not bound to the buses."))
register("transit_no_nfc", 409, _("Bind a physical card (NFC) first: bus validators read the card."))
register("transit_no_phone", 409, _("This card has no phone credential yet: turn on the phone card (HCE) first."))
register("transit_medium_required", 422, _("Choose the physical card, the phone or both."))
register("transit_phone_code_invalid", 422, _("The phone's one-time code does not match the time of the tap."))
register("transit_phone_code_reused", 409, _("This phone code already paid for a ride: each code pays once."))
register("transit_validator_required", 403, _("This device is not registered as a bus validator."))
register("transit_batch_too_large", 413, _("At most %(max)s taps per upload."))
register("transit_tap_invalid", 422, _("Tap %(index)s is not valid: %(problem)s"))
register("transit_tap_not_found", 404, _("No such bus ride."))
register("transit_dispute_window_closed", 409, _("Disputes are possible within %(hours)s hours of the ride being posted."))
register("transit_dispute_exists", 409, _("This ride already has a dispute."))
register("transit_dispute_not_open", 409, _("This dispute has already been decided."))
register("transit_dispute_not_charged", 409, _("Only a charged ride can be disputed."))
register("transit_operator_not_found", 404, _("No such bus operator."))
register("tap_allowance_used", 402, _("The wallet is below zero (%(available)s): recharge before riding again."))
