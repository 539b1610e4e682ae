"""Dynamic payment codes (CARD-3): TOTP (RFC 6238) per credential, one-time, short-lived.

Payload: ``CC1.<token>.<8 digits>`` — the token names the credential, the digits are the TOTP of
the current 30 s step. A code is accepted during its validity (60 s = this step and the previous
one) and only once. A native app provisioned with the credential's secret computes the same code
offline. Offline codes (``CC1.<token>.O<random>``) are pre-issued one-time codes the portal caches
for when the phone has no network; they are good only for password-free amounts.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from django.conf import settings
from django.db import IntegrityError, transaction

from campuscard.cards.models import Card, Credential, OfflineCode, UsedCode
from campuscard.cards.policy import state_refusal
from campuscard.core import clock
from campuscard.core.errors import DomainError

PREFIX = "CC1"
_ONLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.(\d{8})$")
_OFFLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.O([A-Z2-7]{16})$")
DIGITS = 8


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _random_b32(length: int) -> str:
    return "".join(secrets.choice(_B32) for _ in range(length))


def new_token() -> str:
    return _random_b32(10)


def new_secret() -> str:
    return pyotp.random_base32(32)


def totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=settings.QR_STEP_SECONDS)


def current_code(credential: Credential) -> str:
    return f"{PREFIX}.{credential.token}.{totp(credential.secret).at(clock.now())}"


@dataclass(frozen=True)
class Presented:
    card: Card
    credential: Credential
    offline: bool = False


def ensure_usable(card: Card) -> None:
    """Refuse a card that may not pay or open doors, with its own code (CARD-4, ACC-4)."""
    refusal = state_refusal(card.state)
    if refusal:
        raise DomainError(refusal)


def _credential(token: str, institution_id: int) -> Credential:
    credential = Credential.objects.select_related("card", "card__person").filter(token=token).first()
    if credential is None or not credential.active:
        raise DomainError("credential_unknown")
    if credential.card.institution_id != institution_id:
        raise DomainError("credential_other_institution")
    ensure_usable(credential.card)
    return credential


def code_accept(*, institution_id: int, code: str) -> Presented:
    """Check a presented QR/HCE code and use it up. Call inside the caller's transaction, so a
    payment that is refused later leaves the code unused."""
    code = (code or "").strip()
    match = _ONLINE.match(code)
    if match:
        credential = _credential(match.group(1), institution_id)
        step = _matching_step(credential, match.group(2))
        try:
            with transaction.atomic():
                UsedCode.objects.create(credential=credential, step=step, used_at=clock.now())
        except IntegrityError:
            raise DomainError("qr_replayed")
        return Presented(credential.card, credential)
    match = _OFFLINE.match(code)
    if match:
        credential = _credential(match.group(1), institution_id)
        now = clock.now()
        issued = OfflineCode.objects.filter(credential=credential, code_hash=_hash(match.group(2)))
        if not issued.filter(used_at=None, expires_at__gt=now).update(used_at=now):
            row = issued.values("used_at").first()  # unknown, used once already, or past its expiry
            raise DomainError("qr_invalid" if row is None else "qr_replayed" if row["used_at"] else "qr_expired")
        return Presented(credential.card, credential, offline=True)
    raise DomainError("qr_invalid")


def current_step(secret: str, digits: str, moment: datetime | None = None) -> int | None:
    """The step of a dynamic code that is still accepted (``QR_VALID_SECONDS``), or None."""
    step_seconds = settings.QR_STEP_SECONDS
    now_step = int((moment or clock.now()).timestamp()) // step_seconds
    generator = totp(secret)
    for step in range(now_step, now_step - max(1, settings.QR_VALID_SECONDS // step_seconds), -1):
        if secrets.compare_digest(generator.at(step * step_seconds), digits):
            return step
    return None


def _matching_step(credential: Credential, digits: str) -> int:
    step = current_step(credential.secret, digits)
    if step is not None:
        return step
    step_seconds = settings.QR_STEP_SECONDS
    now_step = int(clock.now().timestamp()) // step_seconds
    valid_steps = max(1, settings.QR_VALID_SECONDS // step_seconds)
    generator = totp(credential.secret)
    for step in range(now_step - valid_steps, now_step - valid_steps - 20, -1):  # the last ten minutes
        if secrets.compare_digest(generator.at(step * step_seconds), digits):
            raise DomainError("qr_expired")
    raise DomainError("qr_invalid")


def normalize_uid(uid: str) -> str:
    """Readers print UIDs as ``04:A1:B2`` or ``04a1b2``; bind and tap must agree."""
    return (uid or "").strip().upper().replace(":", "")


def nfc_accept(*, institution_id: int, uid: str) -> Presented:
    """A physical card tapped on a reader: look up its UID."""
    credential = (Credential.objects.select_related("card", "card__person")
                  .filter(kind=Credential.Kind.NFC, uid=normalize_uid(uid), active=True).first())
    if credential is None:
        raise DomainError("credential_unknown")
    if credential.card.institution_id != institution_id:
        raise DomainError("credential_other_institution")
    ensure_usable(credential.card)
    return Presented(credential.card, credential)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def offline_codes_issue(*, credential: Credential, count: int | None = None) -> list[str]:
    """A fresh batch of one-time offline codes; the previous batch's unused codes stop working, so a
    phone never holds more than one batch."""
    count = min(count or settings.OFFLINE_CODES_BATCH, settings.OFFLINE_CODES_BATCH)
    now = clock.now()
    OfflineCode.objects.filter(credential=credential, used_at=None, expires_at__gt=now).update(expires_at=now)
    expires = now + timedelta(seconds=settings.OFFLINE_CODES_TTL_SECONDS)
    raws = [_random_b32(16) for _ in range(count)]
    OfflineCode.objects.bulk_create([OfflineCode(credential=credential, code_hash=_hash(raw), issued_at=now,
                                                 expires_at=expires) for raw in raws])
    return [f"{PREFIX}.{credential.token}.O{raw}" for raw in raws]
