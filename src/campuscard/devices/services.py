"""Device registration, revocation and request authentication."""

from __future__ import annotations

import hmac
import secrets
import threading

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from campuscard.core import clock
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution, ServicePoint
from campuscard.devices.models import Device
from campuscard.devices.signing import signature


def device_register(*, actor, institution: Institution, kind: str, code: str, name: str,
                    service_point: ServicePoint | None = None) -> tuple[Device, str]:
    """Register a device; the secret is returned once to be provisioned on the device."""
    secret = secrets.token_hex(32)
    device = Device.objects.create(institution=institution, kind=kind, code=code, name=name,
                                   service_point=service_point, secret=secret)
    audit_record(actor=actor, action="device_registered", obj=device, institution_id=institution.pk,
                 after={"kind": kind, "code": code})
    return device, secret


def device_revoke(*, actor, device: Device) -> None:
    """Takes effect at once: the next request of this device is refused."""
    Device.objects.filter(pk=device.pk).update(revoked_at=clock.now())
    audit_record(actor=actor, action="device_revoked", obj=device, institution_id=device.institution_id)


def device_authenticate(*, method: str, path: str, headers, body: bytes) -> Device:
    """Verify a signed device request; refuse bad signatures, stale timestamps, replays and revoked devices."""
    device = Device.objects.select_related("institution").filter(code=headers.get("X-Device-Id", "")).first()
    _verify(method=method, path=path, headers=headers, body=body, secret=device.secret if device else None,
            revoked=device is not None and device.revoked_at is not None)
    return device


def device_verify_cached(*, request, load, forget):
    """The signature checks with the device's facts from a process cache (``load(code)``, anything with a
    ``secret``), for the rush endpoints; revocation is the caller's to check (in its statement, or on the
    device row before the ordinary path), so it still applies at once. A wrong signature reloads the facts
    once: the cached secret may be stale (a re-registered device works at once)."""
    code = request.headers.get("X-Device-Id", "")
    found = load(code) if code else None
    try:
        verify_signed_request(request=request, secret=found.secret if found else None)
    except DomainError as error:
        if error.code != "device_auth_failed" or found is None:
            raise
        forget(device_code=code)
        found = load(code)
        verify_signed_request(request=request, secret=found.secret if found else None)
    return found


def verify_signed_request(*, request, secret: str | None) -> None:
    """The signature checks alone, for callers that know the secret already (revocation is theirs)."""
    _verify(method=request.method, path=request.get_full_path(), headers=request.headers, body=request.body,
            secret=secret,
            revoked=False)


def _verify(*, method: str, path: str, headers, body: bytes, secret: str | None, revoked: bool) -> None:
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
    if not nonce_claim(f"device-nonce:{code}:{nonce}", timeout=2 * window):
        raise DomainError("device_request_replayed")


_redis = threading.local()


def nonce_claim(key: str, *, timeout: int) -> bool:
    """True the first time a key is claimed within ``timeout`` seconds (the cache's ``add``). With Redis
    the client is kept per thread: Django's cache builds a new one per call, which cost a payment 0.3 ms."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return backend.add(key, 1, timeout=timeout)
    client = getattr(_redis, "client", None)
    if client is None:
        import redis

        client = _redis.client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    return bool(client.set(backend.make_and_validate_key(key), 1, ex=timeout, nx=True))


def device_touch(device: Device) -> None:
    now = clock.now()
    if device.last_seen_at is None or (now - device.last_seen_at).total_seconds() > 60:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
