"""A generic idempotency-key store (LED-4) for requests that are not ledger transfers.

``run_once(scope=..., key=..., params=..., fn=...)`` runs ``fn`` once per (scope, key) and stores its
JSON result; a retry with the same params gets the stored result, a retry with other params is
refused. The key row is inserted first, in the same transaction as the work, so a crash leaves
neither, and a concurrent duplicate blocks on the unique index *before* running ``fn``, then reads
the winner's result (``fn`` runs once, even when its effects are outside the database).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import JSONField, Value

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.models import IdempotencyKey


def params_hash(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def run_once(*, scope: str, key: str, params: Any, fn: Callable[[], Any]) -> Any:
    if not key:
        raise DomainError("idempotency_key_required")
    digest = params_hash(params)
    found, response = _replay(scope, key, digest)
    if found:
        return response
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(scope=scope, key=key, request_hash=digest,
                                                response=_json(None), created_at=clock.now())
            result = fn()
            IdempotencyKey.objects.filter(pk=row.pk).update(response=_json(result))
        return result
    except IntegrityError:
        found, response = _replay(scope, key, digest)
        if not found:
            raise
        return response


def _json(value: Any) -> Any:
    # A None result is stored as JSON null (the column is NOT NULL), so it is replayed like any other.
    return Value(None, JSONField()) if value is None else value


def _replay(scope: str, key: str, digest: str) -> tuple[bool, Any]:
    row = IdempotencyKey.objects.filter(scope=scope, key=key).first()
    if row is None:
        return False, None
    if row.request_hash != digest:
        raise DomainError("idempotency_key_reused")
    return True, row.response
