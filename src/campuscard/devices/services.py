"""Device registration, revocation and request authentication."""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution, ServicePoint
from campuscard.devices.models import Device
from campuscard.devices.signing import signature


def device_register(*, actor: Actor, institution: Institution, kind: str, code: str, name: str,
                    service_point: ServicePoint | None = None) -> tuple[Device, str]:
    """Register a device; the secret is returned once to be provisioned on the device."""
    secret = secrets.token_hex(32)
    device = Device.objects.create(institution=institution, kind=kind, code=code, name=name,
                                   service_point=service_point, secret=secret)
    audit_record(actor=actor, action="device_registered", obj=device, institution_id=institution.pk,
                 after={"kind": kind, "code": code})
    return device, secret


def device_revoke(*, actor: Actor, device: Device) -> None:
    """Takes effect at once: the next request of this device is refused."""
    Device.objects.filter(pk=device.pk).update(revoked_at=clock.now())
    audit_record(actor=actor, action="device_revoked", obj=device, institution_id=device.institution_id)


def device_is_revoked(*, device: Device) -> bool:
    """The one revocation check of the Python paths (signed requests, device pages, the rush endpoints'
    ordinary path); the fast paths' statements say the same in SQL (``revoked_at IS NULL``)."""
    return device.revoked_at is not None


def device_require_active(*, device_id: int) -> Device:
    """The device row, re-read now, or ``device_revoked``: for callers that verified the signature from
    cached facts (``device_verify_cached``) and must still refuse a revocation at once."""
    device = Device.objects.get(pk=device_id)
    if device_is_revoked(device=device):
        raise DomainError("device_revoked")
    return device


def device_enrol(*, code: str, secret: str) -> Device | None:
    """The device a browser page is being enrolled as, if the id and secret match an unrevoked device."""
    device = Device.objects.filter(code=code.strip()).first()
    if device is None or not hmac.compare_digest(device.secret, secret.strip()) or device_is_revoked(device=device):
        return None
    return device


def device_for_page(*, pk, kind: str) -> Device | None:
    """The enrolled device behind a device page's cookie, re-read on every request so a revocation applies
    at the next click; None when it is gone, revoked or of another kind."""
    device = Device.objects.select_related("institution", "service_point").filter(pk=pk).first()
    if device is None or device_is_revoked(device=device) or device.kind != kind:
        return None
    return device


def device_authenticate(*, method: str, path: str, headers, body: bytes) -> Device:
    """Verify a signed device request; refuse bad signatures, stale timestamps, replays and revoked devices."""
    device = Device.objects.select_related("institution").filter(code=headers.get("X-Device-Id", "")).first()
    _verify(method=method, path=path, headers=headers, body=body, secret=device.secret if device else None,
            revoked=device is not None and device_is_revoked(device=device))
    if device is None:  # _verify refused it already (no secret to check against)
        raise DomainError("device_auth_failed")
    return device


def device_verify_cached(*, request, load, forget, claim_nonce: bool = True):
    """The signature checks with the device's facts from a process cache (``load(code)``, anything with a
    ``secret``), for the rush endpoints; revocation is the caller's to check (in its statement, or on the
    device row before the ordinary path), so it still applies at once. A wrong signature reloads the facts
    once: the cached secret may be stale (a re-registered device works at once). With ``claim_nonce``
    False the caller claims the nonce itself (``nonce_key``, ``nonce_claim_many``) before acting."""
    code = signed_headers(request=request).get("X-Device-Id", "")
    found = load(code) if code else None
    try:
        verify_signed_request(request=request, secret=found.secret if found else None, claim_nonce=claim_nonce)
    except DomainError as error:
        if error.code != "device_auth_failed" or found is None:
            raise
        forget(device_code=code)
        found = load(code)
        verify_signed_request(request=request, secret=found.secret if found else None, claim_nonce=claim_nonce)
    return found


@dataclass
class NonceClaim:
    """A request's nonce (``X-Nonce``) left for its batch to claim in the statement that logs it."""

    key: str
    spent: bool = False


class _SignedHeaders:
    """``request.headers.get`` for the signature's ``X-*`` headers, read straight from the WSGI environ:
    ``request.headers`` copies every header of the request into a new dict (4 % of a gate decision)."""

    __slots__ = ("meta",)

    def __init__(self, meta):
        self.meta = meta

    def get(self, name: str, default: str = "") -> str:
        return self.meta.get("HTTP_" + name.upper().replace("-", "_"), default)


def signed_headers(*, request) -> _SignedHeaders:
    return _SignedHeaders(request.META)


def verify_signed_request(*, request, secret: str | None, claim_nonce: bool = True) -> None:
    """The signature checks alone, for callers that know the secret already (revocation is theirs)."""
    _verify(method=request.method, path=request.get_full_path(), headers=signed_headers(request=request), body=request.body,
            secret=secret, revoked=False, claim_nonce=claim_nonce)


def nonce_key(*, headers) -> str:
    return f"device-nonce:{headers.get('X-Device-Id', '')}:{headers.get('X-Nonce', '')}"


def _verify(*, method: str, path: str, headers, body: bytes, secret: str | None, revoked: bool,
            claim_nonce: bool = True) -> None:
    code = headers.get("X-Device-Id", "")
    ts = headers.get("X-Timestamp", "")
    nonce = headers.get("X-Nonce", "")
    sent = headers.get("X-Signature", "")
    if not (code and ts.isdigit() and 16 <= len(nonce) <= 64 and sent) or secret is None:
        raise DomainError("device_auth_failed")
    if not hmac.compare_digest(signature(secret, method, path, ts, nonce, body), sent):
        raise DomainError("device_auth_failed")
    if revoked:
        raise DomainError("device_revoked")
    window = settings.DEVICE_REQUEST_WINDOW_SECONDS
    if abs(clock.now().timestamp() - int(ts)) > window:
        raise DomainError("device_request_expired")
    # A nonce is accepted once within twice the window (after that the timestamp check refuses it).
    if claim_nonce and not nonce_claim_many(keys=[nonce_key(headers=headers)])[0]:
        raise DomainError("device_request_replayed")


_redis = threading.local()


# Each key SET NX with its expiry, in one command: a batch of nonces costs one round trip and one reply to
# parse (a pipeline of N SETs cost the gate's batch more Python than its database read).
_CLAIM_LUA = """
local claimed = {}
for i, key in ipairs(KEYS) do
  claimed[i] = redis.call('SET', key, 1, 'EX', ARGV[1], 'NX') and 1 or 0
end
return claimed
"""


def nonce_claim_many(*, keys: list[str]) -> list[bool]:
    """For each key, True the first time it is claimed within twice the request window (the cache's
    ``add``). With Redis: one script call for all of them, on a client kept per thread (Django's cache
    builds a new client per call: docs/decisions.md, "Payments")."""
    timeout = 2 * settings.DEVICE_REQUEST_WINDOW_SECONDS
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return [backend.add(key, 1, timeout=timeout) for key in keys]
    location = settings.CACHES["default"]["LOCATION"]
    claim = getattr(_redis, "claims", {}).get(location)
    if claim is None:
        import redis

        _redis.claims = {**getattr(_redis, "claims", {}),
                         location: redis.Redis.from_url(location).register_script(_CLAIM_LUA)}
        claim = _redis.claims[location]
    return [ok == 1 for ok in claim(keys=[backend.make_and_validate_key(key) for key in keys], args=[timeout])]


def gate_nonce_claim(*, device_id: int, nonce: str) -> bool:
    """True the first time a gate's request nonce is claimed. Gate requests keep their nonces in the
    database, where the batched gate path claims them in the statement that logs the decision; the
    ordinary path claims them here, so both paths see one record."""
    from django.db import IntegrityError, transaction

    from campuscard.devices.models import RequestNonce

    try:
        with transaction.atomic():
            RequestNonce.objects.create(device_id=device_id, nonce=nonce, seen_at=clock.now())
    except IntegrityError:
        return False
    return True


def device_touch(*, device: Device) -> None:
    now = clock.now()
    if device.last_seen_at is None or (now - device.last_seen_at).total_seconds() > 60:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
