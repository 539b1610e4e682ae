from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator


class RosterClaimsValidator(OAuth2Validator):
    """Claims from the provider's settings, every one of them released (no per-scope filtering)."""

    oidc_claim_scope = None

    def get_additional_claims(self, request):
        person = settings.PEOPLE.get(request.user.username, {})
        return {"preferred_username": request.user.username, **person.get("claims", {})}
