"""Identify-only codes (SVC-2): a QR the holder shows at the exam room door.

``CI1.<card number>.<expiry, unix s>.<signature>`` — it names a card and proves the portal made it
recently (HMAC under a key derived from SECRET_KEY), and it is never a payment code: the POS and the
gate accept only ``CC1.…`` codes and card UIDs, so a scanner that keeps it cannot spend with it. It is
stateless (no row per code) and short-lived; the invigilator compares the photo with the person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from django.conf import settings
from django.utils.crypto import salted_hmac

from campuscard.core import clock
from campuscard.core.errors import DomainError

PREFIX = "CI1"
_CODE = re.compile(r"^CI1\.([0-9A-Za-z]{4,32})\.(\d{10})\.([A-Z2-7]{16})$")


def _signature(number: str, expires: int) -> str:
    digest = salted_hmac("campuscard.study.identify", f"{number}.{expires}", algorithm="sha256").digest()
    return base64.b32encode(digest[:10]).decode()


def identify_code(card_number: str) -> str:
    expires = int(clock.now().timestamp()) + settings.EXAM_CODE_VALID_SECONDS
    return f"{PREFIX}.{card_number}.{expires}.{_signature(card_number, expires)}"


def is_identify_code(presented: str) -> bool:
    return presented.strip().upper().startswith(PREFIX + ".")


def identify_code_verify(presented: str) -> str:
    """The card number an identify code names; refuses forged, malformed and expired codes."""
    match = _CODE.match(presented.strip())
    if match is None:
        raise DomainError("exam_code_invalid")
    number, expires, signature = match.group(1), int(match.group(2)), match.group(3)
    if not hmac.compare_digest(_signature(number, expires), signature):
        raise DomainError("exam_code_invalid")
    if clock.now().timestamp() >= expires:
        raise DomainError("exam_code_expired")
    return number


def fingerprint(presented: str) -> str:
    return hashlib.sha256(presented.encode()).hexdigest()[:12]
