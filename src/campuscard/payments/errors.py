from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("recharge_amount_invalid", 422, _("A recharge must be between %(min)s and %(max)s."))
register("recharge_not_found", 404, _("No such recharge order."))
register("gateway_unknown", 404, _("Unknown payment gateway: %(provider)s"))
register("gateway_signature_invalid", 401, _("The gateway notification's signature is not valid."))
register("gateway_timestamp_invalid", 401, _("The gateway notification is too old or from the future."))
register("gateway_amount_mismatch", 409, _("The paid amount does not match the order."))
register("holder_not_found", 404, _("No cardholder with that number."))
register("wallet_missing", 404, _("This cardholder has no wallet yet."))
register("payment_amount_invalid", 422, _("The amount must be positive."))
register("payment_not_allowed", 403, _("This card cannot be used for payments."))
register("txn_id_invalid", 422, _("A transaction id is 1 to 64 letters, digits and . _ : - (starting with a letter or digit)."))
register("daily_limit_exceeded", 403, _("Over today's spending limit: %(remaining)s left today."))
register("payment_password_required", 403, _("Payments above %(limit)s need the payment password."))
register("payment_password_incorrect", 403, _("Wrong payment password; %(left)s attempts left today."))
register("payment_password_locked", 403,
         _("Payments with password are locked until tomorrow after 5 wrong passwords (or unlock at the window)."))
register("payment_password_expired", 403,
         _("The payment password is due for its monthly change. Change it in the portal first."))
register("payment_password_unset", 403, _("Set a payment password in the portal first."))
register("offline_code_over_limit", 403, _("Offline codes are good only up to %(limit)s."))
register("terminal_unknown", 403, _("This device is not registered as a POS terminal."))
register("payment_not_found", 404, _("No such payment."))
register("payment_txn_reused", 409, _("This terminal transaction id was already used for another payment."))
register("refund_exceeds_payment", 409, _("The refunds would exceed the payment (%(left)s refundable)."))
register("refund_window_closed", 409, _("Merchants refund on the same day only; the holder can appeal instead."))
register("appeal_window_closed", 409, _("Appeals are possible within %(hours)s hours of the payment."))
register("appeal_exists", 409, _("This payment already has an appeal."))
register("appeal_not_open", 409, _("This appeal has already been decided."))
register("decision_reason_required", 422, _("Give a reason for rejecting the appeal."))
register("daily_limit_invalid", 422, _("The daily limit must be between ¥0.01 and %(max)s."))
