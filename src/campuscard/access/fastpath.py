"""The class-change rush path for online gates: many decisions per database round trip (PostgreSQL).
Called only by the domain's entry point, ``services.gate_decide``, which decides itself whatever this
path hands back.

Design — decide in Python on facts the process holds, then ONE statement per batch of concurrent
requests (group commit) that checks those facts and logs the decisions:

* **Held in the process**: a gate device's secret, kind and institution (``facts.gate_facts``; a wrong
  signature reloads it once, so a re-registered device works at once); credential → card, holder,
  institution, and for dynamic codes the TOTP secret (a credential row never changes its card or
  secret; re-binding or re-provisioning makes a NEW credential and turns the old one inactive);
  zones with their gates and exceptions (``facts.zone_entry``, shared with the ordinary path); and
  **each card's changing facts** (``holder_of``): the card's state and kind, the holder's kind and
  status, campus-entry approval, lab add-on, dormitory residences and approved lab permits.
* **Decided** in the request's thread by the same pure ``rules.decide`` as every other path.
* **Checked and written** in ONE autocommitted statement per batch (the statement is its own durable
  transaction): the device is not revoked (a revoked gate is refused at once), the credential is still
  active, and the parts of the held facts that the zone's rules read are still the facts — recomputed
  in the same statement by the same SQL expressions that loaded them (``_BASE`` … ``_PERMITS``: the
  card and holder always, and what ``rules.LEVEL_FACTS`` names for the zone's level). Other apps'
  tables are reached only through their fragments (``cards.sql``, ``devices.sql``). Only decisions
  whose facts are unchanged are logged: a multi-row INSERT of the AccessEvents and, for admitted
  dynamic codes, the use of their code step (a code used
  before or by another gate in the meantime is logged and answered as ``refuse_code_replayed``). For
  the others the statement returns the facts it found; the leader holds them, decides again and
  writes again (a loss report or a new permit applies to the very next tap). Facts changing under a
  decision three times in a row send it to the ordinary path.

Batching is *flat combining*: a request thread queues its job; if fewer than
``ACCESS_GATE_BATCHES_IN_FLIGHT`` (1) batches are running in this process it becomes a leader, takes
every queued job (up to ``ACCESS_GATE_BATCH_MAX``, default 256), runs the statement on its own
connection and wakes the others; otherwise it waits for a leader to finish its job. The statement also
claims each request's nonce (``devices.RequestNonce``, where the ordinary path claims gate nonces too):
a replay is refused and not logged, and a statement that fails has claimed nothing. With nothing else
in flight a batch is one job (no added wait); under load, jobs queue while a batch is on the wire and
the next batch takes them all. So no answer — admit or refuse — leaves the
server before the statement holding its event has committed, and a failed statement fails every
request of its batch (the gates retry; nothing is answered without its event). An event whose request
failed AFTER the commit (the client went away) is logged and unanswered: the log errs on the side of
recording, never of forgetting.

Handed back to the ordinary path (``try_decide`` returns None), which logs its own event: SQLite,
calls inside a transaction (tests), a caller's own moment, visitor codes, unknown or re-bound credentials, credentials of another
institution, dynamic codes that do not match a current step (expired, malformed), and every error
(unknown zone, gate not bound to the zone, …) so the ordinary path answers with its own codes.

Settings (read with ``getattr``; none is required): ``ACCESS_GATE_FAST_PATH`` (default True),
``ACCESS_GATE_BATCH_MAX`` (256), ``ACCESS_GATE_BATCHES_IN_FLIGHT`` (1: larger batches, cheaper per
decision; docs/decisions.md, "One batch in flight per process"),
``ACCESS_GATE_WAIT_SECONDS`` (10: how long a request waits for its batch before answering 503).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from campuscard.access import facts, rules
from campuscard.access.facts import GateFacts, GateOutcome
from campuscard.cards import codes
from campuscard.cards import sql as cards_sql
from campuscard.cards.models import Credential
from campuscard.cards.policy import USABLE_STATES
from campuscard.core import clock
from campuscard.core.db import Prepared
from campuscard.core.errors import DomainError
from campuscard.devices import sql as devices_sql

log = logging.getLogger(__name__)
_lock = threading.Lock()

# Exposed for tests and the bench: decisions made here, handed to the ordinary path, and batches run.
stats = {"hits": 0, "handovers": 0, "batches": 0}


@dataclass(frozen=True)
class CodeRef:
    credential_id: int
    card_id: int
    person_id: int
    institution_id: int
    secret: str


_nfc: dict[str, facts.CredentialRef] = {}
_tokens: dict[str, CodeRef] = {}
_warmed = {"nfc": False, "code": False, "holders": False}
_touched: dict[int, float] = {}


def _nfc_rows(qs):
    return qs.filter(kind=Credential.Kind.NFC, active=True).exclude(uid="").values_list(
        "uid", "pk", "card_id", "card__person_id", "card__institution_id")


def nfc_ref(uid: str) -> facts.CredentialRef | None:
    """At a rush most cards are tapped, so the first miss loads every active NFC credential in one query;
    later misses are looked up one by one. Absences are
    never cached (a card may be bound a second later)."""
    found = _nfc.get(uid)
    if found is not None:
        return found
    if not _warmed["nfc"]:
        _warmed["nfc"] = True
        rows = _nfc_rows(Credential.objects.all()).iterator(chunk_size=10_000)
    else:
        rows = _nfc_rows(Credential.objects.filter(uid=uid))
    with _lock:
        for key, *ref in rows:
            _nfc[key] = facts.CredentialRef(*ref)
    return _nfc.get(uid)


def _code_rows(qs):
    return qs.filter(kind__in=[Credential.Kind.QR, Credential.Kind.HCE], active=True).values_list(
        "token", "pk", "card_id", "card__person_id", "card__institution_id", "secret")


def code_ref(token: str) -> CodeRef | None:
    found = _tokens.get(token)
    if found is not None:
        return found
    if not _warmed["code"]:
        _warmed["code"] = True
        rows = _code_rows(Credential.objects.all()).iterator(chunk_size=10_000)
    else:
        rows = _code_rows(Credential.objects.filter(token=token))
    with _lock:
        for key, *ref in rows:
            _tokens[key] = CodeRef(*ref)
    return _tokens.get(token)


def warm() -> None:
    """Load what the first decisions would: a server warms up before the class change, not during it."""
    from campuscard.devices.models import Device

    nfc_ref("")
    code_ref("")
    holder_of(0)
    for code in Device.objects.filter(kind=Device.Kind.GATE).values_list("code", flat=True):
        facts.gate_facts(code)


def forget(*, uid: str | None = None, token: str | None = None) -> None:
    """Drop cached facts that may no longer be true; with no argument, everything (tests)."""
    with _lock:
        if uid is None and token is None:
            _nfc.clear()
            _tokens.clear()
            _touched.clear()
            _holders.clear()
            _warmed.update(nfc=False, code=False, holders=False)
        if uid is not None:
            _nfc.pop(uid, None)
        if token is not None:
            _tokens.pop(token, None)


def eligible() -> bool:
    return (getattr(settings, "ACCESS_GATE_FAST_PATH", True) and connection.vendor == "postgresql"
            and not connection.in_atomic_block)


# --- one decision ----------------------------------------------------------------------------------

@dataclass(eq=False)
class _Job:
    gate: GateFacts
    entry: facts.ZoneEntry
    kind: str  # AccessEvent.CredentialKind: "nfc" or "code"
    ref: facts.CredentialRef
    step: int | None
    moment: dt.datetime
    key: str  # the cache key of the credential (uid or token), forgotten when it turns out stale
    holder: Holder
    policy: rules.Policy
    done: bool = False
    taken: bool = False  # in a batch already
    nonce: object = None  # a devices.services.NonceClaim the batch claims (None: claimed already)
    wake: threading.Event = field(default_factory=threading.Event)
    handover: bool = False
    error: BaseException | None = None
    decision: rules.Decision | None = None
    event_id: int | None = None
    person_id: int | None = None
    card_id: int | None = None


def try_decide(*, gate: GateFacts, zone_code: str, code: str = "", nfc_uid: str = "", visitor_code: str = "",
               nonce=None):
    """A logged ``GateOutcome``, or None when the ordinary path must decide (see the module docstring).
    Raises ``DomainError("device_revoked")`` when the batch's statement finds the gate revoked. ``nonce`` (a
    ``devices.services.NonceClaim``) is claimed by the batch; a replay raises ``device_request_replayed``."""
    if gate.device_kind != "gate" or visitor_code or bool(code) == bool(nfc_uid):
        return None
    entry = facts.zone_entry(gate.institution_id, zone_code)
    if entry is None or gate.device_id not in entry.gate_ids:
        return None
    moment = clock.now()
    if nfc_uid:
        key = codes.normalize_uid(nfc_uid)
        ref = nfc_ref(key)
        step, kind = None, "nfc"
    else:
        parts = code.strip().split(".")
        if len(parts) != 3 or parts[0] != codes.PREFIX or len(parts[2]) != codes.DIGITS or not parts[2].isdigit():
            return None
        key = parts[1]
        found = code_ref(key)
        step = codes.current_step(found.secret, parts[2], moment) if found else None
        if found is None or step is None:
            return None
        ref = facts.CredentialRef(found.credential_id, found.card_id, found.person_id, found.institution_id)
        kind = "code"
    if ref is None or ref.institution_id != gate.institution_id:
        return None
    holder = holder_of(ref.card_id)
    if holder is None:
        return None
    job = _Job(gate=gate, entry=entry, kind=kind, ref=ref, step=step, moment=moment, key=key, nonce=nonce,
               holder=holder, policy=facts.policy())
    _decide(job)  # on the held facts; the batch's write logs it only if they are still the facts
    _combiner.run(job)
    if job.error is not None:
        raise job.error
    if job.handover:
        stats["handovers"] += 1
        return None
    stats["hits"] += 1
    _touch(gate.device_id, moment)
    return GateOutcome(decision=job.decision, event_id=job.event_id, zone=entry.zone.code, person_id=job.person_id)


def _touch(device_id: int, moment: dt.datetime) -> None:
    """``last_seen_at`` as DeviceSignature keeps it (once a minute per device and process)."""
    now = time.monotonic()
    if now - _touched.get(device_id, -1e9) < 60:
        return
    _touched[device_id] = now
    from campuscard.devices.models import Device

    Device.objects.filter(pk=device_id).update(last_seen_at=moment)


# --- the combiner: one leader runs the batch, the others wait -------------------------------------

class _Combiner:
    """Up to ``ACCESS_GATE_BATCHES_IN_FLIGHT`` (1) leaders at a time, each on its own connection; with
    more, while one batch waits for its commit the next is already on the wire. Batches in flight at once
    are no different from batches of two processes (a code used by both is refused by the later write).
    Wake-ups are targeted: a finished batch wakes its own jobs and the oldest queued one (to lead next),
    not every waiting thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[_Job] = []
        self.running = 0

    def run(self, job: _Job) -> None:
        limit = getattr(settings, "ACCESS_GATE_BATCH_MAX", 256)
        in_flight = getattr(settings, "ACCESS_GATE_BATCHES_IN_FLIGHT", 1)
        deadline = time.monotonic() + getattr(settings, "ACCESS_GATE_WAIT_SECONDS", 10)
        with self.lock:
            self.queue.append(job)
        while True:
            batch = None
            with self.lock:
                if job.done:
                    return
                if not job.taken and self.running < in_flight:
                    self.running += 1
                    batch, self.queue = self.queue[:limit], self.queue[limit:]
                    for taken in batch:
                        taken.taken = True
            if batch is not None:
                self._lead(batch)
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not job.wake.wait(left):
                with self.lock:  # still queued or still on the wire: answer nothing rather than guess
                    if job.done:
                        return
                    if job in self.queue:
                        self.queue.remove(job)
                    job.error = DomainError("internal_error")
                return
            job.wake.clear()  # the state is re-read under the lock above

    def _lead(self, batch: list[_Job]) -> None:
        try:
            _run_batch(batch)
        finally:
            with self.lock:
                self.running -= 1
                following = self.queue[0] if self.queue else None
            for done in batch:
                done.wake.set()
            if following is not None:
                following.wake.set()


_combiner = _Combiner()


def _run_batch(batch: list[_Job]) -> None:
    try:
        stats["batches"] += 1
        pending = _without_repeats(batch)
        for _attempt in range(3):
            if not pending:
                break
            pending = _write(pending)
        for job in pending:  # facts changing under it three times in a row: the ordinary path decides
            job.handover = True
    except BaseException as error:  # noqa: BLE001 - every waiting request must learn it failed
        log.warning("gate fast path batch of %d failed: %s", len(batch), error)
        connection.close_if_unusable_or_obsolete()
        for job in batch:
            if not job.done and job.error is None and not job.handover:
                job.error = DomainError("internal_error")
    finally:
        for job in batch:
            job.done = True


# What a decision may need to know about a card and its holder, in parts, each a SQL expression over
# the card ``c`` and its holder ``p`` (joined by the cards app's fragments). The process holds them per
# card (``Holder``); the batch's write recomputes, in the same statement, the parts its zone's level
# reads (``rules.LEVEL_FACTS``) and logs only decisions whose parts are unchanged (see the module
# docstring). Long parts are compared by md5.
_BASE = cards_sql.card_holder_state(card="c", person="p")
_PERSON = cards_sql.card_holder_id(card="c")
# Scalar sub-selects with LIMIT 1 rather than EXISTS: the statement is prepared with a generic plan, and
# for EXISTS PostgreSQL may pick a hashed plan that reads the whole table on every execution.
_ENTRY = (f"((SELECT 1 FROM access_campusentryapproval a WHERE a.person_id = {_PERSON} "
          "AND a.state = 'approved' LIMIT 1) IS NOT NULL)")
_ADDON = (f"((SELECT 1 FROM cards_packageaddon x WHERE x.person_id = {_PERSON} AND x.addon = 'lab' "
          "AND x.revoked_at IS NULL LIMIT 1) IS NOT NULL)")
_RESIDENCES = ("(SELECT json_agg(json_build_array(r.building_id, r.valid_from, r.valid_to) ORDER BY r.id)::text "
               f"FROM access_dormresidence r WHERE r.person_id = {_PERSON})")
_PERMITS = ("(SELECT json_agg(json_build_array(lp.zone_id, lp.valid_from, lp.valid_to, lp.weekly_slots, "
            "lp.dated_slots) ORDER BY lp.id)::text FROM access_labpermit lp "
            f"WHERE lp.person_id = {_PERSON} AND lp.state = 'approved')")
_PARTS = f"{_BASE}, {_ENTRY}, {_ADDON}, {_RESIDENCES}, md5({_RESIDENCES}), {_PERMITS}, md5({_PERMITS})"
_HOLDERS = f"SELECT c.id, {_PERSON}, {_PARTS} FROM {cards_sql.cards_with_holders(card='c', person='p')} "


@dataclass(frozen=True)
class Holder:
    facts: rules.HolderFacts
    base: str
    residences_md5: str | None
    permits_md5: str | None


_holders: dict[int, Holder] = {}


def _holder(card_id, person_id, base, entry, addon, residences, residences_md5, permits, permits_md5) -> Holder:
    state, card_kind, person_kind, status = base.split("|")
    return Holder(rules.HolderFacts(
        person_id=person_id, person_kind=person_kind, person_status=status, card_id=card_id, card_kind=card_kind,
        card_state=state, credential_active=True, campus_entry=entry, lab_addon=addon,
        residences=tuple(rules.Residence(b, dt.date.fromisoformat(f), dt.date.fromisoformat(t) if t else None)
                         for b, f, t in _json(residences)),
        permits=tuple(rules.Permit(zone_id=z, valid_from=dt.date.fromisoformat(f), valid_to=dt.date.fromisoformat(t),
                                   slots=facts.slots_of(_json(weekly), _json(dated)))
                      for z, f, t, weekly, dated in _json(permits))), base, residences_md5, permits_md5)


def holder_of(card_id: int) -> Holder | None:
    """The held facts of a card; the first miss loads every card's in one query (warm-up), later misses
    one card. Never stale for long: the write that logs a decision compares the parts it needs."""
    found = _holders.get(card_id)
    if found is not None:
        return found
    where, params = ("", []) if not _warmed["holders"] else ("WHERE c.id = %s", [card_id])
    _warmed["holders"] = True
    with connection.cursor() as cursor:
        cursor.execute(_HOLDERS + where, params)
        rows = cursor.fetchall()
    with _lock:
        for row in rows:
            _holders[row[0]] = _holder(*row)
    return _holders.get(card_id)


def _without_repeats(batch: list[_Job]) -> list[_Job]:
    """A request sent twice into one batch is refused the second time (the statement claims each nonce
    once, and both copies would match that one claim)."""
    seen = set()
    for job in batch:
        if job.nonce is not None:
            if (job.gate.device_id, job.nonce.key) in seen:
                job.error = DomainError("device_request_replayed")
            seen.add((job.gate.device_id, job.nonce.key))
    return [job for job in batch if job.error is None]


def _decide(job: _Job) -> None:
    fx = rules.Facts(holder=job.holder.facts, exceptions=job.entry.exceptions)
    job.decision = rules.decide(fx, job.entry.zone, job.moment, job.policy)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value or []


_WRITE = """
WITH j AS (
    SELECT * FROM unnest(%(i)s::int[], %(inst)s::bigint[], %(zone)s::bigint[], %(dev)s::bigint[],
                         %(person)s::bigint[], %(card)s::bigint[], %(kind)s::text[], %(at)s::timestamptz[],
                         %(admitted)s::bool[], %(rule)s::text[], %(cred)s::bigint[], %(step)s::bigint[],
                         %(base)s::text[], %(entry)s::bool[], %(addon)s::bool[], %(residences)s::text[],
                         %(permits)s::text[], %(reuse)s::bool[], %(nonce)s::text[])
             AS j(i, inst, zone, dev, person, card, kind, at, admitted, rule, cred, step,
                  base, entry, addon, residences, permits, reuse, nonce)
), chk AS (
    -- a part the zone does not need is NULL in j and not looked at
    SELECT j.*, DEVICE_REVOKED AS revoked, CREDENTIAL_ACTIVE AS active,
           coalesce(BASE = j.base
                    AND (j.entry IS NULL OR ENTRY = j.entry)
                    AND (j.addon IS NULL OR (ADDON = j.addon AND md5(PERMITS) IS NOT DISTINCT FROM j.permits))
                    AND (j.residences IS NULL OR md5(RESIDENCES) IS NOT DISTINCT FROM nullif(j.residences, '-')),
                    false) AS fresh
      FROM j CARD_OF_J
), claimed AS (
    -- the request's nonce, claimed with its event: a replay is not logged, a failed statement claims none
    CLAIM_NONCES
), ok AS (
    -- as code_accept: a usable card's code is checked for reuse before the zone's rules
    SELECT chk.*, (chk.reuse AND CODE_USED) AS prior
      FROM chk
     WHERE NOT revoked AND active AND fresh
       AND (nonce IS NULL OR EXISTS (SELECT 1 FROM claimed WHERE claimed.device_id = chk.dev
                                                             AND claimed.nonce = chk.nonce))
), uc AS (
    USE_CODES
), f AS (
    SELECT ok.*, (ok.prior OR (ok.admitted AND ok.step IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM uc WHERE uc.credential_id = ok.cred AND uc.step = ok.step))) AS taken
      FROM ok
), ins AS (
    INSERT INTO access_accessevent (institution_id, zone_id, device_id, person_id, card_id, visitor_pass_id,
                                    credential_kind, decided_at, admitted, rule, source, sequence, received_at)
    SELECT inst, zone, dev, person, card, NULL, kind, at, admitted AND NOT taken,
           CASE WHEN taken THEN 'refuse_code_replayed' ELSE rule END, 'online', NULL, %(now)s
      FROM f ORDER BY i
    RETURNING id
)
SELECT json_build_array(
       (SELECT array_agg(id ORDER BY id) FROM ins), (SELECT array_agg(i ORDER BY i) FROM f),
       (SELECT array_agg(taken ORDER BY i) FROM f),
       (SELECT array_agg(i) FROM chk WHERE NOT revoked AND active AND fresh AND nonce IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM claimed WHERE claimed.device_id = chk.dev AND claimed.nonce = chk.nonce)),
       (SELECT json_agg(json_build_array(chk.i, chk.revoked, chk.active, c.id IS NOT NULL, PARTS))
          FROM chk CARD_OF_CHK
         WHERE chk.revoked OR NOT chk.active OR NOT chk.fresh))::text
"""
# Other apps' tables only through their fragments (house rule 12).
for _name, _sql in (
        ("DEVICE_REVOKED", devices_sql.device_revoked("j.dev")),
        ("CREDENTIAL_ACTIVE", cards_sql.credential_active("j.cred")),
        ("CARD_OF_J", cards_sql.card_with_holder_join("j.card", card="c", person="p")),
        ("CARD_OF_CHK", cards_sql.card_with_holder_join("chk.card", card="c", person="p")),
        ("CLAIM_NONCES", devices_sql.gate_nonces_claim(
            "SELECT dev, nonce, %(now)s FROM chk WHERE NOT revoked AND active AND fresh AND nonce IS NOT NULL")),
        ("CODE_USED", cards_sql.code_used("chk.cred", "chk.step")),
        ("USE_CODES", cards_sql.codes_use("SELECT cred, step, %(now)s FROM ok "
                                          "WHERE admitted AND NOT prior AND step IS NOT NULL")),
        ("PARTS", _PARTS), ("BASE", _BASE), ("ENTRY", _ENTRY), ("ADDON", _ADDON), ("RESIDENCES", _RESIDENCES),
        ("PERMITS", _PERMITS)):
    _WRITE = _WRITE.replace(_name, _sql)


_WRITE_PREPARED = Prepared("gate_write", _WRITE, {
    "i": "int[]", "inst": "bigint[]", "zone": "bigint[]", "dev": "bigint[]", "person": "bigint[]", "card": "bigint[]",
    "kind": "text[]", "at": "timestamptz[]", "admitted": "bool[]", "rule": "text[]", "cred": "bigint[]",
    "step": "bigint[]", "base": "text[]", "entry": "bool[]", "addon": "bool[]", "residences": "text[]",
    "permits": "text[]", "reuse": "bool[]", "nonce": "text[]", "now": "timestamptz"})


def _reads(job: _Job, fact: str) -> bool:
    return rules.reads(job.entry.zone.level, fact)


def _write(jobs: list[_Job]) -> list[_Job]:
    """Log the decisions whose facts are unchanged, in one autocommitted statement; returns the jobs to
    write again, re-decided on the facts the statement found changed."""
    claimed = set()
    for job in jobs:  # two gates of one batch admitting the same one-time code: the first one wins
        if job.kind == "code" and job.decision.admitted:
            if (job.ref.credential_id, job.step) in claimed:
                job.decision = rules.Decision(False, "refuse_code_replayed")
            claimed.add((job.ref.credential_id, job.step))
    params = {
        "i": list(range(len(jobs))), "inst": [j.gate.institution_id for j in jobs],
        "zone": [j.entry.zone.id for j in jobs], "dev": [j.gate.device_id for j in jobs],
        "person": [j.ref.person_id for j in jobs], "card": [j.ref.card_id for j in jobs],
        "kind": [j.kind for j in jobs], "at": [j.moment for j in jobs],
        "admitted": [j.decision.admitted for j in jobs], "rule": [j.decision.rule for j in jobs],
        "cred": [j.ref.credential_id for j in jobs], "step": [j.step for j in jobs],
        "base": [j.holder.base for j in jobs],
        # only the parts this zone's level reads (NULL: not compared); '-' stands for "no residences"
        "entry": [j.holder.facts.campus_entry if _reads(j, "campus_entry") else None for j in jobs],
        "addon": [j.holder.facts.lab_addon if _reads(j, "lab_addon") else None for j in jobs],
        "permits": [j.holder.permits_md5 if _reads(j, "permits") else None for j in jobs],
        "residences": [(j.holder.residences_md5 or "-") if _reads(j, "residences") else None for j in jobs],
        "reuse": [j.kind == "code" and j.holder.facts.card_state in USABLE_STATES for j in jobs],
        "nonce": [None if j.nonce is None else j.nonce.key for j in jobs], "now": clock.now(),
    }
    # autocommit: the statement is its own durable transaction; one JSON answer, read by one C call
    ids, logged, taken, replayed, stale = json.loads(_WRITE_PREPARED.first_row(connections[DEFAULT_DB_ALIAS], params)[0])
    # One statement's sequence values follow the ORDER BY i of its rows, so ids sorted pair with i.
    for i, event_id, lost in zip(logged or (), ids or (), taken or (), strict=True):
        job = jobs[i]
        job.event_id, job.person_id, job.card_id = event_id, job.ref.person_id, job.ref.card_id
        if job.nonce is not None:
            job.nonce.spent = True
        if lost:
            job.decision = rules.Decision(False, "refuse_code_replayed")
    for i in replayed or ():
        jobs[i].error = DomainError("device_request_replayed")
    again = []
    for i, revoked, active, found, *parts in _json(stale):
        job = jobs[i]
        if revoked:
            job.error = DomainError("device_revoked")
        elif not active or not found:  # re-bound, re-provisioned or gone: the ordinary path looks afresh
            forget(uid=job.key) if job.kind == "nfc" else forget(token=job.key)
            job.handover = True
        else:  # the facts changed since they were held (a loss report, a new permit …): decide again
            job.holder = _holder(job.ref.card_id, job.ref.person_id, *parts)
            with _lock:
                _holders[job.ref.card_id] = job.holder
            _decide(job)
            again.append(job)
    return again
