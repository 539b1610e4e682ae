from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("insufficient_funds", 409, _("Not enough balance: %(available)s available."))
register("amount_invalid", 422, _("The amount must be a positive whole number of fen."))
register("account_closed", 409, _("The account is closed or frozen."))
register("account_not_found", 404, _("The account does not exist."))
register("accounts_must_differ", 422, _("A transfer needs two different accounts."))
register("accounts_other_institution", 422, _("Both accounts must belong to the same institution."))
register("transfer_not_pending", 409, _("This hold has already been posted or voided."))
register("transfer_not_found", 404, _("The transfer does not exist."))
register("post_exceeds_hold", 422, _("Cannot post more than was held."))
register("reversal_exceeds_original", 409, _("The reversals would exceed the original amount."))
register("ledger_busy", 503, _("The ledger is busy. Please retry."))
