"""The one throttling module: named buckets counting hits per key within a time window.

A bucket is a name (``login``, ``sms_send_number``, ``sms_guess_address`` …), a key (an account, a
phone number, a client address), a limit and a window in seconds. A window opens at the first hit;
``bucket_wait`` says how long a caller must wait once the limit is reached, ``bucket_hit`` counts one
more. ``hold=True`` restarts the window at the hit that reaches the limit, so a lock lasts the whole
window from the last offending hit (the login lock). Time is the project clock (``core.clock``), so
tests can move it; the cache's own expiry only cleans up.

Counting is atomic (``cache.add`` / ``incr``), so parallel hits cannot slip past a limit. Each window's
counter is keyed by the window's start, so a stale counter never leaks into the next window even on a
cache whose ``incr`` resets expiry (the database cache).

The wrong-password throttle (issue 2) is the bucket ``login``: N failures lock the account for a while.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import cache

_CLEANUP_MARGIN = 60  # seconds the cache keeps a window's keys after it ends


def _now() -> float:
    from campuscard.core import clock

    return clock.now().timestamp()


def _start_key(name: str, key: str) -> str:
    return f"throttle:{name}:{key.lower()}"


def _count_key(name: str, key: str, start: float) -> str:
    return f"{_start_key(name, key)}:{start:.6f}"


def _current_start(name: str, key: str, window: int, now: float) -> float | None:
    start = cache.get(_start_key(name, key))
    return start if start is not None and now - start < window else None


def _open_window(name: str, key: str, window: int, now: float) -> float:
    start = _current_start(name, key, window, now)
    if start is not None:
        return start
    if cache.add(_start_key(name, key), now, timeout=window + _CLEANUP_MARGIN):
        return now
    start = _current_start(name, key, window, now)  # a parallel first hit opened it
    if start is not None:
        return start
    cache.set(_start_key(name, key), now, timeout=window + _CLEANUP_MARGIN)  # the old window ran out
    return now


def bucket_count(name: str, key: str, *, window: int) -> int:
    """Hits counted in the current window (0 when none is open)."""
    start = _current_start(name, key, window, _now())
    return 0 if start is None else int(cache.get(_count_key(name, key, start), 0))


def bucket_wait(name: str, key: str, *, limit: int, window: int) -> int:
    """0 when another hit is allowed, else the seconds until the window ends (at least 1)."""
    now = _now()
    start = _current_start(name, key, window, now)
    if start is None or int(cache.get(_count_key(name, key, start), 0)) < limit:
        return 0
    return max(1, math.ceil(start + window - now))


def bucket_hit(name: str, key: str, *, window: int, limit: int | None = None, hold: bool = False) -> int:
    """Count one hit; returns the count in the window including this one.

    With ``hold`` (and a ``limit``), the hit that reaches the limit restarts the window, so the wait
    that follows is a whole window from it."""
    now = _now()
    start = _open_window(name, key, window, now)
    count_key = _count_key(name, key, start)
    if cache.add(count_key, 1, timeout=window + _CLEANUP_MARGIN):
        count = 1
    else:
        try:
            count = int(cache.incr(count_key))
        except ValueError:  # expired between add and incr
            cache.add(count_key, 1, timeout=window + _CLEANUP_MARGIN)
            count = 1
    if hold and limit is not None and count >= limit and start != now:
        cache.set(_start_key(name, key), now, timeout=window + _CLEANUP_MARGIN)
        cache.set(_count_key(name, key, now), count, timeout=window + _CLEANUP_MARGIN)
    return count


def bucket_clear(name: str, key: str) -> None:
    start = cache.get(_start_key(name, key))
    keys = [_start_key(name, key)]
    if start is not None:
        keys.append(_count_key(name, key, start))
    cache.delete_many(keys)


# --- the login lock (issue 2), a bucket ------------------------------------------------------------

LOGIN = "login"


def locked_for_minutes(account: str) -> int:
    """0 when the account may try; else the minutes left (rounded up)."""
    seconds = bucket_wait(LOGIN, account, limit=settings.LOGIN_MAX_FAILURES, window=settings.LOGIN_LOCK_SECONDS)
    return math.ceil(seconds / 60) if seconds else 0


def record_failure(account: str) -> None:
    """The failure that reaches the limit locks the account for LOGIN_LOCK_SECONDS from then."""
    bucket_hit(LOGIN, account, window=settings.LOGIN_LOCK_SECONDS, limit=settings.LOGIN_MAX_FAILURES, hold=True)


def clear(account: str) -> None:
    bucket_clear(LOGIN, account)
