"""Refusals of the study services (SVC-1, SVC-2), with translated messages."""

from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

# Seats (SVC-1)
register("seat_not_found", 404, _("Unknown seat."))
register("seat_taken", 409, _("This seat is taken for that time. Choose another seat or time."))
register("seat_holder_busy", 409, _("You already hold a seat for that time."))
register("seat_slot_invalid", 422, _("Choose a time slot that ends after it starts, within %(hours)s hours."))
register("seat_slot_past", 422, _("This time slot has already ended."))
register("seat_slot_too_far", 422, _("Seats can be booked at most %(days)s days ahead."))
register("seat_booking_not_found", 404, _("Unknown booking."))
register("seat_booking_not_open", 409, _("This booking can no longer be changed."))
register("seat_no_card", 403, _("You need an active campus card to use the study rooms."))
register("study_room_inactive", 409, _("This study room is not open for booking."))
# Exam check-in (SVC-2)
register("exam_not_found", 404, _("Unknown exam session."))
register("exam_room_not_found", 404, _("Unknown exam room."))
register("exam_not_invigilator", 403, _("You are not an invigilator of this room."))
register("exam_checkin_not_open", 409, _("Check-in opens at %(opens)s."))
register("exam_checkin_closed", 409, _("This exam has ended; check-in is closed."))
register("exam_not_on_roster", 404, _("%(name)s is not on the roster of this exam."))
register("exam_wrong_room", 409, _("Wrong room: %(name)s sits this exam in room %(room)s."))
register("exam_pay_code_refused", 422,
         _("That is a payment code. Show the exam check-in code from the portal, or tap your card."))
register("exam_code_invalid", 422, _("This check-in code is not valid."))
register("exam_code_expired", 422, _("This check-in code has expired: refresh it in the portal."))
register("exam_credential_missing", 422, _("Tap a card or scan a check-in code."))
register("exam_roster_unreadable", 422, _("The roster file could not be read: %(reason)s"))
register("exam_roster_invalid", 422, _("The roster has errors; nothing was imported."))
