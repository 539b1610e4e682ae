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
