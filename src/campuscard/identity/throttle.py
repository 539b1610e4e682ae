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


# --- the client's address -----------------------------------------------------------------------

def client_address(request) -> str:
    """The client's address: ``REMOTE_ADDR``, unless the request came through one of ``TRUSTED_PROXIES``
    (a reverse proxy the Card Center runs); then the last ``X-Forwarded-For`` entry that is not one of
    them — a client can put anything before it, never after it (#18 item 6)."""
    import ipaddress

    remote = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    trusted = settings.TRUSTED_PROXIES
    if not trusted or not _is_in(remote, trusted, ipaddress):
        return remote
    for hop in reversed([h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]):
        if not _is_in(hop, trusted, ipaddress):
            return hop
    return remote


def _is_in(address: str, networks: list[str], ipaddress) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


# --- the login lock (issue 2; per client address too, #18 item 9) ---------------------------------
# Three buckets. ``login`` counts an account's failures from one address: 5 lock that account *from that
# address* — a stranger cannot lock a holder out. ``login_account`` counts an account's failures from
# anywhere (guessing spread over many addresses): more lock it everywhere. ``login_address`` counts an
# address's failures over every account (spraying numbers): a short window, so a dormitory behind one NAT
# address waits minutes at most.

LOGIN = "login"
LOGIN_ACCOUNT = "login_account"
LOGIN_ADDRESS = "login_address"


def _login_buckets(account: str, address: str) -> list[tuple[str, str, int, int]]:
    buckets = [(LOGIN, f"{account}|{address}", settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCK_SECONDS),
               (LOGIN_ACCOUNT, account, settings.LOGIN_ACCOUNT_MAX_FAILURES, settings.LOGIN_LOCK_SECONDS)]
    if address:
        buckets.append((LOGIN_ADDRESS, address, settings.LOGIN_ADDRESS_MAX_FAILURES,
                        settings.LOGIN_ADDRESS_WINDOW_SECONDS))
    return buckets


def locked_for_minutes(account: str, address: str = "") -> int:
    """0 when the account may try from ``address``; else the minutes left (rounded up)."""
    seconds = max(bucket_wait(name, key, limit=limit, window=window)
                  for name, key, limit, window in _login_buckets(account, address))
    return math.ceil(seconds / 60) if seconds else 0


def record_failure(account: str, address: str = "") -> None:
    """The failure that reaches a limit locks for that bucket's whole window from then."""
    for name, key, limit, window in _login_buckets(account, address):
        bucket_hit(name, key, window=window, limit=limit, hold=name != LOGIN_ADDRESS)


def clear(account: str, address: str = "") -> None:
    """A right password forgets the account's failures from that address (not a sprayer's elsewhere)."""
    bucket_clear(LOGIN, f"{account}|{address}")
