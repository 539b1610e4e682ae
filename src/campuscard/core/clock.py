"""An injectable clock (ARCHITECTURE rule 8): services ask ``clock.now()``; tests move time.

``institution_now(inst)`` and ``local_date`` answer "what day is it there", which decides daily
limits, "23:00" and working days.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.utils import timezone

_global_frozen: list[dt.datetime] = []


def now() -> dt.datetime:
    return _global_frozen[-1] if _global_frozen else timezone.now()


@contextlib.contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    """Freeze time for every thread (tests of live servers need it across threads)."""
    if timezone.is_naive(moment):
        raise ValueError("the clock takes aware datetimes only")
    _global_frozen.append(moment)
    try:
        yield
    finally:
        _global_frozen.pop()


def zone(time_zone: str) -> ZoneInfo:
    return ZoneInfo(time_zone)


def institution_now(institution) -> dt.datetime:
    return now().astimezone(zone(institution.time_zone))


def local_date(institution, moment: dt.datetime | None = None) -> dt.date:
    return (moment or now()).astimezone(zone(institution.time_zone)).date()
