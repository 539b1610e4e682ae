"""Gathering the facts an online gate decision needs, with per-process caches for what cannot change;
and the data both online paths share (``GateFacts``, ``GateOutcome``). Below ``fastpath`` and
``services``: it imports neither.

What is cached in the process, and why it is safe:

* **a gate device's code → id, kind, secret, institution** (``gate_facts``): checked on every signed
  request; a wrong signature reloads it once (a re-registered device works at once), and revocation
  is checked apart, at once (in the fast path's statement, or on the device row).
* **credential → card, holder, institution** (NFC UID, QR/HCE token): a credential row never changes
  its card; when an NFC UID is re-bound the old credential turns inactive, which the per-request
  read sees, and the UID is then looked up afresh.
* **public keys by (institution, key id)**: a key id never gets another key; a retired key stops
  verifying after ``ACCESS_ZONE_CACHE_SECONDS`` at the latest (``keys.public_key``).
* **zones by (institution, code)** with their gates and schedule exceptions: changed rarely and in
  advance by managers; reloaded after ``ACCESS_ZONE_CACHE_SECONDS`` (default 30 s) and forgotten at
  once in the process that changed them (signals in ``apps.py``).

What is read from the database on every request, because it can change at any moment and must
apply at once: the card's state (a loss report stops it, CARD-4/ACC-4), the credential being active,
the holder's kind and status (graduation, CARD-9), the campus-entry approval (campus gates), the
lab add-on and approved permits (laboratories), the dormitory residences of the zone's building
(dormitories), and a visitor pass's revocation — of these, only what ``rules.LEVEL_FACTS`` says the
zone's level reads. That is ONE indexed query for teaching, library and campus-gate zones (the
approval and add-on are ``EXISTS`` columns of it) and one more for dormitories and laboratories; the
decision itself is then computed in Python by ``rules.decide``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from campuscard.access import keys, rules
from campuscard.access.models import (
    CampusEntryApproval,
    DormResidence,
    LabPermit,
    Zone,
    ZoneException,
)
from campuscard.cards.models import Credential, PackageAddon
from campuscard.core import clock

_lock = threading.Lock()


@dataclass(frozen=True)
class ZoneEntry:
    zone: rules.ZoneFacts
    name: str
    gate_ids: frozenset[int]
    exceptions: dict[dt.date, rules.ZoneDay]
    loaded_at: float


@dataclass(frozen=True)
class CredentialRef:
    credential_id: int
    card_id: int
    person_id: int
    institution_id: int


@dataclass(frozen=True)
class GateFacts:
    """What a signed gate request needs of its device before the decision (cached per process)."""

    device_id: int
    device_code: str
    device_kind: str
    secret: str
    institution_id: int

    @classmethod
    def of(cls, device) -> GateFacts:
        return cls(device.pk, device.code, device.kind, device.secret, device.institution_id)


@dataclass(frozen=True)
class GateOutcome:
    decision: rules.Decision
    event_id: int
    zone: str
    person_id: int | None = None
    visitor_pass_id: int | None = None


_zones: dict[tuple[int, str], ZoneEntry] = {}
_nfc: dict[str, CredentialRef] = {}
_gates: dict[str, GateFacts] = {}


def gate_facts(device_code: str) -> GateFacts | None:
    """A device's facts by its code, for the signature check of gate requests (``load`` of
    ``devices.services.device_verify_cached``)."""
    found = _gates.get(device_code)
    if found is not None:
        return found
    from campuscard.devices.models import Device

    row = Device.objects.filter(code=device_code).values_list("pk", "code", "kind", "secret", "institution_id").first()
    if row is None:
        return None
    found = GateFacts(*row)
    with _lock:
        _gates[device_code] = found
    return found


def gate_forget(*, device_code: str) -> None:
    """``forget`` of ``device_verify_cached``: the cached secret may be stale."""
    with _lock:
        _gates.pop(device_code, None)


def policy() -> rules.Policy:
    night = getattr(settings, "ACCESS_DORM_NIGHT", ("23:00", "06:00"))
    return rules.Policy(dorm_night_start=rules.minutes(night[0]), dorm_night_end=rules.minutes(night[1]),
                        dorm_day=getattr(settings, "ACCESS_DORM_DAY_POLICY", "students"))


def zone_day(exception: ZoneException) -> rules.ZoneDay:
    return rules.ZoneDay(closed=exception.closed,
                         open_from=rules.minutes(exception.open_from) if exception.open_from else None,
                         open_to=rules.minutes(exception.open_to) if exception.open_to else None)


def zone_facts(zone: Zone, time_zone: str) -> rules.ZoneFacts:
    return rules.ZoneFacts(id=zone.pk, institution_id=zone.institution_id, code=zone.code, level=zone.level,
                           time_zone=time_zone, building_id=zone.building_id, active=zone.active)


def zone_entry(institution_id: int, code: str) -> ZoneEntry | None:
    key = (institution_id, code)
    entry = _zones.get(key)
    ttl = getattr(settings, "ACCESS_ZONE_CACHE_SECONDS", 30)
    if entry is not None and time.monotonic() - entry.loaded_at < ttl:
        return entry
    zone = Zone.objects.select_related("institution").filter(institution_id=institution_id, code=code).first()
    if zone is None:
        return None
    since = clock.now().date() - dt.timedelta(days=2)
    exceptions = {e.date: zone_day(e) for e in ZoneException.objects.filter(zone=zone, date__gte=since)}
    entry = ZoneEntry(zone=zone_facts(zone, zone.institution.time_zone), name=zone.name,
                      gate_ids=frozenset(zone.gates.values_list("pk", flat=True)), exceptions=exceptions,
                      loaded_at=time.monotonic())
    with _lock:
        _zones[key] = entry
    return entry


def on_zone_changed(**_kwargs) -> None:
    with _lock:
        _zones.clear()


def nfc_ref(uid: str, *, fresh: bool = False) -> CredentialRef | None:
    if not fresh and uid in _nfc:
        return _nfc[uid]
    row = (Credential.objects.filter(kind=Credential.Kind.NFC, uid=uid, active=True)
           .values_list("pk", "card_id", "card__person_id", "card__institution_id").first())
    if row is None:  # not bound (yet): never cache an absence
        return None
    ref = CredentialRef(*row)
    with _lock:
        _nfc[uid] = ref
    return ref


def forget() -> None:
    """Drop every fact cached here and the public keys (``services.caches_forget`` drops the fast path's too)."""
    with _lock:
        _zones.clear()
        _nfc.clear()
        _gates.clear()
    keys.forget()


def slots_of(weekly: list, dated: list) -> tuple[rules.Slot, ...]:
    slots = [rules.Slot(start=rules.minutes(s["start"]), end=rules.minutes(s["end"]), weekday=int(s["weekday"]))
             for s in weekly or ()]
    slots += [rules.Slot(start=rules.minutes(s["start"]), end=rules.minutes(s["end"]),
                         day=dt.date.fromisoformat(s["date"])) for s in dated or ()]
    return tuple(slots)


def holder_facts(ref: CredentialRef, zone: rules.ZoneFacts, day: dt.date) -> rules.HolderFacts | None:
    """The changing facts about the holder of ``ref`` that ``zone`` needs, read now."""
    person = OuterRef("card__person_id")
    extra = {}
    if rules.reads(zone.level, "campus_entry"):
        extra["entry"] = Exists(CampusEntryApproval.objects.filter(person_id=person,
                                                                   state=CampusEntryApproval.State.APPROVED))
    if rules.reads(zone.level, "lab_addon"):
        extra["addon"] = Exists(PackageAddon.objects.filter(person_id=person, addon=PackageAddon.Addon.LAB,
                                                            revoked_at=None))
    row = (Credential.objects.filter(pk=ref.credential_id).annotate(**extra)
           .values("active", "card__state", "card__kind", "card__person__kind", "card__person__status", *extra)
           .first())
    if row is None:
        return None
    residences: tuple[rules.Residence, ...] = ()
    permits: tuple[rules.Permit, ...] = ()
    if rules.reads(zone.level, "residences") and zone.building_id is not None:
        residences = tuple(rules.Residence(*r) for r in DormResidence.objects.filter(
            person_id=ref.person_id, building_id=zone.building_id, valid_from__lte=day)
            .filter(Q(valid_to=None) | Q(valid_to__gte=day)).values_list("building_id", "valid_from", "valid_to"))
    if rules.reads(zone.level, "permits") and row.get("addon"):
        permits = tuple(permit_facts(p) for p in LabPermit.objects.filter(
            person_id=ref.person_id, zone_id=zone.id, state=LabPermit.State.APPROVED, valid_from__lte=day,
            valid_to__gte=day).values("zone_id", "valid_from", "valid_to", "weekly_slots", "dated_slots"))
    return rules.HolderFacts(
        person_id=ref.person_id, person_kind=row["card__person__kind"], person_status=row["card__person__status"],
        card_id=ref.card_id, card_kind=row["card__kind"], card_state=row["card__state"],
        credential_active=row["active"], campus_entry=bool(row.get("entry")), lab_addon=bool(row.get("addon")),
        residences=residences, permits=permits)


def permit_facts(row: dict) -> rules.Permit:
    return rules.Permit(zone_id=row["zone_id"], valid_from=row["valid_from"], valid_to=row["valid_to"],
                        slots=slots_of(row["weekly_slots"], row["dated_slots"]))


def visitor_from_claims(claims: keys.VisitorClaims, *, revoked: bool) -> rules.VisitorFacts:
    """A verified visitor code's claims as the facts ``rules.decide`` reads (online and offline)."""
    return rules.VisitorFacts(pass_id=claims.pass_id, zone_ids=frozenset(claims.zone_ids),
                              start=dt.datetime.fromtimestamp(claims.start_minute * 60, dt.UTC),
                              end=dt.datetime.fromtimestamp(claims.end_minute * 60, dt.UTC), revoked=revoked)
