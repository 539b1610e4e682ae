"""A generic idempotency-key store (LED-4) for requests that are not ledger transfers.

``run_once(scope=..., key=..., params=..., fn=...)`` runs ``fn`` once per (scope, key) and stores its
JSON result; a retry with the same params gets the stored result, a retry with other params is
refused. The key row is inserted in the same transaction as the work, so a crash leaves neither;
concurrent duplicates block on the unique index and then read the winner's result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.models import IdempotencyKey


def params_hash(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def run_once(*, scope: str, key: str, params: Any, fn: Callable[[], Any]) -> Any:
    if not key:
        raise DomainError("idempotency_key_required")
    digest = params_hash(params)
    existing = _replay(scope, key, digest)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            result = fn()
            IdempotencyKey.objects.create(scope=scope, key=key, request_hash=digest, response=result,
                                          created_at=clock.now())
        return result
    except IntegrityError:
        replay = _replay(scope, key, digest)
        if replay is None:
            raise
        return replay


def _replay(scope: str, key: str, digest: str) -> Any | None:
    row = IdempotencyKey.objects.filter(scope=scope, key=key).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise DomainError("idempotency_key_reused")
    return row.response
