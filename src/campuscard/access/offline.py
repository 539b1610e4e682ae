"""Offline controllers (ACC-5): a signed snapshot of what a gate needs, and decisions made from it.

``snapshot_build(device)`` gives a gate, as JSON signed with the institution's Ed25519 keys:
its zones (with schedule exceptions), the policy, every active NFC credential of the institution with
its card's state and holder (so teaching, library and daytime dormitory rules work offline exactly as
online), the deny list (version + refused NFC UIDs, CARD-4), dormitory residents of its buildings,
approved lab permits of its laboratories and the lab add-on holders, campus-entry approvals (campus
gates), the visitor-code public keys, revoked visitor passes, ``generated_at`` and ``expires_at``.
The gate checks the signature (``snapshot_verify``) with a public key it trusts.

Signatures and key continuity (key rotation). A snapshot is signed by EVERY key of the institution
that is not retired: ``signatures`` maps each key id to its signature over the canonical body without
``signature`` and ``signatures``. ``key_id`` and ``signature`` are the active key's signature over the
body with ``signatures`` (everything but ``signature``), which is what gates made before rotation
existed check. ``visitor_keys`` lists the same non-retired public keys. Everything the gate reads is
under every signature; the signature fields themselves are read only to verify (caches are keyed by
the signed ``institution`` and ``serial``). A gate:

1. is provisioned once with the institution's public keys (back office *Access signing keys*, or
   ``campuscard access_keys list --institution CODE``);
2. accepts a snapshot if a signature by a key it trusts verifies, none by a key it trusts fails, and
   the body has every field it reads (``snapshot_verify``);
3. refuses one whose ``serial`` is lower than the snapshot it holds (each snapshot of an institution
   gets the next serial, taken before its facts are read: a replayed older download cannot bring back
   a revoked pass or card);
4. then adopts the snapshot's ``visitor_keys`` as its trusted set (``snapshot_adopt`` does 2 to 4).

So after a rotation every gate that syncs while the old key is still unretired (the snapshot is then
signed by both) moves to the new key. Retire the old key only after every gate has synced since the
rotation (and the passes it signed are over): from then on snapshots carry no signature by it, and a
gate that still trusts only the old key rejects them and must be provisioned again. A retired key's
visitor codes are refused online at once and offline from the next snapshot.

``decide_offline`` turns the snapshot into ``rules.Facts`` and calls the SAME ``rules.decide`` as the
online path.

Policy for credentials offline: **only physical cards (NFC) and visitor codes are accepted.** A holder's
dynamic QR/HCE code is one-time, and offline gates cannot know whether another gate already accepted
it, so they refuse it with ``refuse_code_offline_unsupported`` (the gate tells the holder to tap the
card). Cards of another institution are not in the snapshot: offline they are refused as unknown.

Expiry (``ACCESS_SNAPSHOT_TTL_HOURS``, default 12) and what happens past it, per zone level
(``ACCESS_OFFLINE_EXPIRED_POLICY``, merged over the defaults below):

* ``refuse`` — fail-secure: everyone is refused with ``refuse_snapshot_expired`` (laboratories);
* ``residents`` — only residents of the building are admitted, and a residence that was valid when
  the snapshot was made stays valid, so a resident is never locked out of their own dormitory because
  the date rolled over a move-out date that the gate cannot re-check (dormitories);
* ``last_known`` — decide on the last snapshot as if it were current (teaching, library, campus
  gates, other).

The deny list applies in every mode: a card reported lost is refused from the next sync on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from campuscard.access import facts, keys, rules
from campuscard.access.models import (
    AccessSigningKey,
    CampusEntryApproval,
    DormResidence,
    LabPermit,
    SnapshotSerial,
    VisitorPass,
    Zone,
    ZoneException,
)
from campuscard.cards import codes
from campuscard.cards.models import Card, Credential, DenyListVersion, PackageAddon
from campuscard.cards.policy import STATE_REFUSALS
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device

SNAPSHOT_VERSION = 2  # 2: a growing "serial", and every field the gate reads is signed
DEFAULT_EXPIRED_POLICY = {
    rules.LABORATORY: "refuse", rules.DORMITORY: "residents", rules.TEACHING: "last_known",
    rules.LIBRARY: "last_known", rules.CAMPUS_GATE: "last_known", rules.OTHER: "last_known",
}
# The deny list: cards that stopped (a card still being applied for was never admitted).
REFUSED_STATES = tuple(state for state in STATE_REFUSALS if state != Card.State.APPLIED)
# What a gate reads of a snapshot; one without them is not a snapshot it can decide from.
FIELDS = frozenset({"v", "serial", "institution", "device", "time_zone", "generated_at", "expires_at", "policy",
                    "zones", "holders", "deny_list", "residents", "lab_permits", "lab_addons", "campus_entry",
                    "visitor_keys", "revoked_passes"})


def expired_policy() -> dict[str, str]:
    return {**DEFAULT_EXPIRED_POLICY, **getattr(settings, "ACCESS_OFFLINE_EXPIRED_POLICY", {})}


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _next_serial(institution_id: int) -> int:
    """The institution's next snapshot serial (never given twice, even to snapshots built at once)."""
    with transaction.atomic():
        SnapshotSerial.objects.get_or_create(institution_id=institution_id)
        SnapshotSerial.objects.filter(institution_id=institution_id).update(last=F("last") + 1)
        return SnapshotSerial.objects.values_list("last", flat=True).get(institution_id=institution_id)


def snapshot_build(*, device: Device) -> dict[str, Any]:
    if device.kind != Device.Kind.GATE:
        raise DomainError("gate_device_required")
    institution = device.institution
    serial = _next_serial(institution.pk)  # before the reads: a higher serial never holds older facts
    now = clock.now()
    today = clock.local_date(institution, now)
    since = today - dt.timedelta(days=1)
    zones = list(Zone.objects.filter(institution=institution, gates=device).order_by("code"))
    dorm_buildings = [z.building_id for z in zones if rules.reads(z.level, "residences") and z.building_id]
    labs = [z.pk for z in zones if rules.reads(z.level, "permits")]
    with_addons = any(rules.reads(z.level, "lab_addon") for z in zones)
    with_entries = any(rules.reads(z.level, "campus_entry") for z in zones)
    exceptions: dict[int, list] = {}
    for e in ZoneException.objects.filter(zone__in=zones, date__gte=since).order_by("date"):
        exceptions.setdefault(e.zone_id, []).append(
            {"date": e.date.isoformat(), "closed": e.closed, "open_from": e.open_from.strftime("%H:%M")
             if e.open_from else None, "open_to": e.open_to.strftime("%H:%M") if e.open_to else None})
    holders = {}
    for uid, card_id, card_kind, card_state, person_id, person_kind, person_status in (
            Credential.objects.filter(kind=Credential.Kind.NFC, active=True, card__institution=institution)
            .exclude(uid="").values_list("uid", "card_id", "card__kind", "card__state", "card__person_id",
                                         "card__person__kind", "card__person__status")):
        holders[uid] = {"card": card_id, "card_kind": card_kind, "card_state": card_state, "person": person_id,
                        "person_kind": person_kind, "person_status": person_status}
    deny_version = (DenyListVersion.objects.filter(institution=institution).values_list("version", flat=True)
                    .first() or 0)
    denied_uids = sorted(Credential.objects.filter(kind=Credential.Kind.NFC, card__institution=institution,
                                                   card__state__in=REFUSED_STATES).exclude(uid="")
                         .values_list("uid", flat=True).distinct())
    residents = [
        {"person": p, "building": b, "from": f.isoformat(), "to": t.isoformat() if t else None}
        for p, b, f, t in DormResidence.objects.filter(building_id__in=dorm_buildings)
        .filter(Q(valid_to=None) | Q(valid_to__gte=since)).values_list("person_id", "building_id", "valid_from",
                                                                        "valid_to")]
    permits = [
        {"person": p["person_id"], "zone": p["zone_id"], "from": p["valid_from"].isoformat(),
         "to": p["valid_to"].isoformat(), "weekly": p["weekly_slots"], "dated": p["dated_slots"]}
        for p in LabPermit.objects.filter(zone_id__in=labs, state=LabPermit.State.APPROVED, valid_to__gte=since)
        .values("person_id", "zone_id", "valid_from", "valid_to", "weekly_slots", "dated_slots")]
    lab_addons = sorted(PackageAddon.objects.filter(addon=PackageAddon.Addon.LAB, revoked_at=None,
                                                    person__institution=institution)
                        .values_list("person_id", flat=True)) if with_addons else []
    entries = sorted(CampusEntryApproval.objects.filter(institution=institution,
                                                        state=CampusEntryApproval.State.APPROVED)
                     .values_list("person_id", flat=True)) if with_entries else []
    keys.active_key(institution.pk)  # made with the first snapshot if the institution has none yet
    # the keys that sign, and the active one among them, from one read (a rotation meanwhile cannot split them)
    live = list(AccessSigningKey.objects.filter(institution=institution, retired_at=None).order_by("key_id"))
    signing = next(k for k in live if k.active)  # one active key, never retired
    public = {k.key_id: k.public_key for k in live}
    revoked = sorted(VisitorPass.objects.filter(institution=institution, revoked_at__isnull=False,
                                                valid_to__gt=now - dt.timedelta(days=1))
                     .values_list("pk", flat=True))
    policy = facts.policy()
    ttl = getattr(settings, "ACCESS_SNAPSHOT_TTL_HOURS", 12)
    body = {
        "v": SNAPSHOT_VERSION, "serial": serial, "institution": institution.pk,
        "device": device.code,
        "time_zone": institution.time_zone, "generated_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(hours=ttl)).isoformat(),
        "policy": {"dorm_night_start": policy.dorm_night_start, "dorm_night_end": policy.dorm_night_end,
                   "dorm_day": policy.dorm_day, "expired": expired_policy()},
        "zones": [{"id": z.pk, "code": z.code, "level": z.level, "building": z.building_id, "active": z.active,
                   "exceptions": exceptions.get(z.pk, [])} for z in zones],
        "holders": holders,
        "deny_list": {"version": deny_version, "nfc_uids": denied_uids},
        "residents": residents, "lab_permits": permits, "lab_addons": lab_addons, "campus_entry": entries,
        "visitor_keys": {str(k): v for k, v in sorted(public.items())}, "revoked_passes": revoked,
        "key_id": signing.key_id,
    }
    # every live key signs the body without signatures; then the active key signs it WITH them, over
    # everything but "signature" — the message gates installed before rotation existed check
    message = canonical(body)
    body["signatures"] = {str(k.key_id): base64.b64encode(keys.sign(k, message)).decode() for k in live}
    body["signature"] = base64.b64encode(keys.sign(signing, canonical(body))).decode()
    return body


def snapshot_verify(snapshot: dict, public_keys: dict[int, str] | dict[str, str]) -> bool:
    """What the gate does on download: True if a signature by a key it trusts (key id → base64 public
    key, ids as int or str) verifies — one of ``signatures`` over the body without both signature fields,
    or the active key's ``signature`` over the body without it (what older gates check) — no signature
    by a trusted key fails, and the body has every field the gate reads. Neither signature field is read
    by the gate afterwards: what it decides from and caches by is all signed."""
    if not isinstance(snapshot, dict) or snapshot.get("v") != SNAPSHOT_VERSION or not snapshot.keys() >= FIELDS:
        return False
    trusted = {int(k): v for k, v in public_keys.items()}
    body = {k: v for k, v in snapshot.items() if k != "signature"}
    candidates = [(key_id, signature, "signatures") for key_id, signature in (snapshot.get("signatures") or {}).items()]
    if "signature" in snapshot:
        candidates.append((snapshot.get("key_id", -1), snapshot["signature"], "signature"))
    genuine = False
    for key_id, signature, field in candidates:
        try:
            text = trusted.get(int(key_id))
        except (TypeError, ValueError):
            return False
        if text is None:
            continue  # a key this gate does not know of: neither for nor against
        message = canonical({k: v for k, v in body.items() if k != "signatures"} if field == "signatures" else body)
        try:
            keys.public_key_from_b64(text).verify(base64.b64decode(signature), message)
        except Exception:  # noqa: BLE001 - any malformed or wrong signature by a trusted key: tampered
            return False
        genuine = True
    return genuine


def snapshot_adopt(snapshot: dict, trusted: dict[int, str], *, held: dict | None = None) -> dict[int, str] | None:
    """A gate's sync step: verify with the keys it trusts, refuse a snapshot older than the one it
    ``held`` (a replayed download must not bring back a revoked pass), then trust the snapshot's
    ``visitor_keys`` (the institution's keys that are not retired). None, and the gate keeps its keys
    and its snapshot, if not genuine or older."""
    if not snapshot_verify(snapshot, trusted):
        return None
    if held is not None and (snapshot["institution"] != held["institution"] or snapshot["serial"] < held["serial"]):
        return None
    return {int(k): v for k, v in snapshot["visitor_keys"].items()}


def _zone(snapshot: dict, zone_code: str) -> tuple[rules.ZoneFacts, dict[dt.date, rules.ZoneDay]]:
    for z in snapshot["zones"]:
        if z["code"] == zone_code:
            zone = rules.ZoneFacts(id=z["id"], institution_id=snapshot["institution"], code=z["code"],
                                   level=z["level"], time_zone=snapshot["time_zone"], building_id=z["building"],
                                   active=z["active"])
            days = {dt.date.fromisoformat(e["date"]): rules.ZoneDay(
                closed=e["closed"], open_from=rules.minutes(e["open_from"]) if e["open_from"] else None,
                open_to=rules.minutes(e["open_to"]) if e["open_to"] else None) for e in z["exceptions"]}
            return zone, days
    raise DomainError("gate_zone_not_bound")


@dataclass(frozen=True)
class _Index:
    """A snapshot's lists keyed for lookups: built once per snapshot, so a decision costs the same with
    500 or 50,000 holders."""

    residents: dict[int, list[dict]]
    permits: dict[tuple[int, int], list[dict]]
    denied_uids: frozenset[str]
    campus_entry: frozenset[int]
    lab_addons: frozenset[int]
    revoked_passes: frozenset[int]


_indexes: dict[tuple[int, int], _Index] = {}


def forget() -> None:
    """Drop the snapshot indexes (tests, whose rolled-back databases give serials again)."""
    _indexes.clear()


def _index(snapshot: dict) -> _Index:
    """Keyed by the snapshot's signed institution and serial (one per snapshot); a gate keeps a few at most."""
    key = (snapshot["institution"], snapshot["serial"])
    found = _indexes.get(key)
    if found is None:
        residents: dict[int, list[dict]] = {}
        for row in snapshot["residents"]:
            residents.setdefault(row["person"], []).append(row)
        permits: dict[tuple[int, int], list[dict]] = {}
        for row in snapshot["lab_permits"]:
            permits.setdefault((row["person"], row["zone"]), []).append(row)
        found = _Index(residents, permits, frozenset(snapshot["deny_list"]["nfc_uids"]),
                       frozenset(snapshot["campus_entry"]), frozenset(snapshot["lab_addons"]),
                       frozenset(snapshot["revoked_passes"]))
        if len(_indexes) >= 8:
            _indexes.clear()
        _indexes[key] = found
    return found


def _holder(snapshot: dict, uid: str, zone: rules.ZoneFacts, *, keep_residents: bool,
            generated_day: dt.date) -> rules.HolderFacts | None:
    row = snapshot["holders"].get(uid)
    if row is None:
        return None
    index = _index(snapshot)
    person = row["person"]
    state = row["card_state"]
    if uid in index.denied_uids and state not in rules.CARD_STATE_RULES:
        state = "lost"  # belt and braces: the deny list always wins
    residences = []
    for r in index.residents.get(person, ()):
        valid_to = dt.date.fromisoformat(r["to"]) if r["to"] else None
        if keep_residents and (valid_to is None or valid_to >= generated_day):
            valid_to = None  # past expiry: a resident when the snapshot was made stays one
        residences.append(rules.Residence(r["building"], dt.date.fromisoformat(r["from"]), valid_to))
    permits = tuple(rules.Permit(zone_id=p["zone"], valid_from=dt.date.fromisoformat(p["from"]),
                                 valid_to=dt.date.fromisoformat(p["to"]), slots=facts.slots_of(p["weekly"], p["dated"]))
                    for p in index.permits.get((person, zone.id), ()))
    return rules.HolderFacts(person_id=person, person_kind=row["person_kind"], person_status=row["person_status"],
                             card_id=row["card"], card_kind=row["card_kind"], card_state=state,
                             campus_entry=person in index.campus_entry, lab_addon=person in index.lab_addons,
                             residences=tuple(residences), permits=permits)


def decide_offline(snapshot: dict, *, zone_code: str, moment: dt.datetime, nfc_uid: str = "",
                   visitor_code: str = "", code: str = "") -> rules.Decision:
    """Decide at an offline gate from its (verified) snapshot, with the same ``rules.decide``."""
    zone, exceptions = _zone(snapshot, zone_code)
    policy_data = snapshot["policy"]
    policy = rules.Policy(dorm_night_start=policy_data["dorm_night_start"],
                          dorm_night_end=policy_data["dorm_night_end"], dorm_day=policy_data["dorm_day"])
    expired = moment >= dt.datetime.fromisoformat(snapshot["expires_at"])
    mode = policy_data["expired"].get(zone.level, "refuse") if expired else "current"
    if mode not in ("current", "residents", "last_known"):  # "refuse", and any word it does not know: fail secure
        return rules.Decision(False, "refuse_snapshot_expired")
    generated_day = dt.datetime.fromisoformat(snapshot["generated_at"]).astimezone(
        clock.zone(snapshot["time_zone"])).date()
    if sum(bool(x) for x in (code, nfc_uid, visitor_code)) != 1:
        raise DomainError("credential_missing")
    if code:
        fx = rules.Facts(problem="refuse_code_offline_unsupported")
    elif visitor_code:
        public = {int(k): v for k, v in snapshot["visitor_keys"].items()}
        try:
            claims = keys.verify_visitor_code(
                visitor_code, lambda key_id: keys.public_key_from_b64(public[key_id]) if key_id in public else None)
        except keys.CodeRefused as refused:
            fx = rules.Facts(problem=refused.rule)
        else:
            fx = rules.Facts(visitor=facts.visitor_from_claims(claims, revoked=claims.pass_id in _index(snapshot).revoked_passes),
                             exceptions=exceptions)
    else:
        holder = _holder(snapshot, codes.normalize_uid(nfc_uid), zone, keep_residents=mode == "residents",
                         generated_day=generated_day)
        fx = rules.Facts(holder=holder, exceptions=exceptions) if holder else rules.Facts(
            problem="refuse_credential_unknown")
    decision = rules.decide(fx, zone, moment, policy)
    if mode == "residents" and decision.admitted and decision.rule != "admit_dorm_resident":
        return rules.Decision(False, "refuse_snapshot_expired")
    return decision
