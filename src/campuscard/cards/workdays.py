"""Working days of an institution's country, make-up working days included (APP-5, CARD-5)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays


@cache
def _calendar(country: str, year: int):
    return holidays.country_holidays(country, years=[year, year + 1])


def is_working_day(country: str, day: dt.date) -> bool:
    """China moves weekends around holidays: a Saturday can be a working day (调休)."""
    return _calendar(country, day.year).is_working_day(day)


def add_working_days(country: str, start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (``start`` itself does not count)."""
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_working_day(country, day):
            left -= 1
    return day


def public_holidays(country: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The country's public holidays from ``first`` to ``last`` (inclusive)."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if day in _calendar(country, day.year)]
