"""Session auth for the portal (with CSRF), bearer tokens for integrated systems."""

from __future__ import annotations

from datetime import timedelta

from ninja.security import HttpBearer, SessionAuth

from campuscard.cards.channels import TOKEN_PREFIX
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.identity.models import APIToken, ChannelBinding, Person, User
from campuscard.identity.selectors import channel_binding_for_token, person_of_user
from campuscard.identity.services import token_hash
from campuscard.identity.sso import password_change_forced

PASSWORD_CHANGE_PATHS = ("/api/v1/me/password", "/api/v1/me")


def holder_of(request, *, refusal: str = "forbidden") -> Person:
    """The cardholder calling a holder endpoint; an operator's or integration's login has none."""
    person = person_of_user(request.auth)
    if person is None:
        raise DomainError(refusal)
    return person


def _check_password_state(request, user: User) -> None:
    if password_change_forced(request, user) and request.path not in PASSWORD_CHANGE_PATHS:
        raise DomainError("password_change_required")


class PortalSession(SessionAuth):
    def _get_key(self, request):
        # CSRF protects the session cookie; a request without one (an integration sending a bearer
        # token) has nothing to protect and must reach the next auth scheme instead of a CSRF 403.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user:
            _check_password_state(request, user)
        return user


class IntegrationToken(HttpBearer):
    def authenticate(self, request, token):
        row = (APIToken.objects.select_related("user").filter(token_hash=token_hash(token=token), revoked_at=None)
               .first())
        if row is None or not row.user.is_active:
            return None
        now = clock.now()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
            APIToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = row.user
        return row.user


class ChannelToken(HttpBearer):
    """An outside channel's token (ID-6): good for exactly its binding's scopes. On an endpoint that does
    not name one of them it is refused with 403 ``channel_scope_missing``, revoked with 401. ``request.auth``
    is the holder's login, so the holder endpoints run unchanged; ``request.channel`` is the binding."""

    def __init__(self, *scopes: str) -> None:
        super().__init__()
        self.scopes = scopes

    def authenticate(self, request, token):
        if not token.startswith(TOKEN_PREFIX):
            return None
        binding = channel_binding_for_token(token_digest=token_hash(token=token))
        if binding is None:
            return None
        if binding.revoked_at is not None:
            raise DomainError("channel_token_revoked")
        user = binding.person.user
        if user is None or not user.is_active:
            return None
        if not set(self.scopes) & set(binding.scopes):
            raise DomainError("channel_scope_missing")
        now = clock.now()
        if binding.last_used_at is None or now - binding.last_used_at > timedelta(minutes=1):
            ChannelBinding.objects.filter(pk=binding.pk).update(last_used_at=now)
        request.channel = binding
        return user


def holder_auth(*scopes: str) -> list:
    """The auth of a holder endpoint an outside channel may call with any of ``scopes`` (ID-6)."""
    return [PortalSession(), IntegrationToken(), ChannelToken(*scopes)]


class DeviceSignature:
    """Ninja auth for devices: the request must carry a valid HMAC signature (devices.signing)."""

    openapi_type = "apiKey"

    def __call__(self, request):
        from campuscard.devices.services import device_authenticate, device_touch

        device = device_authenticate(method=request.method, path=request.get_full_path(), headers=request.headers,
                                     body=request.body)
        device_touch(device=device)
        request.device = device
        return device


class CachedDeviceSignature:
    """DeviceSignature for the rush endpoints: the device's facts come from the fast path's process cache
    (``load``/``forget``) and revocation is the endpoint's to check, at once (``device_verify_cached``).
    With ``claim`` (facts, nonce → first time?) the endpoint keeps its nonces itself (the gate: in the
    database, with its decisions). A request the device lane already verified (``api.lane``) is not
    verified twice: its nonce is spent."""

    openapi_type = "apiKey"

    def __init__(self, *, load, forget, claim=None):
        self.load, self.forget, self.claim = load, forget, claim

    def __call__(self, request):
        from campuscard.api.lane import VERIFIED
        from campuscard.devices.services import device_verify_cached

        verified = request.META.get(VERIFIED)
        if verified is not None:
            return verified
        found = device_verify_cached(request=request, load=self.load, forget=self.forget,
                                     claim_nonce=self.claim is None)
        if self.claim is not None and not self.claim(found, request.headers.get("X-Nonce", "")):
            raise DomainError("device_request_replayed")
        return found
