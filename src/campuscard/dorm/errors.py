"""Refusals of the dorm services (SVC-5), with translated messages."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

# electricity
register("dorm_addon_missing", 403, _("Add the dorm electricity add-on to your card package first."))
register("dorm_room_missing", 404, _("You are not registered in a dorm room. Ask the dormitory office."))
register("dorm_room_not_found", 404, _("Unknown dorm room."))
register("dorm_topup_amount_invalid", 422, _("A top-up must be between %(min)s and %(max)s."))
register("dorm_topup_key_reused", 409, _("This top-up key was already used for another top-up."))
register("dorm_topup_not_found", 404, _("Unknown electricity top-up."))
register("dorm_topup_not_pending", 409, _("This top-up is no longer waiting for the meter."))
register("dorm_meter_mismatch", 409, _("The meter system applied a different amount of energy than was sold."))
register("dorm_meter_unknown", 404, _("No room has the meter %(meter)s."))
register("dorm_device_not_meter", 403, _("This device is not registered as the meter system."))
register("dorm_reading_invalid", 422, _("A reading needs a remaining and a total energy in Wh and a time."))
# laundry
register("laundry_addon_missing", 403, _("Add the laundry booking add-on to your card package first."))
register("laundry_not_resident", 403, _("Machines can be booked by residents of their building only."))
register("laundry_machine_not_found", 404, _("Unknown laundry machine."))
register("laundry_slot_invalid", 422, _("Choose one of the machine's slots."))
register("laundry_slot_past", 409, _("This slot is over."))
register("laundry_slot_too_far", 409, _("Slots can be booked at most %(days)s days ahead."))
register("laundry_slot_taken", 409, _("This slot is already booked. Choose another one."))
register("laundry_key_reused", 409, _("This booking key was already used for another slot."))
register("laundry_booking_not_found", 404, _("Unknown laundry booking."))
register("laundry_cancel_too_late", 409,
         _("Bookings can be cancelled with a refund until %(minutes)s minutes before the start."))
register("laundry_booking_not_open", 409, _("This booking can no longer be changed."))
register("laundry_device_not_machine", 403, _("This device is not registered as a laundry machine."))
register("laundry_no_booking_now", 403, _("This machine has no booking to start now."))
register("laundry_not_your_booking", 403, _("This machine is booked by someone else now."))
