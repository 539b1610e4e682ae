"""Offline controllers (ACC-5): signed snapshots, the same decisions as online, expiry policy, event upload."""

from __future__ import annotations

import datetime as dt

import pytest

from campuscard.access import offline, services
from campuscard.access.models import (
    AccessEvent,
    AccessSigningKey,
    CampusEntryApproval,
    LabPermit,
    ZoneException,
)
from campuscard.cards import codes
from campuscard.cards.services import card_report_lost, graduate
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.identity.models import Person
from tests.access.conftest import NOON, holder, local, resident, signed_get, signed_post
from tests.access.test_gate import decide

pytestmark = pytest.mark.django_db


def snapshot(gate, moment=NOON):
    with frozen_at(moment):
        return offline.snapshot_build(device=gate[0])


@pytest.fixture
def population(institution, place, make_operator):
    """Holders covering every rule: residents, a lab permit holder, campus entry, staff, alumnus, lost card."""
    people = {}
    people["resident"] = holder(institution)
    resident(people["resident"][0], place["dorm_a"])
    people["moved_out"] = holder(institution)
    resident(people["moved_out"][0], place["dorm_a"], valid_to=dt.date(2026, 11, 30))
    people["student"] = holder(institution)
    people["staff"] = holder(institution, kind=Person.Kind.STAFF)
    people["labber"] = holder(institution)
    services.access_addon_grant(actor=Actor.system("t"), person=people["labber"][0])
    with frozen_at(NOON):
        permit = services.lab_permit_apply(
            actor=Actor.system("t"), person=people["labber"][0], zone=place["zones"]["lab"], valid_from=dt.date(2026, 11, 1),
            valid_to=dt.date(2026, 12, 31), weekly_slots=[{"weekday": 0, "start": "14:00", "end": "16:00"}],
            dated_slots=[{"date": "2026-12-05", "start": "09:00", "end": "09:30"}])
    LabPermit.objects.filter(pk=permit.pk).update(state=LabPermit.State.APPROVED)
    people["commuter"] = holder(institution)
    CampusEntryApproval.objects.create(institution=institution, person=people["commuter"][0], state="approved",
                                       requested_at=NOON)
    people["alumnus"] = holder(institution)
    graduate(actor=Actor.system("t"), person=people["alumnus"][0])
    people["lost"] = holder(institution)
    card_report_lost(actor=Actor.system("t"), card=people["lost"][1], channel="portal")
    ZoneException.objects.create(zone=place["zones"]["library"], date=dt.date(2026, 12, 1), closed=False,
                                 open_from=dt.time(8, 0), open_to=dt.time(20, 0))
    return people


MOMENTS = [local(2026, 11, 30, 11, 59), local(2026, 11, 30, 12, 0), local(2026, 11, 30, 14, 0), local(2026, 11, 30, 15, 59),
           local(2026, 11, 30, 16, 0), local(2026, 11, 30, 22, 59), local(2026, 11, 30, 23, 0),
           local(2026, 12, 1, 5, 59), local(2026, 12, 1, 6, 0), local(2026, 12, 1, 20, 0),
           local(2026, 12, 5, 9, 0), local(2026, 12, 5, 9, 30)]
ZONES = ["south-gate", "teach-1", "dorm-a", "dorm-b", "lab-1", "library"]
WHO = ["resident", "moved_out", "student", "staff", "labber", "commuter", "alumnus", "lost"]


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.strftime("%m%d-%H%M"))
def test_offline_decisions_equal_online_ones(institution, place, gate, population, moment, rules_seen):
    """One snapshot made before the cases; each case is decided online and offline on the same inputs."""
    snap = snapshot(gate, local(2026, 11, 30, 11, 0))
    snap["expires_at"] = local(2027, 1, 1).isoformat()  # this test compares rules, not expiry
    with frozen_at(local(2026, 11, 30, 11, 0)):
        _pass, visitor = services.visitor_pass_create(
            actor=Actor.system("t"), host=population["staff"][0], visitor_name="访客", visitor_phone="13800000000",
            zones=[place["zones"]["teaching"], place["zones"]["dorm"]], valid_from=local(2026, 11, 30, 12, 0),
            valid_to=local(2026, 12, 1, 6, 0))
    credentials = [{"nfc_uid": population[who][2]} for who in WHO]
    credentials += [{"visitor_code": visitor}, {"nfc_uid": "FFFFFFFF"}]
    for zone in ZONES:
        for credential in credentials:
            online = decide(gate, zone, moment, **credential)
            assert offline.decide_offline(snap, zone_code=zone, moment=moment, **credential) == online, (
                zone, credential, online)
            rules_seen.add(online.rule)
    rules_seen.add(f"moment:{moment.isoformat()}")


@pytest.fixture(scope="module")
def rules_seen():
    seen: set[str] = set()
    yield seen
    if sum(rule.startswith("moment:") for rule in seen) == len(MOMENTS):  # all ran here (not split by xdist)
        assert {"admit_dorm_resident", "refuse_dorm_night_not_resident", "admit_dorm_day",
                "refuse_dorm_day_not_student", "admit_lab_permit", "refuse_lab_no_permit", "refuse_lab_no_addon",
                "admit_campus_entry", "refuse_no_campus_entry", "admit_library_alumni", "refuse_alumni_not_library",
                "refuse_card_lost", "admit_visitor", "refuse_visitor_wrong_zone", "refuse_visitor_not_yet",
                "refuse_visitor_expired", "refuse_credential_unknown", "refuse_zone_outside_hours", "admit_teaching",
                "admit_library"} <= seen, seen


def test_snapshot_is_signed_and_carries_what_the_gate_needs(institution, place, gate, population):
    snap = snapshot(gate)
    public = dict(AccessSigningKey.objects.filter(institution=institution).values_list("key_id", "public_key"))
    assert offline.snapshot_verify(snap, public)
    tampered = {**snap, "campus_entry": [*snap["campus_entry"], population["student"][0].pk]}
    assert not offline.snapshot_verify(tampered, public)
    assert not offline.snapshot_verify(snap, {})
    assert population["lost"][2] in snap["deny_list"]["nfc_uids"] and snap["deny_list"]["version"] >= 1
    assert {r["person"] for r in snap["residents"]} == {population["resident"][0].pk, population["moved_out"][0].pk}
    assert [p["person"] for p in snap["lab_permits"]] == [population["labber"][0].pk]
    assert snap["campus_entry"] == [population["commuter"][0].pk]
    assert dt.datetime.fromisoformat(snap["expires_at"]) - dt.datetime.fromisoformat(snap["generated_at"]) == \
        dt.timedelta(hours=12)


def test_lost_card_and_revoked_pass_refused_offline_after_the_next_snapshot(institution, place, gate, population):
    _person, card, uid = population["student"]
    with frozen_at(NOON):
        _pass, code = services.visitor_pass_create(actor=Actor.system("t"), host=population["staff"][0], visitor_name="访客",
                                                   visitor_phone="13800000000", zones=[place["zones"]["teaching"]],
                                                   valid_from=NOON, valid_to=NOON + dt.timedelta(hours=4))
    before = snapshot(gate)
    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    services.visitor_pass_revoke(actor=Actor.system("t"), visitor_pass=_pass)
    later = NOON + dt.timedelta(hours=1)
    assert offline.decide_offline(before, zone_code="teach-1", moment=later, nfc_uid=uid).admitted  # not yet synced
    assert offline.decide_offline(before, zone_code="teach-1", moment=later, visitor_code=code).admitted
    after = snapshot(gate, later)
    assert offline.decide_offline(after, zone_code="teach-1", moment=later, nfc_uid=uid).rule == "refuse_card_lost"
    assert offline.decide_offline(after, zone_code="teach-1", moment=later, visitor_code=code).rule == \
        "refuse_visitor_revoked"


def test_dynamic_codes_are_refused_offline(institution, place, gate, population):
    card = population["student"][1]
    with frozen_at(NOON):
        code = codes.current_code(card.credentials.get(kind="qr"))
    assert offline.decide_offline(snapshot(gate), zone_code="teach-1", moment=NOON, code=code).rule == \
        "refuse_code_offline_unsupported"


def test_expiry_policy_fail_secure_for_labs_never_locks_residents_out(institution, place, gate, population, settings):
    snap = snapshot(gate, local(2026, 11, 30, 12, 0))  # expires 2026-12-01 00:00
    labber, resident_uid = population["labber"][2], population["resident"][2]
    moved_out_uid, student_uid = population["moved_out"][2], population["student"][2]
    lab_time = local(2026, 11, 30, 14, 0)
    assert offline.decide_offline(snap, zone_code="lab-1", moment=lab_time, nfc_uid=labber).rule == "admit_lab_permit"
    expired_lab = local(2026, 12, 7, 14, 0)  # a Monday inside the permit, past the snapshot's expiry
    assert offline.decide_offline(snap, zone_code="lab-1", moment=expired_lab, nfc_uid=labber).rule == \
        "refuse_snapshot_expired"
    # dormitory past expiry: residents in, and the one whose residence ended "yesterday" too (the date rolled
    # over while the gate could not re-check); everyone else refused
    night = local(2026, 12, 1, 0, 30)
    assert offline.decide_offline(snap, zone_code="dorm-a", moment=night, nfc_uid=resident_uid).rule == \
        "admit_dorm_resident"
    assert offline.decide_offline(snap, zone_code="dorm-a", moment=night, nfc_uid=moved_out_uid).rule == \
        "admit_dorm_resident"
    assert offline.decide_offline(snap, zone_code="dorm-a", moment=local(2026, 12, 1, 12, 0),
                                  nfc_uid=student_uid).rule == "refuse_snapshot_expired"
    assert offline.decide_offline(snap, zone_code="dorm-a", moment=night, nfc_uid=population["lost"][2]).rule == \
        "refuse_card_lost"
    # teaching decides on the last known facts
    assert offline.decide_offline(snap, zone_code="teach-1", moment=night, nfc_uid=student_uid).rule == \
        "admit_teaching"
    settings.ACCESS_OFFLINE_EXPIRED_POLICY = {"teaching": "refuse"}
    snap = snapshot(gate, local(2026, 11, 30, 12, 0))
    assert offline.decide_offline(snap, zone_code="teach-1", moment=night, nfc_uid=student_uid).rule == \
        "refuse_snapshot_expired"
    # a snapshot whose policy names a mode this gate does not know fails secure, never open
    snap["policy"]["expired"]["laboratory"] = "refuse_all"
    assert offline.decide_offline(snap, zone_code="lab-1", moment=expired_lab, nfc_uid=labber).rule == \
        "refuse_snapshot_expired"


def test_snapshot_and_event_upload_over_http_with_duplicates_dropped(institution, place, gate, population):
    device, secret = gate
    uid = population["student"][2]
    with frozen_at(NOON):
        got = signed_get(device, secret, "/api/v1/access/gate/snapshot")
        assert got.status_code == 200 and got.json()["device"] == "gate-1"
        snap = got.json()
        events = []
        for sequence, (zone, moment) in enumerate([("teach-1", NOON), ("dorm-a", local(2026, 11, 30, 23, 30))], 1):
            decision = offline.decide_offline(snap, zone_code=zone, moment=moment, nfc_uid=uid)
            events.append({"sequence": sequence, "zone": zone, "decided_at": moment.isoformat(),
                           "admitted": decision.admitted, "rule": decision.rule, "credential_kind": "nfc",
                           "nfc_uid": uid})
        first = signed_post(device, secret, "/api/v1/access/gate/events", {"events": events})
        assert first.status_code == 200 and first.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
        events.append({**events[0], "sequence": 3})
        again = signed_post(device, secret, "/api/v1/access/gate/events", {"events": events})
        assert again.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
        # one event the server cannot store does not hold back the rest of the buffer (ACC-5: no event lost)
        mixed = [{**events[0], "sequence": 9, "rule": "admit_because_i_said_so"},
                 {**events[0], "sequence": 10, "zone": "no-such-zone"}, {**events[0], "sequence": 11},
                 {**events[0], "sequence": 2**63}, {**events[0], "sequence": 13, "decided_at": "2026-13-45T25:00"},
                 {**events[0], "sequence": "14"}, {**events[0], "sequence": 15, "admitted": "yes"}, "junk",
                 {**events[0], "sequence": 16, "zone": ["teach-1"], "visitor_pass": [1]}]
        bad = signed_post(device, secret, "/api/v1/access/gate/events", {"events": mixed})
        assert bad.status_code == 200 and bad.json() == {"accepted": 1, "duplicates": 0, "rejected": [
            {"index": 0, "sequence": 9, "reason": "rule_unknown"},
            {"index": 1, "sequence": 10, "reason": "zone_not_guarded"},
            {"index": 3, "sequence": None, "reason": "malformed"}, {"index": 4, "sequence": 13, "reason": "malformed"},
            {"index": 5, "sequence": None, "reason": "malformed"}, {"index": 6, "sequence": 15, "reason": "malformed"},
            {"index": 7, "sequence": None, "reason": "malformed"},
            {"index": 8, "sequence": 16, "reason": "zone_not_guarded"}]}
        # a gate writes only into the zones it guards: unbound from one, its events there are refused
        place["zones"]["teaching"].gates.remove(device)
        later = signed_post(device, secret, "/api/v1/access/gate/events", {"events": [{**events[0], "sequence": 12}]})
        assert later.json() == {"accepted": 0, "duplicates": 0, "rejected": [
            {"index": 0, "sequence": 12, "reason": "zone_not_guarded"}]}
    rows = list(AccessEvent.objects.order_by("sequence").values_list("sequence", "rule", "source", "person_id"))
    person = population["student"][0].pk
    assert rows == [(1, "admit_teaching", "offline", person), (2, "refuse_dorm_night_not_resident", "offline", person),
                    (3, "admit_teaching", "offline", person), (11, "admit_teaching", "offline", person)]


def test_duplicate_sequences_within_one_batch_and_other_devices(institution, place, gate):
    device, _secret = gate
    event = {"sequence": 7, "zone": "teach-1", "decided_at": NOON.isoformat(), "admitted": True,
             "rule": "admit_teaching"}
    with frozen_at(NOON):
        assert services.events_upload(device=device, events=[event, event]) == {
            "accepted": 1, "duplicates": 1, "rejected": []}
        from campuscard.devices.models import Device
        from campuscard.devices.services import device_register

        other, _ = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.GATE, code="gate-2",
                                   name="Turnstile 2")
        place["zones"]["teaching"].gates.add(other)
        assert services.events_upload(device=other, events=[event]) == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert AccessEvent.objects.filter(sequence=7).count() == 2


# --- what the gate reads is what is signed (issue 15) ----------------------------------------------

def _trusted(institution):
    return dict(AccessSigningKey.objects.filter(institution=institution).values_list("key_id", "public_key"))


def test_an_old_snapshot_s_signature_on_a_new_one_cannot_bring_back_a_revoked_pass(institution, place, gate,
                                                                                    population):
    """The gate once cached what it read by the legacy ``signature``, which the per-key signatures do not
    cover: the new snapshot carrying the old one's ``signature`` was decided with the old facts."""
    with frozen_at(NOON):
        visitor_pass, code = services.visitor_pass_create(
            actor=Actor.system("t"), host=population["staff"][0], visitor_name="访客", visitor_phone="13800000000",
            zones=[place["zones"]["teaching"]], valid_from=NOON, valid_to=NOON + dt.timedelta(hours=4))
    old = snapshot(gate)
    later = NOON + dt.timedelta(hours=1)
    assert offline.decide_offline(old, zone_code="teach-1", moment=later, visitor_code=code).admitted
    services.visitor_pass_revoke(actor=Actor.system("t"), visitor_pass=visitor_pass)
    forged = {**snapshot(gate, later), "signature": old["signature"]}
    trusted = _trusted(institution)
    if offline.snapshot_verify(forged, trusted):  # a gate adopts only what verifies; if it does, it reads the new facts
        assert offline.decide_offline(forged, zone_code="teach-1", moment=later, visitor_code=code).rule == \
            "refuse_visitor_revoked"
    assert not offline.snapshot_verify(forged, trusted)  # a trusted key's signature that fails: tampered


def test_a_snapshot_without_the_legacy_signature_is_decided_from(institution, place, gate, population):
    snap = snapshot(gate)
    bare = {k: v for k, v in snap.items() if k != "signature"}
    assert offline.snapshot_verify(bare, _trusted(institution))
    assert offline.decide_offline(bare, zone_code="teach-1", moment=NOON, nfc_uid=population["student"][2]).admitted


def test_a_snapshot_missing_what_the_gate_reads_does_not_verify(institution, place, gate, population):
    """Only a snapshot the server signed whole: one without a field the gate reads is refused before it is used."""
    from campuscard.access.keys import active_key, sign

    snap = snapshot(gate)
    key = active_key(institution.pk)
    for missing in ("serial", "revoked_passes", "holders"):
        body = {k: v for k, v in snap.items() if k not in ("signature", "signatures", missing)}
        resigned = {**body, "signatures": {str(key.key_id): __import__("base64").b64encode(
            sign(key, offline.canonical(body))).decode()}}
        assert not offline.snapshot_verify(resigned, _trusted(institution)), missing


def test_an_older_snapshot_is_not_adopted_after_a_newer_one(institution, place, gate, population):
    old = snapshot(gate)
    new = snapshot(gate)  # the same instant: the serial still orders them
    trusted = _trusted(institution)
    assert new["serial"] > old["serial"]
    assert offline.snapshot_adopt(new, trusted, held=old) == {int(k): v for k, v in new["visitor_keys"].items()}
    assert offline.snapshot_adopt(old, trusted, held=new) is None
    assert offline.snapshot_adopt(new, trusted, held=new) is not None  # the same one again changes nothing
