"""Row MACs and day seals: tamper evidence without a global serialisation point."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from django.conf import settings


@cache
def _key() -> bytes:
    return hashlib.sha256(b"campuscard-ledger-mac:" + settings.LEDGER_MAC_KEY.encode()).digest()


def transfer_mac(*, institution_id: int, key: str, phase: str, kind: str, debit_id: int, credit_id: int,
                 amount: int, pending_id: int | None, reverses_id: int | None, created_at_iso: str,
                 reference: str) -> str:
    message = "\x1f".join(str(v) for v in (institution_id, key, phase, kind, debit_id, credit_id, amount,
                                              pending_id or "", reverses_id or "", created_at_iso, reference))
    return hmac.new(_key(), message.encode(), hashlib.sha256).hexdigest()


def day_digest(rows: list[tuple[int, str]]) -> str:
    """Digest of one day's (id, mac) pairs in id order."""
    h = hashlib.sha256()
    for transfer_id, mac in rows:
        h.update(f"{transfer_id}:{mac}\n".encode())
    return h.hexdigest()


def seal_of(*, previous: str, day: str, digest: str, count: int, total: int) -> str:
    return hmac.new(_key(), f"{previous}|{day}|{digest}|{count}|{total}".encode(), hashlib.sha256).hexdigest()
