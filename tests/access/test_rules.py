"""rules.decide on plain data: every rule at its boundaries (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from campuscard.access import rules
from tests.access.conftest import local

TZ = "Asia/Shanghai"
TEACHING = rules.ZoneFacts(id=1, institution_id=1, code="t", level=rules.TEACHING, time_zone=TZ, building_id=10)
DORM = rules.ZoneFacts(id=2, institution_id=1, code="d", level=rules.DORMITORY, time_zone=TZ, building_id=20)
LAB = rules.ZoneFacts(id=3, institution_id=1, code="l", level=rules.LABORATORY, time_zone=TZ, building_id=30)
LIBRARY = rules.ZoneFacts(id=4, institution_id=1, code="b", level=rules.LIBRARY, time_zone=TZ, building_id=40)
GATE = rules.ZoneFacts(id=5, institution_id=1, code="g", level=rules.CAMPUS_GATE, time_zone=TZ)
OTHER = rules.ZoneFacts(id=6, institution_id=1, code="o", level=rules.OTHER, time_zone=TZ)


def student(**changes) -> rules.HolderFacts:
    base = dict(person_id=1, person_kind="undergraduate", person_status="full_time", card_id=1, card_kind="student",
                card_state="active")
    return rules.HolderFacts(**{**base, **changes})


def decide(holder=None, zone=TEACHING, moment=None, visitor=None, exceptions=None, policy=None):
    facts = rules.Facts(holder=holder, visitor=visitor, exceptions=exceptions or {})
    return rules.decide(facts, zone, moment or local(2026, 11, 30, 12, 0), policy)


RESIDENT = student(residences=(rules.Residence(20, dt.date(2026, 9, 1), None),))


@pytest.mark.parametrize(("hour", "minute", "resident_rule", "student_rule"), [
    (22, 59, "admit_dorm_resident", "admit_dorm_day"),
    (23, 0, "admit_dorm_resident", "refuse_dorm_night_not_resident"),
    (0, 30, "admit_dorm_resident", "refuse_dorm_night_not_resident"),
    (5, 59, "admit_dorm_resident", "refuse_dorm_night_not_resident"),
    (6, 0, "admit_dorm_resident", "admit_dorm_day"),
])
def test_dormitory_night_window_across_midnight(hour, minute, resident_rule, student_rule):
    moment = local(2026, 12, 1, hour, minute)
    assert decide(RESIDENT, DORM, moment).rule == resident_rule
    assert decide(student(), DORM, moment).rule == student_rule


def test_dormitory_night_is_institution_time_not_utc():
    # 15:30 UTC is 23:30 in Shanghai
    assert decide(student(), DORM, dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC)).rule == \
        "refuse_dorm_night_not_resident"
    assert decide(student(), DORM, dt.datetime(2026, 12, 1, 14, 59, tzinfo=dt.UTC)).rule == "admit_dorm_day"


def test_dormitory_residence_dates_are_inclusive_and_per_building():
    moved_out = student(residences=(rules.Residence(20, dt.date(2026, 9, 1), dt.date(2026, 12, 1)),))
    assert decide(moved_out, DORM, local(2026, 12, 1, 23, 59)).rule == "admit_dorm_resident"
    assert decide(moved_out, DORM, local(2026, 12, 2, 0, 0)).rule == "refuse_dorm_night_not_resident"
    other_building = rules.ZoneFacts(id=7, institution_id=1, code="d2", level=rules.DORMITORY, time_zone=TZ,
                                     building_id=21)
    assert decide(RESIDENT, other_building, local(2026, 12, 1, 23, 30)).rule == "refuse_dorm_night_not_resident"


def test_dormitory_by_day_students_only_by_default_configurable():
    staff = student(person_kind="staff", person_status="active", card_kind="staff")
    assert decide(staff, DORM).rule == "refuse_dorm_day_not_student"
    assert decide(staff, DORM, policy=rules.Policy(dorm_day="holders")).rule == "admit_dorm_day"
    custom = rules.Policy(dorm_night_start=22 * 60, dorm_night_end=7 * 60)
    assert decide(student(), DORM, local(2026, 12, 1, 22, 0), policy=custom).rule == "refuse_dorm_night_not_resident"
    assert decide(student(), DORM, local(2026, 12, 1, 7, 0), policy=custom).rule == "admit_dorm_day"


def test_teaching_open_all_day_to_active_holders():
    for hour in (0, 3, 12, 23):
        assert decide(student(), TEACHING, local(2026, 11, 30, hour, 59)) == rules.Decision(True, "admit_teaching")
    assert decide(student(person_status="suspended")).rule == "refuse_holder_inactive"
    assert decide(None).rule == "refuse_credential_unknown"
    assert decide(student(credential_active=False)).rule == "refuse_credential_unknown"


@pytest.mark.parametrize(("state", "rule"), [("lost", "refuse_card_lost"), ("frozen", "refuse_card_frozen"),
                                             ("cancelled", "refuse_card_cancelled"),
                                             ("replaced", "refuse_card_replaced"), ("applied", "refuse_card_not_active")])
def test_refused_card_states_everywhere(state, rule):
    for zone in (TEACHING, DORM, LAB, LIBRARY, GATE, OTHER):
        assert decide(RESIDENT.__class__(**{**RESIDENT.__dict__, "card_state": state}), zone) == \
            rules.Decision(False, rule)


def test_alumni_only_into_libraries():
    alumnus = student(person_kind="alumnus", person_status="graduated", card_kind="alumni", campus_entry=True,
                      lab_addon=True, residences=RESIDENT.residences)
    assert decide(alumnus, LIBRARY) == rules.Decision(True, "admit_library_alumni")
    for zone in (TEACHING, DORM, LAB, GATE, OTHER):
        assert decide(alumnus, zone) == rules.Decision(False, "refuse_alumni_not_library")
    assert decide(student(), LIBRARY) == rules.Decision(True, "admit_library")


def test_campus_gate_needs_an_approved_entry():
    assert decide(student(), GATE) == rules.Decision(False, "refuse_no_campus_entry")
    assert decide(student(campus_entry=True), GATE) == rules.Decision(True, "admit_campus_entry")


WEEKLY = rules.Permit(zone_id=3, valid_from=dt.date(2026, 11, 1), valid_to=dt.date(2026, 12, 31),
                      slots=(rules.Slot(start=14 * 60, end=16 * 60, weekday=0),))  # Mondays 14:00-16:00
DATED = rules.Permit(zone_id=3, valid_from=dt.date(2026, 12, 5), valid_to=dt.date(2026, 12, 5),
                     slots=(rules.Slot(start=9 * 60, end=9 * 60 + 30, day=dt.date(2026, 12, 5)),))


@pytest.mark.parametrize(("moment", "rule"), [
    (local(2026, 11, 30, 13, 59), "refuse_lab_no_permit"),
    (local(2026, 11, 30, 14, 0), "admit_lab_permit"),
    (local(2026, 11, 30, 15, 59), "admit_lab_permit"),
    (local(2026, 11, 30, 16, 0), "refuse_lab_no_permit"),
    (local(2026, 12, 1, 14, 30), "refuse_lab_no_permit"),  # Tuesday
    (local(2026, 12, 28, 14, 0), "admit_lab_permit"),  # last Monday of the permit
    (local(2027, 1, 4, 14, 0), "refuse_lab_no_permit"),  # expired
    (local(2026, 12, 5, 8, 59), "refuse_lab_no_permit"),
    (local(2026, 12, 5, 9, 0), "admit_lab_permit"),
    (local(2026, 12, 5, 9, 29), "admit_lab_permit"),
    (local(2026, 12, 5, 9, 30), "refuse_lab_no_permit"),
])
def test_lab_slot_edges(moment, rule):
    assert decide(student(lab_addon=True, permits=(WEEKLY, DATED)), LAB, moment).rule == rule


def test_lab_needs_the_addon_and_a_permit_for_that_zone():
    assert decide(student(lab_addon=False, permits=(WEEKLY,)), LAB, local(2026, 11, 30, 14, 0)).rule == \
        "refuse_lab_no_addon"
    other_lab = rules.ZoneFacts(id=9, institution_id=1, code="l2", level=rules.LABORATORY, time_zone=TZ)
    assert decide(student(lab_addon=True, permits=(WEEKLY,)), other_lab, local(2026, 11, 30, 14, 0)).rule == \
        "refuse_lab_no_permit"


def test_zone_exceptions_close_or_limit_hours_but_never_lock_residents_out():
    day = dt.date(2026, 11, 30)
    closed = {day: rules.ZoneDay(closed=True)}
    assert decide(student(), TEACHING, exceptions=closed).rule == "refuse_zone_closed"
    assert decide(student(), TEACHING, local(2026, 12, 1, 12, 0), exceptions=closed).rule == "admit_teaching"
    hours = {day: rules.ZoneDay(closed=False, open_from=8 * 60, open_to=17 * 60)}
    assert decide(student(), TEACHING, local(2026, 11, 30, 7, 59), exceptions=hours).rule == \
        "refuse_zone_outside_hours"
    assert decide(student(), TEACHING, local(2026, 11, 30, 8, 0), exceptions=hours).rule == "admit_teaching"
    assert decide(student(), TEACHING, local(2026, 11, 30, 17, 0), exceptions=hours).rule == \
        "refuse_zone_outside_hours"
    assert decide(RESIDENT, DORM, exceptions=closed).rule == "admit_dorm_resident"
    assert decide(student(), DORM, exceptions=closed).rule == "refuse_zone_closed"
    inactive = rules.ZoneFacts(id=1, institution_id=1, code="t", level=rules.TEACHING, time_zone=TZ, active=False)
    assert decide(student(), inactive).rule == "refuse_zone_inactive"


START, END = local(2026, 11, 30, 10, 0), local(2026, 11, 30, 12, 0)
VISITOR = rules.VisitorFacts(pass_id=1, zone_ids=frozenset({1, 2, 5}), start=START, end=END)


@pytest.mark.parametrize(("moment", "rule"), [
    (START - dt.timedelta(minutes=1), "refuse_visitor_not_yet"),
    (START, "admit_visitor"),
    (END - dt.timedelta(seconds=1), "admit_visitor"),
    (END, "refuse_visitor_expired"),
])
def test_visitor_window_edges(moment, rule):
    assert decide(visitor=VISITOR, zone=TEACHING, moment=moment).rule == rule


def test_visitor_zones_revocation_and_dorm_night():
    assert decide(visitor=VISITOR, zone=LIBRARY, moment=START).rule == "refuse_visitor_wrong_zone"
    revoked = rules.VisitorFacts(**{**VISITOR.__dict__, "revoked": True})
    assert decide(visitor=revoked, zone=TEACHING, moment=START).rule == "refuse_visitor_revoked"
    night = rules.VisitorFacts(pass_id=2, zone_ids=frozenset({2}), start=local(2026, 11, 30, 22, 0),
                               end=local(2026, 12, 1, 1, 0))
    assert decide(visitor=night, zone=DORM, moment=local(2026, 11, 30, 22, 59)).rule == "admit_visitor"
    assert decide(visitor=night, zone=DORM, moment=local(2026, 11, 30, 23, 0)).rule == \
        "refuse_dorm_night_not_resident"


def test_problem_wins_and_naive_moments_are_refused():
    assert rules.decide(rules.Facts(problem="refuse_visitor_forged"), TEACHING, START).rule == "refuse_visitor_forged"
    with pytest.raises(ValueError):
        rules.decide(rules.Facts(holder=student()), TEACHING, dt.datetime(2026, 11, 30, 12, 0))  # noqa: DTZ001


def test_every_rule_has_a_translated_message():
    from django.utils import translation

    from campuscard.access.errors import rule_message
    from campuscard.core.errors import REGISTRY

    refusals = [code for code in REGISTRY if code.startswith("refuse_")]
    assert len(refusals) >= 25
    for rule in [*rules.ADMIT_RULES, *refusals]:
        with translation.override("en"):
            assert rule_message(rule)


def test_each_level_reads_only_the_facts_level_facts_names():
    """``rules.LEVEL_FACTS`` is what the online, fast and offline paths gather: a fact it does not name for a
    level never changes a decision there, and each one it names does somewhere."""
    every = {"campus_entry": True, "lab_addon": True,
             "residences": tuple(rules.Residence(b, dt.date(2026, 9, 1), None) for b in (10, 20, 30, 40)),
             "permits": tuple(rules.Permit(z, dt.date(2026, 11, 1), dt.date(2026, 12, 31),
                                           (rules.Slot(0, 24 * 60, weekday=0),)) for z in range(1, 7))}
    moments = [local(2026, 11, 30, h, 0) for h in (3, 12, 23)]
    for zone in (TEACHING, DORM, LAB, LIBRARY, GATE, OTHER):
        assert zone.level in rules.LEVEL_FACTS
        for fact in every:
            others = {k: v for k, v in every.items() if k != fact}
            changed = {decide(student(**every), zone, m) != decide(student(**others), zone, m) for m in moments}
            assert (True in changed) == rules.reads(zone.level, fact), (zone.level, fact)
