"""Dynamic payment codes (CARD-3): TOTP (RFC 6238) per credential, one-time, short-lived.

Payload: ``CC1.<token>.<8 digits>`` — the token names the credential, the digits are the one-time part of
the current 30 s step. A code is accepted during its validity (60 s = this step and the previous one) and
only once. Each step has ``SLOTS`` codes: slot 0 is the credential's plain TOTP, slot n the TOTP under a
key derived from the secret and n, so the phone shows the step's next code as soon as one was used (a
native app provisioned with the secret computes the same codes offline). The same code can be typed at a
till as 18 digits: ``8`` + the credential's id (9 digits) + the 8 digits (``numeric``).
Offline codes (``CC1.<token>.O<random>``) are pre-issued one-time codes the portal caches for when the
phone has no network; they are good only for password-free amounts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import pyotp
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from campuscard.cards.models import Card, Credential, OfflineCode, UsedCode
from campuscard.cards.policy import state_refusal
from campuscard.core import clock
from campuscard.core.errors import DomainError

PREFIX = "CC1"
_ONLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.(\d{8})$")
_OFFLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.O([A-Z2-7]{16})$")
_NUMERIC = re.compile(r"^8(\d{9})(\d{8})$")
DIGITS = 8
SLOTS = 8  # codes per step: a used code is replaced at once by the step's next one


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _random_b32(length: int) -> str:
    return "".join(secrets.choice(_B32) for _ in range(length))


def new_token() -> str:
    return _random_b32(10)


def new_secret() -> str:
    return pyotp.random_base32(32)


def totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=settings.QR_STEP_SECONDS)


def _slot_secret(secret: str, slot: int) -> str:
    if slot == 0:
        return secret
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return base64.b32encode(hmac.digest(key, f"campuscard-slot-{slot}".encode(), "sha1")).decode().rstrip("=")


@lru_cache(maxsize=4096)
def _slot_generators(secret: str, interval: int) -> tuple[pyotp.TOTP, ...]:
    return tuple(pyotp.TOTP(_slot_secret(secret, n), digits=DIGITS, interval=interval) for n in range(SLOTS))


def _step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // settings.QR_STEP_SECONDS


def current_code(credential: Credential) -> str:
    """The code the phone shows now: the current step's first slot that was not used yet."""
    now = clock.now()
    first = _step_of(now) * SLOTS
    used = set(UsedCode.objects.filter(credential=credential, step__gte=first, step__lt=first + SLOTS)
               .values_list("step", flat=True))
    slot = next((n for n in range(SLOTS) if first + n not in used), SLOTS - 1)  # all used: replays refuse it
    generator = _slot_generators(credential.secret, settings.QR_STEP_SECONDS)[slot]
    return f"{PREFIX}.{credential.token}.{generator.at(now)}"


def is_numeric(presented: str) -> bool:
    """Typed digits of a dynamic code (a card UID of 9 bytes would look the same: UIDs are 4, 7 or 10)."""
    return bool(_NUMERIC.match(presented.replace(" ", "")))


def numeric(code: str, credential_id: int) -> str:
    """The digits a cashier can type for a dynamic code (printed under the QR)."""
    return f"8{credential_id:09d}{code.rsplit('.', 1)[1]}"


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


_DYNAMIC = (Credential.Kind.QR, Credential.Kind.HCE)


def code_was_used(*, credential: Credential, code: str) -> bool:
    """Whether a dynamic code the phone shows was used (the pay-code page asks while it is open)."""
    match = _ONLINE.match(code)
    if match is None or match.group(1) != credential.token:
        return False
    use = current_step(credential.secret, match.group(2))
    if use is None:
        return True  # expired: the phone must show a new code either way
    return UsedCode.objects.filter(credential=credential, step=use).exists()


_TICKET_SALT = "campuscard.cards.pay-code-status"
TICKET_MAX_AGE = 3600  # the page re-renders its ticket with every code; an hour covers a page left open


def status_ticket(credential: Credential) -> str:
    """What the pay-code page shows to ask whether its codes were used: the credential, signed. The page
    asks with it in the device lane, without a session (a signature check instead of a session lookup)."""
    return signing.TimestampSigner(salt=_TICKET_SALT).sign(str(credential.pk))


def ticket_credential(ticket: str) -> Credential:
    """The credential a status ticket was signed for (with its card), or ``pay_code_ticket_invalid``."""
    try:
        credential_id = int(signing.TimestampSigner(salt=_TICKET_SALT).unsign(ticket, max_age=TICKET_MAX_AGE))
    except (signing.BadSignature, ValueError):
        raise DomainError("pay_code_ticket_invalid") from None
    credential = Credential.objects.select_related("card").filter(pk=credential_id).first()
    if credential is None:
        raise DomainError("pay_code_ticket_invalid")
    return credential


# A payment or a gate never needs the holder's encrypted numbers: not read, not decrypted (#18 item 7).
_HOLDER_PERSONAL_DATA = ("card__person__id_number", "card__person__phone")


def _credential(token: str, institution_id: int) -> Credential:
    credential = (Credential.objects.select_related("card", "card__person").defer(*_HOLDER_PERSONAL_DATA)
                  .filter(token=token).first())
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
    match = _NUMERIC.match(code.replace(" ", ""))
    if match:
        found = Credential.objects.filter(pk=int(match.group(1)), kind__in=_DYNAMIC).values_list("token", flat=True)
        token = found.first()
        if token is None:
            raise DomainError("credential_unknown")
        return code_accept(institution_id=institution_id, code=f"{PREFIX}.{token}.{match.group(2)}")
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


def _find_use(secret: str, digits: str, steps: range) -> int | None:
    step_seconds = settings.QR_STEP_SECONDS
    generators = _slot_generators(secret, step_seconds)
    for step in steps:
        for slot, generator in enumerate(generators):
            if secrets.compare_digest(generator.at(step * step_seconds), digits):
                return step * SLOTS + slot
    return None


def current_step(secret: str, digits: str, moment: datetime | None = None) -> int | None:
    """The use of a dynamic code that is still accepted (``QR_VALID_SECONDS``) — its step × ``SLOTS`` + its
    slot, recorded in ``UsedCode.step`` so that it is accepted once — or None."""
    now_step = _step_of(moment or clock.now())
    return _find_use(secret, digits, range(now_step, now_step - max(1, settings.QR_VALID_SECONDS
                                                                     // settings.QR_STEP_SECONDS), -1))


def _matching_step(credential: Credential, digits: str) -> int:
    use = current_step(credential.secret, digits)
    if use is not None:
        return use
    now_step = _step_of(clock.now())
    valid_steps = max(1, settings.QR_VALID_SECONDS // settings.QR_STEP_SECONDS)
    if _find_use(credential.secret, digits, range(now_step - valid_steps, now_step - valid_steps - 20, -1)) is not None:
        raise DomainError("qr_expired")  # a code of the last ten minutes
    raise DomainError("qr_invalid")


def normalize_uid(uid: str) -> str:
    """Readers print UIDs as ``04:A1:B2`` or ``04a1b2``; bind and tap must agree."""
    return (uid or "").strip().upper().replace(":", "")


def nfc_accept(*, institution_id: int, uid: str) -> Presented:
    """A physical card tapped on a reader: look up its UID."""
    credential = (Credential.objects.select_related("card", "card__person").defer(*_HOLDER_PERSONAL_DATA)
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
