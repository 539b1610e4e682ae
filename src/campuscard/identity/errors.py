from django.utils.translation import gettext_lazy as _

from campuscard.core.errors import register

register("login_failed", 401, _("Wrong number or password."))
register("login_locked", 429, _("Too many wrong passwords. Try again in %(minutes)s minutes."))
register("password_change_required", 403, _("Please change your initial password first."))
register("password_wrong", 400, _("The current password is wrong."))
register("password_invalid", 400, _("The new password is not acceptable: %(reason)s"))
register("password_mismatch", 400, _("The two new passwords do not match."))
register("password_same_as_payment", 400,
         _("The login password must be different from the payment password."))
register("payment_password_same_as_login", 400,
         _("The payment password must be different from the login password."))
register("payment_password_format", 400, _("The payment password must be exactly six digits."))
register("payment_password_wrong", 400, _("The current payment password is wrong."))
register("payment_password_mismatch", 400, _("The two new payment passwords do not match."))
register("query_password_format", 400, _("The query password must be 6 to 20 characters."))
register("roster_invalid", 422, _("The roster has %(count)s bad rows; nothing was imported."))
register("roster_unreadable", 422, _("The roster file cannot be read: %(reason)s"))
register("roster_too_large", 413, _("The roster file is too large (at most %(max)s). Split it or ask the operator to raise ROSTER_MAX_BYTES."))
register("roster_unknown_source", 400, _("Unknown roster source: %(source)s"))
register("institution_unknown", 404, _("Unknown institution: %(code)s"))
register("person_invalid", 422, _("The person's data is not valid: %(reason)s"))
register("sso_failed", 401, _("Unified identity authentication did not complete. Please try again."))
register("sso_claim_missing", 401,
         _("Unified identity authentication sent no %(claim)s; the Card Center cannot tell who you are."))
register("sso_wrong_institution", 403,
         _("Your unified identity account belongs to an institution this platform does not serve here."))
register("sso_not_on_roster", 403,
         _("Your unified identity account (%(number)s) is not on the roster of %(institution)s. "
           "Please contact the Card Center."))
register("sso_operator_unknown", 403,
         _("Your unified identity account (%(account)s) is not a back-office account of %(institution)s. "
           "Ask your administrator to create the operator account under this name."))
register("sso_operator_password_only", 403,
         _("Platform administrators log in with their password, not through unified identity authentication."))
register("sso_account_disabled", 403, _("This login has been disabled. Please contact the Card Center."))
register("channel_bind_failed", 401, _("The ID number or the query password is wrong."))
register("channel_bind_locked", 429,
         _("Too many wrong query passwords. Binding is blocked for %(minutes)s minutes."))
register("channel_scopes_invalid", 422, _("Choose one or more of these permissions: %(allowed)s."))
register("channel_name_invalid", 422, _("The channel name must be 1 to 64 characters."))
register("channel_token_revoked", 401, _("This channel binding has been revoked. Bind the channel again."))
register("channel_scope_missing", 403, _("This channel binding does not allow this function."))
register("channel_binding_not_live", 409, _("This channel binding has already been revoked."))
