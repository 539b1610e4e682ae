"""The dorm services' decisions as pure functions (house rule 11): energy bought, the laundry slot grid,
cancellation, start and no-show boundaries. They read no database and no clock."""

from __future__ import annotations

import datetime as dt


def energy_for(amount: int, price: int) -> int:
    """Wh bought for ``amount`` fen at ``price`` fen/kWh: rounded DOWN to the watt-hour, so the holder
    never gets energy they did not pay for and what rounding keeps is always under one fen (for any
    price below ¥10/kWh, what it keeps is less than price/1000 fen)."""
    if amount <= 0 or price <= 0:
        return 0
    return amount * 1000 // price


def on_grid(local_start: dt.datetime, slot_minutes: int) -> bool:
    """Laundry slots start every ``slot_minutes`` from local midnight."""
    minutes = local_start.hour * 60 + local_start.minute
    return local_start.second == 0 and local_start.microsecond == 0 and minutes % slot_minutes == 0


def may_cancel(now: dt.datetime, starts_at: dt.datetime, cancel_minutes: int) -> bool:
    """With a full refund until ``cancel_minutes`` before the start, that moment included."""
    return now <= starts_at - dt.timedelta(minutes=cancel_minutes)


def no_show(now: dt.datetime, starts_at: dt.datetime, grace_minutes: int) -> bool:
    """A booking not started by the end of the grace period releases its slot (not refunded)."""
    return now >= starts_at + dt.timedelta(minutes=grace_minutes)


def may_start(now: dt.datetime, starts_at: dt.datetime, grace_minutes: int) -> bool:
    """The machine starts for the booking from its start until the grace period ends (then: no-show)."""
    return starts_at <= now and not no_show(now, starts_at, grace_minutes)


def may_book(now: dt.datetime, starts_at: dt.datetime, grace_minutes: int, ahead_days: int) -> str | None:
    """None, or why not: a slot can be booked until its grace period ends (use it now), ``ahead_days`` ahead."""
    if no_show(now, starts_at, grace_minutes):
        return "laundry_slot_past"
    if starts_at > now + dt.timedelta(days=ahead_days):
        return "laundry_slot_too_far"
    return None
