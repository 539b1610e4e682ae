"""Durable money transactions with retry on deadlock / serialisation failure (ARCHITECTURE rule 2)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction
from django.db.utils import DatabaseError

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if code in RETRYABLE_PGCODES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def money_transaction(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` in ``atomic(durable=True)``; retry a few times if the database says "try again"."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        attempts = 6
        for attempt in range(attempts):
            try:
                with transaction.atomic(durable=True):
                    return fn(*args, **kwargs)
            except DatabaseError as exc:
                if attempt == attempts - 1 or not is_retryable(exc):
                    raise
                time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper
