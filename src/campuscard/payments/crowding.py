"""Canteen crowding (issue 5, item 6 — beyond the seeds): how busy each canteen is right now.

For every active canteen of an institution:

* **now** — payments in the last 10 minutes (of today: the window stops at local midnight);
* **usual** — the mean count for the same 10 minutes of the day on comparable days: the previous
  4 weeks, working days compared with working days and rest days with rest days (weekends and public
  holidays of the institution's country; China's make-up working days count as working days). Only
  days on which the canteen took payments count: a day it was closed is not a usual day;
* **level** — quiet / normal / busy / very busy from now against usual;
* **bars** — today's 10-minute counts from 06:00 until now, with the usual profile of the whole
  service day behind them (server-rendered bars, no script);
* **today** — every payment since local midnight. It was the sum of the bars, which leave out the
  payments before 06:00 and after 22:00, so a late snack showed "last 10 minutes 1, today 0"; and the
  10-minute window just after midnight reached into yesterday. Now "today" counts the whole day and the
  window stops at midnight, so today is never below the last 10 minutes (#17 item 11).

Two aggregate queries, both range scans of the ``(merchant, created_at)`` index, grouped in the
database by merchant and 10-minute slot: today's (every request; it also yields the last 10 minutes
through a filtered count) and the history profile (cached for the day — it changes only at midnight).

Slots are numbered on local time with the zone's current UTC offset: in a zone with daylight saving
time the history on the other side of a change is one hour off. Institutions in China have no DST.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import NotSupportedError
from django.db.models import BigIntegerField, Count, Func, Q, TextChoices
from django.utils.translation import gettext_lazy as _

from campuscard.cards.workdays import is_working_day
from campuscard.core import clock
from campuscard.core.models import Institution
from campuscard.payments.models import Merchant, Payment

SLOT_MINUTES = 10
SLOT_SECONDS = SLOT_MINUTES * 60
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
HISTORY_DAYS = 28  # the previous 4 weeks
DAY_START_HOUR = 6  # the sparkline runs from 06:00 …
DAY_END_HOUR = 22  # … to 22:00 (today's bars stop at now; the usual profile shows the rest of the day)
MIN_USUAL = 1.0  # below one payment per 10 minutes "usual" is noise: compare with 1
# now / usual below QUIET_BELOW → quiet, below NORMAL_BELOW → normal, below BUSY_BELOW → busy, else very busy
QUIET_BELOW, NORMAL_BELOW, BUSY_BELOW = 0.5, 1.25, 2.0
CACHE_SECONDS = 3600


class Level(TextChoices):
    QUIET = "quiet", _("quiet")
    NORMAL = "normal", _("normal")
    BUSY = "busy", _("busy")
    VERY_BUSY = "very_busy", _("very busy")


LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}


@dataclass(frozen=True)
class Bar:
    start: dt.time
    today: int | None  # None: later today
    usual: float
    today_percent: int
    usual_percent: int
    current: bool  # the slot we are in


@dataclass
class Crowding:
    merchant: Merchant
    now: int
    usual: float | None  # None: no comparable day yet
    level: Level
    bars: list[Bar] = field(default_factory=list)
    today_total: int = 0  # every payment since local midnight (the bars show 06:00–22:00 only)

    @property
    def ratio(self) -> float:
        return self.now / max(self.usual or 0.0, MIN_USUAL)

    @property
    def usual_rounded(self) -> int | None:
        return None if self.usual is None else round(self.usual)


def level_of(now: int, usual: float | None) -> Level:
    if now == 0:
        return Level.QUIET
    if usual is None:  # a new canteen: payments are coming in, but nothing to compare with yet
        return Level.NORMAL
    ratio = now / max(usual, MIN_USUAL)
    if ratio < QUIET_BELOW:
        return Level.QUIET
    if ratio < NORMAL_BELOW:
        return Level.NORMAL
    if ratio < BUSY_BELOW:
        return Level.BUSY
    return Level.VERY_BUSY


class LocalSlot(Func):
    """``(epoch seconds + offset) // 600``: the number of the local 10-minute slot since 1970-01-01
    (``slot // 144`` is the local day, ``slot % 144`` the slot of the day). Integers only."""

    output_field = BigIntegerField()

    def __init__(self, expression, *, offset: int) -> None:
        super().__init__(expression)
        self.offset = int(offset)

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError(f"LocalSlot is written for SQLite and PostgreSQL, not {connection.vendor}")

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"((CAST(strftime('%%s', {sql}) AS INTEGER) + {self.offset}) / {SLOT_SECONDS})", params

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"FLOOR((EXTRACT(EPOCH FROM {sql}) + {self.offset}) / {SLOT_SECONDS})::bigint", params


def canteens(institution: Institution) -> list[Merchant]:
    return list(Merchant.objects.filter(institution=institution, category=Merchant.Category.CANTEEN, active=True)
                .select_related("building").order_by("code"))


def canteens_crowding(institution: Institution, *, at: dt.datetime | None = None) -> list[Crowding]:
    """Every active canteen of the institution, quietest first."""
    merchants = canteens(institution)
    if not merchants:
        return []
    now = at or clock.now()
    zone = clock.zone(institution.time_zone)
    local = now.astimezone(zone)
    offset = int(local.utcoffset().total_seconds())
    ids = [m.pk for m in merchants]
    today, recent = _today(ids, local, offset)
    history = _history(institution, ids, local, offset)

    day_slot = (local.hour * 60 + local.minute) // SLOT_MINUTES
    into_slot = ((local.minute % SLOT_MINUTES) * 60 + local.second + local.microsecond / 1e6) / SLOT_SECONDS
    result = []
    for merchant in merchants:
        days, totals = history.get(merchant.pk, (0, {}))
        profile = {slot: total / days for slot, total in totals.items()} if days else {}
        usual = None
        if days:  # the window (now − 10 min, now] covers the end of the previous slot and the start of this one
            usual = (1 - into_slot) * profile.get(day_slot - 1, 0.0) + into_slot * profile.get(day_slot, 0.0)
        count = recent.get(merchant.pk, 0)
        slots = today.get(merchant.pk, {})
        result.append(Crowding(merchant=merchant, now=count, usual=usual, level=level_of(count, usual),
                               bars=_bars(slots, profile, day_slot), today_total=sum(slots.values())))
    result.sort(key=lambda c: (LEVEL_RANK[c.level], c.ratio, c.now, c.merchant.code))
    return result


def _today(ids: list[int], local: dt.datetime, offset: int) -> tuple[dict[int, dict[int, int]], dict[int, int]]:
    """Today's counts per merchant and slot of the day since midnight, and each merchant's last 10 minutes
    (today's only: the window never reaches into yesterday, so it is always part of today's total)."""
    now = local
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    window_start = max(now - dt.timedelta(minutes=SLOT_MINUTES), midnight)
    rows = (Payment.objects.filter(merchant_id__in=ids, created_at__gte=midnight, created_at__lte=now)
            .annotate(slot=LocalSlot("created_at", offset=offset)).order_by()
            .values("merchant_id", "slot")
            .annotate(n=Count("id"), recent=Count("id", filter=Q(created_at__gt=window_start))))
    today_number = _day_number(local, offset)
    per_slot: dict[int, dict[int, int]] = defaultdict(dict)
    recent: dict[int, int] = defaultdict(int)
    for row in rows:
        day, slot = divmod(row["slot"], SLOTS_PER_DAY)
        if day == today_number:
            recent[row["merchant_id"]] += row["recent"]
            per_slot[row["merchant_id"]][slot] = row["n"]
    return per_slot, recent


def _history(institution: Institution, ids: list[int], local: dt.datetime,
             offset: int) -> dict[int, tuple[int, dict[int, int]]]:
    """Per merchant: (comparable days it took payments on, {slot of the day: total count over those days})."""
    key = f"crowding:usual:v1:{institution.pk}:{local.date().isoformat()}:{offset}:{zlib.crc32(repr(ids).encode())}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    working = is_working_day(institution.country, local.date())
    days = [local.date() - dt.timedelta(days=back) for back in range(HISTORY_DAYS, 0, -1)]
    days = [day for day in days if is_working_day(institution.country, day) == working]
    result: dict[int, tuple[int, dict[int, int]]] = {}
    if days:
        zone = local.tzinfo
        ranges = Q()
        for first, last in _runs(days):
            start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
            end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
            ranges |= Q(created_at__gte=start, created_at__lt=end)
        rows = (Payment.objects.filter(ranges, merchant_id__in=ids)
                .annotate(slot=LocalSlot("created_at", offset=offset)).order_by()
                .values("merchant_id", "slot").annotate(n=Count("id")))
        active: dict[int, set[int]] = defaultdict(set)
        totals: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for row in rows:
            day, slot = divmod(row["slot"], SLOTS_PER_DAY)
            active[row["merchant_id"]].add(day)
            totals[row["merchant_id"]][slot] += row["n"]
        result = {merchant: (len(active[merchant]), dict(totals[merchant])) for merchant in active}
    cache.set(key, result, CACHE_SECONDS)
    return result


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days merged: Monday … Friday is one range, not five."""
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def _day_number(local: dt.datetime, offset: int) -> int:
    return (int(local.timestamp()) + offset) // SLOT_SECONDS // SLOTS_PER_DAY


def _bars(today: dict[int, int], profile: dict[int, float], current: int) -> list[Bar]:
    first = DAY_START_HOUR * 60 // SLOT_MINUTES
    last = DAY_END_HOUR * 60 // SLOT_MINUTES
    slots = range(first, last)
    scale = max([1.0, *(today.get(s, 0) for s in slots if s <= current), *(profile.get(s, 0.0) for s in slots)])
    bars = []
    for slot in slots:
        count = today.get(slot, 0) if slot <= current else None
        usual = profile.get(slot, 0.0)
        minutes = slot * SLOT_MINUTES
        bars.append(Bar(start=dt.time(minutes // 60, minutes % 60), today=count, usual=usual,
                        today_percent=round(100 * (count or 0) / scale), usual_percent=round(100 * usual / scale),
                        current=slot == current))
    return bars
