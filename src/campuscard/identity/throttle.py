"""Wrong-password throttling per account (issue 2): N failures lock the account for a while."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import cache


def _key(account: str) -> str:
    return f"login-failures:{account.lower()}"


def locked_for_minutes(account: str) -> int:
    """0 when the account may try; else the minutes left (rounded up)."""
    state = cache.get(_key(account))
    if not state or state["count"] < settings.LOGIN_MAX_FAILURES:
        return 0
    from campuscard.core import clock

    left = state["until"] - clock.now().timestamp()
    return max(1, math.ceil(left / 60)) if left > 0 else 0


def record_failure(account: str) -> None:
    """Counted atomically (cache.add / incr), so parallel guesses cannot slip past the limit."""
    from campuscard.core import clock

    count_key = _key(account) + ":n"
    if not cache.add(count_key, 1, timeout=settings.LOGIN_LOCK_SECONDS):
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.add(count_key, 1, timeout=settings.LOGIN_LOCK_SECONDS)
    count = cache.get(count_key, 1)
    cache.set(_key(account), {"count": count, "until": clock.now().timestamp() + settings.LOGIN_LOCK_SECONDS},
              timeout=settings.LOGIN_LOCK_SECONDS)


def clear(account: str) -> None:
    cache.delete_many([_key(account), _key(account) + ":n"])
