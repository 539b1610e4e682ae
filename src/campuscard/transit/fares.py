"""The fare table (TRN-1): pure functions over an operator's rules, a route and the card — the server
and the validator's snapshot use the same numbers. All fares integer fen (LED-1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campuscard.cards.models import Card

STUDENT, STAFF, FULL = "student", "staff", "full"


@dataclass(frozen=True)
class FareRules:
    student_discount_percent: int
    staff_discount_percent: int
    transfer_minutes: int
    transfer_discount: int


@dataclass(frozen=True)
class RouteFare:
    fare: int
    stage_fare: int
    max_stages: int


def fare_class(card_kind: str) -> str:
    """The student fare is for holders of an active student card; staff pay the operator's staff fare
    (full unless its table says otherwise); everyone else the full fare."""
    if card_kind == Card.Kind.STUDENT:
        return STUDENT
    if card_kind == Card.Kind.STAFF:
        return STAFF
    return FULL


def discount_percent(rules: FareRules, klass: str) -> int:
    return {STUDENT: rules.student_discount_percent, STAFF: rules.staff_discount_percent}.get(klass, 0)


def base_fare(route: RouteFare, stages: int) -> int:
    stages = min(max(1, stages), route.max_stages)
    return route.fare + (stages - 1) * route.stage_fare


def fare(rules: FareRules, route: RouteFare, klass: str, stages: int = 1, *, transfer: bool = False) -> int:
    """The fare in fen: the class's discount off the stage fare (rounded half up to the fen), then the
    transfer discount (never below zero)."""
    full = base_fare(route, stages)
    discounted = full - (full * discount_percent(rules, klass) + 50) // 100
    if transfer:
        discounted = max(0, discounted - rules.transfer_discount)
    return discounted


def is_transfer(rules: FareRules, *, previous_at: dt.datetime | None, previous_route: int | None,
                previous_transfer: bool, at: dt.datetime, route: int) -> bool:
    """A ride on ANOTHER route of the same operator within ``transfer_minutes`` (inclusive) of the
    previous ride, which was not itself a transfer."""
    if rules.transfer_minutes <= 0 or previous_at is None or previous_route == route or previous_transfer:
        return False
    return dt.timedelta(0) <= at - previous_at <= dt.timedelta(minutes=rules.transfer_minutes)
