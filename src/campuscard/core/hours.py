"""Opening hours of service points and "open now" in the institution's time zone (SUP-2).

The hours are written the way a Card Center writes them on a sign, one rule per day group, separated by
``;``: ``08:30-21:00`` (every day), ``24h``, ``mon-fri 08:30-12:00,13:30-17:00; sat 09:00-12:00``,
``sun closed``. A later rule for a day replaces an earlier one. A range that ends at the minute it is
written closes at that minute (``08:30-21:00``: open at 08:30, closed at 21:00).

Holidays come from the institution's country calendar (``holidays``; China moves weekends around them):
a point that closes on public holidays is closed on one, and on a make-up working day (a Saturday that is
a working day) it keeps Monday's hours. Kiosks usually do not close on holidays.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """The hours text cannot be read; the message says which part."""


@dataclass(frozen=True)
class Schedule:
    # per weekday (0 = Monday): tuples of (start minute, end minute) within the day
    days: tuple[tuple[tuple[int, int], ...], ...]

    def ranges(self, weekday: int) -> tuple[tuple[int, int], ...]:
        return self.days[weekday]


def _minutes(hour: str, minute: str) -> int:
    h, m = int(hour), int(minute)
    if m > 59 or h > 24 or (h == 24 and m):
        raise HoursError(f"{hour}:{minute}")
    return h * 60 + m


def _day_set(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()[:3] if "-" not in part else part.strip().lower()
        if "-" in part:
            first, last = (p.strip()[:3] for p in part.split("-", 1))
            if first not in DAYS or last not in DAYS:
                raise HoursError(part)
            a, b = DAYS.index(first), DAYS.index(last)
            out += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
        elif part in DAYS:
            out.append(DAYS.index(part))
        else:
            raise HoursError(part)
    return out


def _ranges(spec: str) -> tuple[tuple[int, int], ...]:
    spec = spec.strip().lower()
    if spec in ("24h", "24/7", "00:00-24:00"):
        return ((0, 24 * 60),)
    if spec == "closed":
        return ()
    out = []
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise HoursError(part.strip())
        start, end = _minutes(*match.group(1, 2)), _minutes(*match.group(3, 4))
        if end <= start:
            raise HoursError(part.strip())
        out.append((start, end))
    return tuple(sorted(out))


@cache
def parse(text: str) -> Schedule:
    """``HoursError`` when the text cannot be read; an empty text means closed (no hours published)."""
    days: list[tuple[tuple[int, int], ...]] = [()] * 7
    for rule in (r.strip() for r in text.split(";")):
        if not rule:
            continue
        head, _, rest = rule.partition(" ")
        if head[:3].lower() in DAYS:
            targets, spec = _day_set(head), rest
        else:
            targets, spec = list(range(7)), rule
        ranges = _ranges(spec)
        for day in targets:
            days[day] = ranges
    return Schedule(days=tuple(days))


@cache
def _calendar(country: str, year: int):
    return holidays.country_holidays(country, years=[year])


def holiday_name(country: str, day: dt.date) -> str | None:
    return _calendar(country, day.year).get(day)


def _weekday_rule(country: str, day: dt.date) -> int:
    """Which weekday's hours apply: a make-up working day (调休) on a weekend keeps Monday's."""
    if day.weekday() >= 5 and _calendar(country, day.year).is_working_day(day):
        return 0
    return day.weekday()


def is_open(*, hours: str, closed_on_holidays: bool, country: str, local: dt.datetime) -> bool:
    """Open at ``local`` (a datetime in the institution's time zone)?"""
    day = local.date()
    if closed_on_holidays and holiday_name(country, day) is not None:
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in parse(hours).ranges(_weekday_rule(country, day)))


def today_ranges(*, hours: str, closed_on_holidays: bool, country: str, day: dt.date) -> tuple[tuple[int, int], ...]:
    if closed_on_holidays and holiday_name(country, day) is not None:
        return ()
    return parse(hours).ranges(_weekday_rule(country, day))


def format_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    if ranges == ((0, 24 * 60),):
        return "24h"
    return ", ".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in ranges)
