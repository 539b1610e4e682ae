"""The batched gate path on PostgreSQL decides exactly like the ordinary path and never loses an event."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import override_settings

from campuscard.access import fastpath, services
from campuscard.access.models import AccessEvent, CampusEntryApproval, LabPermit, ZoneException
from campuscard.cards import codes
from campuscard.cards.models import Credential, PackageAddon, UsedCode
from campuscard.cards.services import card_report_lost
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.devices.services import device_revoke
from campuscard.identity.models import Person
from tests.access.conftest import MONDAY, NOON, holder, local, resident, signed_post

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/api/v1/access/gate/decide"


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the batched path is PostgreSQL's; SQLite always takes the ordinary path")
    fastpath.stats.update(hits=0, handovers=0, batches=0)


@pytest.fixture(autouse=True, params=["lane", "django"])
def entry(request):
    """Every test twice: through the device lane (production WSGI) and through Django/ninja alone."""
    ENTRY["served"] = request.param == "lane"


ENTRY = {"served": False}


def fast(gate, zone, **credential):
    device, secret = gate
    response = signed_post(device, secret, PATH, {"zone": zone, **credential}, served=ENTRY["served"])
    assert response.status_code == 200, response.content
    return response.json()


def ordinary(gate, zone, moment, **credential):
    """The same entry point with its fast path switched off."""
    with frozen_at(moment), override_settings(ACCESS_GATE_FAST_PATH=False):
        return services.gate_decide(device=gate[0], zone_code=zone, **credential).decision.rule


@pytest.fixture
def people(institution, place):
    lab = place["zones"]["lab"]
    plain, _c, plain_uid = holder(institution)
    living, _c, living_uid = holder(institution)
    resident(living, place["dorm_a"])
    entering, _c, entering_uid = holder(institution)
    CampusEntryApproval.objects.create(institution=institution, person=entering, state="approved",
                                       requested_at=NOON)
    chemist, _c, chemist_uid = holder(institution, kind=Person.Kind.GRADUATE)
    PackageAddon.objects.create(person=chemist, addon="lab", granted_at=NOON)
    LabPermit.objects.create(institution=institution, person=chemist, zone=lab, state="approved",
                             weekly_slots=[{"weekday": 0, "start": "08:00", "end": "12:30"}],
                             valid_from=MONDAY, valid_to=MONDAY + dt.timedelta(days=30), requested_at=NOON)
    addon_only, _c, addon_uid = holder(institution)
    PackageAddon.objects.create(person=addon_only, addon="lab", granted_at=NOON)
    staff, _c, staff_uid = holder(institution, kind=Person.Kind.STAFF)
    alumnus, _c, alumnus_uid = holder(institution, kind=Person.Kind.ALUMNUS)
    lost, lost_card, lost_uid = holder(institution)
    card_report_lost(actor=Actor.system("t"), card=lost_card, channel="portal")
    ZoneException.objects.create(zone=place["zones"]["library"], date=MONDAY + dt.timedelta(days=1), closed=True)
    return [plain_uid, living_uid, entering_uid, chemist_uid, addon_uid, staff_uid, alumnus_uid, lost_uid]


MOMENTS = [NOON, local(2026, 11, 30, 12, 30), local(2026, 11, 30, 23, 0), local(2026, 12, 1, 5, 59),
           local(2026, 12, 1, 6, 0)]
ZONES = ["south-gate", "teach-1", "dorm-a", "dorm-b", "lab-1", "library"]


def test_same_decisions_as_the_ordinary_path(place, gate, people):
    compared = 0
    for moment in MOMENTS:
        for zone in ZONES:
            for uid in people:
                expected = ordinary(gate, zone, moment, nfc_uid=uid)
                with frozen_at(moment):
                    got = fast(gate, zone, nfc_uid=uid)
                assert got["rule"] == expected, (moment, zone, uid)
                assert got["admitted"] == expected.startswith("admit_")
                compared += 1
    assert fastpath.stats["hits"] == compared and fastpath.stats["handovers"] == 0
    # every decision logged once by each path, with the same rule
    fast_rules = list(AccessEvent.objects.filter(pk__in=_fast_ids()).values_list("rule", flat=True))
    assert len(fast_rules) == compared and AccessEvent.objects.count() == 2 * compared


def _fast_ids():
    rows = list(AccessEvent.objects.order_by("id").values_list("id", flat=True))
    return rows[1::2]  # ordinary, fast, ordinary, fast …


def test_same_decisions_for_dynamic_codes(place, gate, people):
    """QR and HCE codes of the same holders: the ordinary path at a moment, the fast path with the next
    code 30 s later (a code is used once; the rules read whole minutes, so both decide the same minute).
    Each zone a week later, so that a code admitted at one zone is not a replay at the next."""
    credentials = [Credential.objects.get(uid=uid).card.credentials.get(kind="hce" if n % 2 else "qr", active=True)
                   for n, uid in enumerate(people)]
    compared = 0
    for at in MOMENTS:
        for weeks, zone in enumerate(ZONES):
            moment = at + dt.timedelta(weeks=weeks)
            for credential in credentials:
                with frozen_at(moment):
                    expected = ordinary(gate, zone, moment, code=codes.current_code(credential))
                later = moment + dt.timedelta(seconds=30)
                with frozen_at(later):
                    got = fast(gate, zone, code=codes.current_code(credential))
                assert got["rule"] == expected, (moment, zone, credential.kind, credential.card.person.kind)
                compared += 1
    assert fastpath.stats["hits"] == compared and fastpath.stats["handovers"] == 0
    assert {r for r in AccessEvent.objects.values_list("rule", flat=True)} >= {
        "admit_teaching", "admit_dorm_resident", "admit_lab_permit", "refuse_card_lost", "refuse_lab_no_permit"}
    # each admitted code was used once, by the path that admitted it
    admitted = AccessEvent.objects.filter(admitted=True, credential_kind="code").count()
    assert UsedCode.objects.count() == admitted > 0


def test_same_decisions_for_visitor_codes(institution, place, gate):
    """Visitor codes go through the same entry point; the fast path leaves them to the ordinary one."""
    host = holder(institution, kind=Person.Kind.STAFF)[0]
    zones = place["zones"]

    def invite(zone_keys, start=NOON, hours=4):
        with frozen_at(NOON):
            return services.visitor_pass_create(
                actor=Actor.system("t"), host=host, visitor_name="访客", visitor_phone="13800000000",
                zones=[zones[k] for k in zone_keys], valid_from=start, valid_to=start + dt.timedelta(hours=hours))

    visitors = [invite(["teaching", "library"])[1], invite(["dorm", "gate"], hours=12)[1],
                invite(["teaching"], start=local(2026, 11, 30, 12, 30))[1]]
    revoked_pass, revoked_code = invite(["teaching", "library"])
    services.visitor_pass_revoke(actor=Actor.system("t"), visitor_pass=revoked_pass)
    visitors += [revoked_code, visitors[0][:-4] + "AAAA"]  # revoked; forged
    seen = set()
    for moment in MOMENTS:
        for zone in ZONES:
            for code in visitors:
                expected = ordinary(gate, zone, moment, visitor_code=code)
                with frozen_at(moment):
                    got = fast(gate, zone, visitor_code=code)
                assert got["rule"] == expected, (moment, zone, code[:12])
                seen.add(expected)
    assert {"admit_visitor", "refuse_visitor_wrong_zone", "refuse_visitor_revoked", "refuse_visitor_expired",
            "refuse_visitor_not_yet", "refuse_visitor_forged", "refuse_dorm_night_not_resident"} <= seen, seen
    assert fastpath.stats["hits"] == 0  # visitor codes are the ordinary path's


def test_dynamic_codes_are_used_once_and_only_when_admitted(institution, place, gate):
    person, card, _uid = holder(institution)
    credential = card.credentials.get(kind="qr")
    with frozen_at(NOON):
        code = codes.current_code(credential)
        assert fast(gate, "lab-1", code=code)["rule"] == "refuse_lab_no_addon"  # refused: the code stays unused
        assert not UsedCode.objects.exists()
        admitted = fast(gate, "teach-1", code=code)
        assert admitted["admitted"] and admitted["rule"] == "admit_teaching"
        assert fast(gate, "teach-1", code=code)["rule"] == "refuse_code_replayed"
        assert UsedCode.objects.count() == 1
        # a code that matches no current step goes the ordinary way and is named the same
        assert fast(gate, "teach-1", code=f"CC1.{credential.token}.00000000")["rule"] == "refuse_code_invalid"
    assert fastpath.stats["hits"] == 3 and fastpath.stats["handovers"] == 0
    events = list(AccessEvent.objects.order_by("id").values_list("person_id", "credential_kind", "admitted", "rule"))
    assert events[:3] == [(person.pk, "code", False, "refuse_lab_no_addon"), (person.pk, "code", True, "admit_teaching"),
                          (person.pk, "code", False, "refuse_code_replayed")]
    assert len(events) == 4


def test_revoked_gate_is_refused_at_once(institution, place, gate):
    _person, _card, uid = holder(institution)
    assert fast(gate, "teach-1", nfc_uid=uid)["admitted"]  # the gate's secret is cached now
    device_revoke(actor=Actor.system("t"), device=gate[0])
    response = signed_post(gate[0], gate[1], PATH, {"zone": "teach-1", "nfc_uid": uid}, served=ENTRY["served"])
    assert response.status_code == 401 and response.json()["code"] == "device_revoked"
    assert AccessEvent.objects.count() == 1


def test_lost_card_is_refused_at_once_and_a_rebound_uid_is_looked_up_again(institution, place, gate):
    _person, card, uid = holder(institution)
    assert fast(gate, "teach-1", nfc_uid=uid)["rule"] == "admit_teaching"  # cached
    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    assert fast(gate, "teach-1", nfc_uid=uid)["rule"] == "refuse_card_lost"
    assert fastpath.stats["hits"] == 2
    unknown = fast(gate, "teach-1", nfc_uid="0BADCAFE")  # not bound: the ordinary path answers and logs
    assert unknown["rule"] == "refuse_credential_unknown" and fastpath.stats["handovers"] == 0
    assert list(AccessEvent.objects.order_by("id").values_list("rule", flat=True)) == [
        "admit_teaching", "refuse_card_lost", "refuse_credential_unknown"]


def test_held_facts_never_decide_after_they_changed(institution, place, gate):
    """The process holds each card's facts; the write that logs a decision recomputes their fingerprint
    in the same statement, so every change below applies to the very next tap, as on the ordinary path."""
    person, _card, uid = holder(institution)
    lab = place["zones"]["lab"]
    steps = [
        ("south-gate", lambda: None, "refuse_no_campus_entry"),
        ("south-gate", lambda: CampusEntryApproval.objects.create(
            institution=institution, person=person, state="approved", requested_at=NOON), "admit_campus_entry"),
        ("lab-1", lambda: PackageAddon.objects.create(person=person, addon="lab", granted_at=NOON),
         "refuse_lab_no_permit"),
        ("lab-1", lambda: LabPermit.objects.create(
            institution=institution, person=person, zone=lab, state="approved",
            weekly_slots=[{"weekday": 0, "start": "11:00", "end": "13:00"}], valid_from=MONDAY,
            valid_to=MONDAY, requested_at=NOON), "admit_lab_permit"),
        ("lab-1", lambda: LabPermit.objects.filter(person=person).update(state="revoked"), "refuse_lab_no_permit"),
        ("dorm-a", lambda: None, "admit_dorm_day"),
        ("dorm-a", lambda: Person.objects.filter(pk=person.pk).update(status="suspended"), "refuse_holder_inactive"),
    ]
    for zone, change, expected in steps:
        change()
        assert ordinary(gate, zone, NOON, nfc_uid=uid) == expected
        with frozen_at(NOON):
            assert fast(gate, zone, nfc_uid=uid)["rule"] == expected, zone
    assert fastpath.stats["hits"] == len(steps) and fastpath.stats["handovers"] == 0
    # a resident at night: the residence is a fact held too
    Person.objects.filter(pk=person.pk).update(status="full_time")
    night = local(2026, 11, 30, 23, 30)
    with frozen_at(night):
        assert fast(gate, "dorm-a", nfc_uid=uid)["rule"] == "refuse_dorm_night_not_resident"
        resident(person, place["dorm_a"])
        assert fast(gate, "dorm-a", nfc_uid=uid)["rule"] == "admit_dorm_resident"


def test_no_event_lost_with_many_requests_in_flight(institution, place, gate):
    uids = [holder(institution)[2] for _ in range(12)]
    card_report_lost(actor=Actor.system("t"), card=holder(institution)[1], channel="portal")
    lost_uid = holder(institution)[2]
    from campuscard.cards.models import Credential

    card_report_lost(actor=Actor.system("t"), card=Credential.objects.get(uid=lost_uid).card, channel="portal")
    answers, errors, barrier = [], [], threading.Barrier(24)

    def run(n: int):
        try:
            barrier.wait()
            for k in range(10):
                uid = lost_uid if (n + k) % 7 == 0 else uids[(n + k) % len(uids)]
                answers.append(fast(gate, "teach-1" if k % 2 else "library", nfc_uid=uid))
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(answers) == 240
    events = dict(AccessEvent.objects.values_list("id", "rule"))
    assert len(events) == 240 and {a["event_id"] for a in answers} == set(events)
    assert all(events[a["event_id"]] == a["rule"] for a in answers)
    assert sum(not a["admitted"] for a in answers) == sum(r == "refuse_card_lost" for r in events.values()) > 0
    assert fastpath.stats["hits"] == 240 and fastpath.stats["batches"] <= 240


def test_a_loss_reported_during_a_rush_refuses_every_tap_that_starts_after_it(institution, place, gate):
    """Eight gates keep tapping one card, held in every process cache, while the holder reports it lost:
    no tap that starts after the report has returned is admitted, and every answer is the logged one."""
    import time

    _person, card, uid = holder(institution)
    assert fast(gate, "teach-1", nfc_uid=uid)["admitted"]  # held now
    answers, errors, reported = [], [], {}
    start = threading.Barrier(9)

    def tap(n: int):
        try:
            start.wait()
            after_report = 0
            while after_report < 5 and len(answers) < 2000:  # until each gate tapped 5 times after it
                after_report += "at" in reported
                began = time.monotonic()
                answers.append((began, fast(gate, "teach-1", nfc_uid=uid)))
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=tap, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(0.05)
    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    reported["at"] = time.monotonic()
    for t in threads:
        t.join()
    assert not errors
    after = [answer for began, answer in answers if began > reported["at"]]
    assert after and all(answer["rule"] == "refuse_card_lost" for answer in after)
    events = dict(AccessEvent.objects.values_list("id", "rule"))
    assert all(events[answer["event_id"]] == answer["rule"] for _b, answer in answers)
    assert fastpath.stats["handovers"] == 0


@pytest.fixture(params=["database cache", "redis"])
def nonce_store(request, settings):
    """The other devices' nonce store as tests run it (the database cache) and as production runs it
    (Redis, one script call)."""
    if request.param == "redis":
        import redis

        url = "redis://127.0.0.1:6379/9"
        try:
            redis.Redis.from_url(url).flushdb()
        except redis.ConnectionError:
            pytest.skip("no Redis at 127.0.0.1:6379")
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    return request.param


def test_a_replayed_gate_request_is_refused_and_logged_once(institution, place, gate):
    """Through the lane the nonce is claimed in the batch's statement, with the event; a replay of the
    same signed request is refused and nothing is logged for it."""
    import json

    from django.test import Client

    from campuscard.core import clock
    from campuscard.devices.signing import sign_headers
    from tests.helpers import served_post

    _person, _card, uid = holder(institution)
    raw = json.dumps({"zone": "teach-1", "nfc_uid": uid}).encode()
    headers = sign_headers(device_code=gate[0].code, secret=gate[1], method="POST", path=PATH, body=raw,
                           timestamp=int(clock.now().timestamp()))
    first = (served_post(PATH, raw, headers) if ENTRY["served"]
             else Client().post(PATH, data=raw, content_type="application/json", headers=headers))
    assert first.status_code == 200 and first.json()["admitted"]
    again = served_post(PATH, raw, headers)
    assert again.status_code == 401 and again.json()["code"] == "device_request_replayed"
    assert AccessEvent.objects.count() == 1


def test_a_batch_of_nonces_is_claimed_once_each_with_its_expiry(nonce_store, settings):
    from django.core.cache import cache

    from campuscard.devices.services import nonce_claim_many

    assert nonce_claim_many(keys=["n:a", "n:b", "n:a"]) == [True, True, False]  # a repeat inside one batch too
    assert nonce_claim_many(keys=["n:b", "n:c"]) == [False, True]
    if nonce_store == "redis":
        import redis

        ttl = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).ttl(cache.make_key("n:a"))
        assert 0 < ttl <= 2 * settings.DEVICE_REQUEST_WINDOW_SECONDS


def _signed(gate, body):
    import json

    from campuscard.core import clock
    from campuscard.devices.signing import sign_headers

    raw = json.dumps(body).encode()
    return raw, sign_headers(device_code=gate[0].code, secret=gate[1], method="POST", path=PATH, body=raw,
                             timestamp=int(clock.now().timestamp()))


def _send(raw, headers, served):
    from django.test import Client

    from tests.helpers import served_post

    return (served_post(PATH, raw, headers) if served
            else Client().post(PATH, data=raw, content_type="application/json", headers=headers))


def test_a_failed_batch_claims_no_nonce_so_the_request_is_still_decided_once(institution, place, gate,
                                                                           monkeypatch):
    """The nonce is claimed in the statement that logs the decision: a statement that fails claims nothing
    and logs nothing, so the lane hands the request to the ordinary path, which decides it (one event)."""
    if not ENTRY["served"]:
        pytest.skip("the hand-over after a failed batch is the lane's")
    from django.db import OperationalError

    _person, _card, uid = holder(institution)
    raw, headers = _signed(gate, {"zone": "teach-1", "nfc_uid": uid})
    real = fastpath._WRITE_PREPARED.first_row  # what the batch runs
    calls = []

    def once_broken(connection, params):
        calls.append(params["nonce"])
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")  # mid-statement
        return real(connection, params)

    monkeypatch.setattr(fastpath._WRITE_PREPARED, "first_row", once_broken)
    first = _send(raw, headers, True)
    assert first.status_code == 200 and first.json()["rule"] == "admit_teaching"
    # the failure was injected into the batch that carried the request's nonce, and a batch then logged it
    assert len(calls) == 2 and calls[0] == [headers["X-Nonce"]]
    again = _send(raw, headers, True)
    assert again.status_code == 401 and again.json()["code"] == "device_request_replayed"
    assert AccessEvent.objects.count() == 1


def test_a_request_the_ordinary_path_answered_is_a_replay_on_the_batched_path_too(institution, place, gate):
    """Both paths claim a gate's nonces in one record (devices.RequestNonce)."""
    raw, headers = _signed(gate, {"zone": "teach-1", "nfc_uid": "0BADCAFE"})  # unknown: the ordinary path logs it
    first = _send(raw, headers, ENTRY["served"])
    assert first.status_code == 200 and first.json()["rule"] == "refuse_credential_unknown"
    _person, _card, uid = holder(institution)
    again = _send(raw, headers, True)
    assert again.status_code == 401 and again.json()["code"] == "device_request_replayed"
    assert AccessEvent.objects.count() == 1


def test_request_nonces_are_purged_after_twice_the_window(gate, settings):
    from campuscard.core import clock
    from campuscard.devices.models import RequestNonce
    from campuscard.devices.tasks import purge_request_nonces

    now = clock.now()
    window = dt.timedelta(seconds=2 * settings.DEVICE_REQUEST_WINDOW_SECONDS)
    RequestNonce.objects.create(device_id=gate[0].pk, nonce="old" * 6, seen_at=now - window - dt.timedelta(seconds=1))
    RequestNonce.objects.create(device_id=gate[0].pk, nonce="new" * 6, seen_at=now - window + dt.timedelta(seconds=5))
    assert purge_request_nonces.call_local() == 1
    assert list(RequestNonce.objects.values_list("nonce", flat=True)) == ["new" * 6]
