"""The access decision (ACC-1 … ACC-4) as one pure function over plain data.

Online gates (``services.gate_decide``) and offline controllers (``offline.decide_offline``) gather
facts differently — from the database and process caches, or from a signed snapshot — and then call
the SAME ``decide``; so an offline gate decides exactly as the server would on the same facts.
Nothing here touches the database, settings or the clock; the card states that refuse come from the
cards app's one table (``cards.policy``).

Every decision names the rule that decided it (``admit_*`` / ``refuse_*``); refusal codes are
registered with translated messages in ``access.errors``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from campuscard.cards.policy import STATE_REFUSALS, USABLE_STATES

# Zone levels (Zone.Level values; repeated here so this module needs no Django).
CAMPUS_GATE, TEACHING, DORMITORY, LABORATORY, LIBRARY, OTHER = (
    "campus_gate", "teaching", "dormitory", "laboratory", "library", "other")
STUDENT_KINDS = frozenset({"undergraduate", "graduate", "exchange"})
INACTIVE_STATUSES = frozenset({"suspended", "left"})
# The cards app's one table of refusing card states, as gate rules (card_lost → refuse_card_lost).
CARD_STATE_RULES = {state: f"refuse_{code}" for state, code in STATE_REFUSALS.items()}

# Which of a holder's changing facts each zone level's rules read, besides the card and the holder
# (state, kinds, status): the online, fast and offline paths gather exactly these.
LEVEL_FACTS: dict[str, frozenset[str]] = {
    CAMPUS_GATE: frozenset({"campus_entry"}), LABORATORY: frozenset({"lab_addon", "permits"}),
    DORMITORY: frozenset({"residences"}), TEACHING: frozenset(), LIBRARY: frozenset(), OTHER: frozenset(),
}


def reads(level: str, fact: str) -> bool:
    """Whether a decision at a zone of ``level`` reads ``fact`` (a name from ``LEVEL_FACTS``)."""
    return fact in LEVEL_FACTS.get(level, frozenset())

ADMIT_RULES = ("admit_teaching", "admit_library", "admit_library_alumni", "admit_dorm_resident", "admit_dorm_day",
               "admit_lab_permit", "admit_campus_entry", "admit_other", "admit_visitor")


@dataclass(frozen=True)
class Decision:
    admitted: bool
    rule: str


@dataclass(frozen=True)
class Policy:
    """Configurable parts of the rules (settings ``ACCESS_*``, copied into offline snapshots)."""

    dorm_night_start: int = 23 * 60  # minutes after local midnight
    dorm_night_end: int = 6 * 60
    dorm_day: str = "students"  # "students": any active student of the institution; "holders": any active holder


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class ZoneFacts:
    id: int
    institution_id: int
    code: str
    level: str
    time_zone: str
    building_id: int | None = None
    active: bool = True


@dataclass(frozen=True)
class ZoneDay:
    """A zone exception for one local date: closed, or open only in [open_from, open_to) minutes."""

    closed: bool
    open_from: int | None = None
    open_to: int | None = None


@dataclass(frozen=True)
class Slot:
    start: int  # minutes after local midnight, inclusive
    end: int  # exclusive
    weekday: int | None = None  # Monday 0 … Sunday 6 (weekly slot)
    day: dt.date | None = None  # dated slot


@dataclass(frozen=True)
class Permit:
    zone_id: int
    valid_from: dt.date
    valid_to: dt.date
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Residence:
    building_id: int
    valid_from: dt.date
    valid_to: dt.date | None


@dataclass(frozen=True)
class HolderFacts:
    person_id: int
    person_kind: str
    person_status: str
    card_id: int | None
    card_kind: str
    card_state: str
    credential_active: bool = True
    campus_entry: bool = False
    lab_addon: bool = False
    residences: tuple[Residence, ...] = ()
    permits: tuple[Permit, ...] = ()


@dataclass(frozen=True)
class VisitorFacts:
    pass_id: int
    zone_ids: frozenset[int]
    start: dt.datetime
    end: dt.datetime  # exclusive
    revoked: bool = False


@dataclass(frozen=True)
class Facts:
    """What is known about the credential presented. ``problem`` names a refusal found while reading
    the credential itself (unknown card, forged or malformed code)."""

    problem: str | None = None
    holder: HolderFacts | None = None
    visitor: VisitorFacts | None = None
    exceptions: dict[dt.date, ZoneDay] = field(default_factory=dict)


def minutes(value: str | dt.time) -> int:
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    hours, mins = value.split(":")
    return int(hours) * 60 + int(mins)


def _in_window(minute: int, start: int, end: int) -> bool:
    """[start, end) on a 24-hour clock; a window with end <= start runs across midnight."""
    return start <= minute < end if start < end else minute >= start or minute < end


def is_night(minute: int, policy: Policy) -> bool:
    return _in_window(minute, policy.dorm_night_start, policy.dorm_night_end)


def _resident(holder: HolderFacts, building_id: int | None, day: dt.date) -> bool:
    return building_id is not None and any(
        r.building_id == building_id and r.valid_from <= day and (r.valid_to is None or day <= r.valid_to)
        for r in holder.residences)


def _permit_covers(holder: HolderFacts, zone_id: int, day: dt.date, minute: int) -> bool:
    for permit in holder.permits:
        if permit.zone_id != zone_id or not permit.valid_from <= day <= permit.valid_to:
            continue
        for slot in permit.slots:
            on_day = slot.day == day if slot.day is not None else slot.weekday == day.weekday()
            if on_day and slot.start <= minute < slot.end:
                return True
    return False


def decide(facts: Facts, zone: ZoneFacts, moment: dt.datetime, policy: Policy | None = None) -> Decision:
    """Admit or refuse ``facts`` at ``zone`` at ``moment`` (aware); the rule is always named."""
    if moment.tzinfo is None:
        raise ValueError("decide takes aware datetimes only")
    policy = policy or DEFAULT_POLICY
    if facts.problem:
        return Decision(False, facts.problem)
    if not zone.active:
        return Decision(False, "refuse_zone_inactive")
    local = moment.astimezone(ZoneInfo(zone.time_zone))
    day, minute = local.date(), local.hour * 60 + local.minute
    holder, visitor = facts.holder, facts.visitor

    if holder is not None:
        if not holder.credential_active:
            return Decision(False, "refuse_credential_unknown")
        if holder.card_state not in USABLE_STATES:
            return Decision(False, CARD_STATE_RULES.get(holder.card_state, "refuse_card_not_active"))
        alumni = holder.card_kind == "alumni" or holder.person_kind == "alumnus"
        if alumni and zone.level != LIBRARY:  # CARD-9: alumni keep only the library
            return Decision(False, "refuse_alumni_not_library")
        if not alumni and holder.person_status in INACTIVE_STATUSES:
            return Decision(False, "refuse_holder_inactive")
        # A resident is never locked out of their own dormitory by a schedule exception.
        if zone.level == DORMITORY and _resident(holder, zone.building_id, day):
            return Decision(True, "admit_dorm_resident")
    elif visitor is None:
        return Decision(False, "refuse_credential_unknown")

    exception = facts.exceptions.get(day)
    if exception is not None:
        if exception.closed:
            return Decision(False, "refuse_zone_closed")
        if exception.open_from is not None and exception.open_to is not None and not _in_window(
                minute, exception.open_from, exception.open_to):
            return Decision(False, "refuse_zone_outside_hours")

    if visitor is not None:
        if visitor.revoked:
            return Decision(False, "refuse_visitor_revoked")
        if zone.id not in visitor.zone_ids:
            return Decision(False, "refuse_visitor_wrong_zone")
        if moment < visitor.start:
            return Decision(False, "refuse_visitor_not_yet")
        if moment >= visitor.end:
            return Decision(False, "refuse_visitor_expired")
        if zone.level == LABORATORY:
            return Decision(False, "refuse_lab_no_permit")
        if zone.level == DORMITORY and is_night(minute, policy):
            return Decision(False, "refuse_dorm_night_not_resident")
        return Decision(True, "admit_visitor")

    assert holder is not None
    if zone.level == LIBRARY:
        alumni = holder.card_kind == "alumni" or holder.person_kind == "alumnus"
        return Decision(True, "admit_library_alumni" if alumni else "admit_library")
    if zone.level == TEACHING:
        return Decision(True, "admit_teaching")
    if zone.level == CAMPUS_GATE:
        return Decision(True, "admit_campus_entry") if holder.campus_entry else Decision(False,
                                                                                         "refuse_no_campus_entry")
    if zone.level == DORMITORY:
        if is_night(minute, policy):
            return Decision(False, "refuse_dorm_night_not_resident")
        if policy.dorm_day == "holders" or holder.person_kind in STUDENT_KINDS:
            return Decision(True, "admit_dorm_day")
        return Decision(False, "refuse_dorm_day_not_student")
    if zone.level == LABORATORY:
        if not holder.lab_addon:
            return Decision(False, "refuse_lab_no_addon")
        if _permit_covers(holder, zone.id, day, minute):
            return Decision(True, "admit_lab_permit")
        return Decision(False, "refuse_lab_no_permit")
    return Decision(True, "admit_other")
