"""Device registration, revocation and request authentication."""

from __future__ import annotations

import hmac
import secrets

from django.conf import settings
from django.core.cache import cache

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
    code = headers.get("X-Device-Id", "")
    ts = headers.get("X-Timestamp", "")
    nonce = headers.get("X-Nonce", "")
    sent = headers.get("X-Signature", "")
    if not (code and ts.isdigit() and 16 <= len(nonce) <= 64 and sent):
        raise DomainError("device_auth_failed")
    device = Device.objects.select_related("institution").filter(code=code).first()
    if device is None:
        raise DomainError("device_auth_failed")
    if not hmac.compare_digest(signature(device.secret, method, path, ts, nonce, body), sent):
        raise DomainError("device_auth_failed")
    if device.revoked_at is not None:
        raise DomainError("device_revoked")
    window = settings.DEVICE_REQUEST_WINDOW_SECONDS
    if abs(clock.now().timestamp() - int(ts)) > window:
        raise DomainError("device_request_expired")
    # A nonce is accepted once within twice the window (after that the timestamp check refuses it).
    if not cache.add(f"device-nonce:{code}:{nonce}", 1, timeout=2 * window):
        raise DomainError("device_request_replayed")
    return device


def device_touch(device: Device) -> None:
    now = clock.now()
    if device.last_seen_at is None or (now - device.last_seen_at).total_seconds() > 60:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
