"""Access writes: applications and approvals, visitor passes, and the gate decision with its event log.

``gate_decide`` is the one entry point of an online gate decision (ACC-1 … ACC-5), whoever asks: the
signed gate API (through the device lane or Django), the browser gate page, simulations. Every
decision comes from the pure ``rules.decide`` and is logged before it is answered, so an answered
decision is a durable one. On PostgreSQL outside a transaction it first lets ``access.fastpath``
decide: held facts, and ONE statement per batch of concurrent decisions that checks them and logs the
events (group commit). What that path hands back (SQLite, visitor codes, anything unusual, a caller's
own moment) is decided here on facts read now (``access.facts``) and logged with one INSERT.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.access import facts, fastpath, keys, offline, rules
from campuscard.access.facts import GateFacts, GateOutcome, visitor_from_claims
from campuscard.access.models import (
    AccessEvent,
    CampusEntryApproval,
    LabPermit,
    VisitorPass,
    Zone,
    ZoneException,
)
from campuscard.cards import codes
from campuscard.cards.models import Card, Credential, PackageAddon
from campuscard.cards.selectors import has_addon
from campuscard.cards.services import package_addon_grant, package_addon_revoke
from campuscard.cards.workdays import public_holidays
from campuscard.core import clock, metrics
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import REGISTRY, DomainError
from campuscard.core.permissions import authorize
from campuscard.devices.models import Device
from campuscard.devices.services import (
    device_is_revoked,
    device_require_active,
    device_touch,
    gate_nonce_claim,
)
from campuscard.identity.models import Person
from campuscard.identity.selectors import acting_user
from campuscard.support.models import Notification
from campuscard.support.services import notify


def _code_refusal(code: str) -> str:
    """``code_accept``'s refusal as a gate rule: qr_replayed → refuse_code_replayed, card_lost →
    refuse_card_lost (the card states' codes come from ``cards.policy``, so no second table here)."""
    rule = "refuse_" + (f"code_{code[3:]}" if code.startswith("qr_") else code)
    return rule if rule in REGISTRY else "refuse_code_invalid"


# --- the gate decision (ACC-1 … ACC-5) -------------------------------------------------------------

def _gate_zone(device: Device, zone_code: str) -> facts.ZoneEntry:
    if device.kind != Device.Kind.GATE:
        raise DomainError("gate_device_required")
    entry = facts.zone_entry(device.institution_id, zone_code)
    if entry is None:
        raise DomainError("zone_unknown")
    if device.pk not in entry.gate_ids:
        raise DomainError("gate_zone_not_bound")
    return entry


def _visitor_facts(institution_id: int, code: str) -> rules.Facts:
    try:
        claims = keys.verify_visitor_code(code, lambda key_id: keys.public_key(institution_id, key_id))
    except keys.CodeRefused as refused:
        return rules.Facts(problem=refused.rule)
    revoked = (VisitorPass.objects.filter(pk=claims.pass_id, institution_id=institution_id)
               .values_list("revoked_at", flat=True))
    row = list(revoked[:1])
    if not row:
        return rules.Facts(problem="refuse_visitor_unknown")
    return rules.Facts(visitor=visitor_from_claims(claims, revoked=row[0] is not None))


@metrics.observed(metrics.GATE)  # #18 item 8: counted and timed here, since the lane answers before Django
def gate_decide(*, device: Device | GateFacts, zone_code: str, code: str = "", nfc_uid: str = "",
                visitor_code: str = "", moment: dt.datetime | None = None, nonce=None) -> GateOutcome:
    """Admit or refuse one credential at one zone now, and log it (ACC-5); a revoked gate is refused.

    ``device`` is the gate's row, or the facts its signature check cached (``facts.gate_facts``).
    ``moment`` is the server's clock unless a caller (tests, simulations) passes one: a gate's own clock
    is not trusted online. ``nonce`` (a ``devices.services.NonceClaim``), when the caller left the request's
    nonce to the decision, is claimed with it: a replay raises ``device_request_replayed``."""
    if moment is None and fastpath.eligible():
        gate = device if isinstance(device, GateFacts) else GateFacts.of(device)
        outcome = fastpath.try_decide(gate=gate, zone_code=zone_code, code=code, nfc_uid=nfc_uid,
                                      visitor_code=visitor_code, nonce=nonce)
        if outcome is not None:
            return outcome
    if isinstance(device, GateFacts):
        device = device_require_active(device_id=device.device_id)
        device_touch(device=device)
    elif device_is_revoked(device=device):
        raise DomainError("device_revoked")
    if nonce is not None and not nonce.spent:  # the fast path did not claim it: claimed in the same record
        if not gate_nonce_claim(device_id=device.pk, nonce=nonce.key):
            raise DomainError("device_request_replayed")
        nonce.spent = True
    return _decide_and_log(device, zone_code, code, nfc_uid, visitor_code, moment or clock.now())


def _decide_and_log(device: Device, zone_code: str, code: str, nfc_uid: str, visitor_code: str,
                    moment: dt.datetime) -> GateOutcome:
    """The ordinary path: facts read now, one INSERT for the event."""
    entry = _gate_zone(device, zone_code)
    if sum(bool(x) for x in (code, nfc_uid, visitor_code)) != 1:
        raise DomainError("credential_missing")
    zone, policy = entry.zone, facts.policy()
    day = moment.astimezone(clock.zone(zone.time_zone)).date()
    holder_ref: facts.CredentialRef | None = None
    pass_id = None

    with transaction.atomic():
        if visitor_code:
            kind = AccessEvent.CredentialKind.VISITOR
            fx = _visitor_facts(device.institution_id, visitor_code)
            pass_id = fx.visitor.pass_id if fx.visitor else None
            fx = rules.Facts(problem=fx.problem, visitor=fx.visitor, exceptions=entry.exceptions)
            decision = rules.decide(fx, zone, moment, policy)
        elif nfc_uid:
            kind = AccessEvent.CredentialKind.NFC
            uid = codes.normalize_uid(nfc_uid)
            holder_ref = facts.nfc_ref(uid)
            holder = facts.holder_facts(holder_ref, zone, day) if holder_ref else None
            if holder is not None and not holder.credential_active:  # the UID was re-bound since it was cached
                holder_ref = facts.nfc_ref(uid, fresh=True)
                holder = facts.holder_facts(holder_ref, zone, day) if holder_ref else None
            decision = _decide_holder(holder_ref, holder, device, zone, moment, policy, entry)
        else:
            kind = AccessEvent.CredentialKind.CODE
            decision, holder_ref = _decide_code(code, device, zone, moment, policy, entry, day)
        event = AccessEvent.objects.create(
            institution_id=device.institution_id, zone_id=zone.id, device=device,
            person_id=holder_ref.person_id if holder_ref else None, card_id=holder_ref.card_id if holder_ref else None,
            visitor_pass_id=pass_id, credential_kind=kind, decided_at=moment, admitted=decision.admitted,
            rule=decision.rule, source=AccessEvent.Source.ONLINE, received_at=clock.now())
    return GateOutcome(decision=decision, event_id=event.pk, zone=zone.code,
                       person_id=holder_ref.person_id if holder_ref else None, visitor_pass_id=pass_id)


def _decide_holder(ref, holder, device, zone, moment, policy, entry) -> rules.Decision:
    if ref is None or holder is None:
        return rules.Decision(False, "refuse_credential_unknown")
    if ref.institution_id != device.institution_id:
        return rules.Decision(False, "refuse_credential_other_institution")
    return rules.decide(rules.Facts(holder=holder, exceptions=entry.exceptions), zone, moment, policy)


def _decide_code(code, device, zone, moment, policy, entry, day):
    """A holder's one-time dynamic code: used up only when the gate admits (a savepoint undoes the use
    when the rules refuse, so the holder can show the same code at the right gate)."""
    savepoint = transaction.savepoint()
    try:
        presented = codes.code_accept(institution_id=device.institution_id, code=code)
    except DomainError as refused:
        transaction.savepoint_rollback(savepoint)
        ref = None
        if refused.code in ("qr_replayed", "qr_expired"):  # the digits matched the credential's secret: log whose
            row = (Credential.objects.filter(token=code.strip().split(".")[1])
                   .values_list("pk", "card_id", "card__person_id", "card__institution_id").first())
            ref = facts.CredentialRef(*row) if row else None
        return rules.Decision(False, _code_refusal(refused.code)), ref
    credential = presented.credential
    ref = facts.CredentialRef(credential.pk, credential.card_id, credential.card.person_id,
                              credential.card.institution_id)
    decision = _decide_holder(ref, facts.holder_facts(ref, zone, day), device, zone, moment, policy, entry)
    if decision.admitted:
        transaction.savepoint_commit(savepoint)
    else:
        transaction.savepoint_rollback(savepoint)
    return decision, ref


# --- offline gates' events (ACC-5) ----------------------------------------------------------------

def events_upload(*, device: Device, events: list[dict]) -> dict:
    """Store decisions an offline gate made, each once: ``(device, sequence)`` is unique, so a resent
    batch (the gate did not get our answer) adds nothing. Each event: ``sequence`` (int), ``zone``
    (code), ``decided_at`` (ISO 8601 with offset), ``admitted``, ``rule``, ``credential_kind`` and
    ``nfc_uid`` or ``visitor_pass`` when known.

    One event the server cannot store (malformed, a zone this gate does not guard, a rule the server
    does not know) does not hold back the others: it is answered in ``rejected`` with its reason, so
    the gate can drop it from its buffer and keep its local copy, and everything else is stored. Only
    zones the gate guards: a gate cannot write into another zone's log (upload before re-wiring one)."""
    if device.kind != Device.Kind.GATE:
        raise DomainError("gate_device_required")
    zones = dict(Zone.objects.filter(institution_id=device.institution_id, gates=device).values_list("code", "pk"))
    now, rows, seen, rejected = clock.now(), [], set(), []
    events = [e if isinstance(e, dict) else {} for e in events]
    uids = {codes.normalize_uid(str(e.get("nfc_uid") or "")) for e in events} - {""}
    owners = {uid: (card_id, person_id) for uid, card_id, person_id in Credential.objects.filter(
        kind=Credential.Kind.NFC, uid__in=uids, card__institution_id=device.institution_id)
        .order_by("created_at").values_list("uid", "card_id", "card__person_id")}
    pass_ids = {e["visitor_pass"] for e in events if type(e.get("visitor_pass")) is int}
    passes = set(VisitorPass.objects.filter(institution_id=device.institution_id, pk__in=pass_ids)
                 .values_list("pk", flat=True))
    for index, event in enumerate(events):
        reason = _event_problem(event, zones)
        if reason:
            sequence = event.get("sequence")
            rejected.append({"index": index, "reason": reason,
                             "sequence": sequence if type(sequence) is int and 0 <= sequence < 2**63 else None})
            continue
        sequence = int(event["sequence"])
        if sequence in seen:
            continue
        seen.add(sequence)
        card_id, person_id = owners.get(codes.normalize_uid(str(event.get("nfc_uid") or "")), (None, None))
        pass_id = event.get("visitor_pass") if type(event.get("visitor_pass")) is int else None
        pass_id = pass_id if pass_id in passes else None
        rows.append(AccessEvent(
            institution_id=device.institution_id, zone_id=zones[event["zone"]], device=device, person_id=person_id,
            card_id=card_id, visitor_pass_id=pass_id,
            credential_kind=event.get("credential_kind") or AccessEvent.CredentialKind.NFC,
            decided_at=parse_datetime(str(event["decided_at"])),  # type: ignore[misc]  # _event_problem: it parses
            admitted=bool(event["admitted"]),
            rule=str(event["rule"]), source=AccessEvent.Source.OFFLINE, sequence=sequence, received_at=now))
    accepted = _events_store(device, rows, seen)
    return {"accepted": accepted, "duplicates": len(events) - accepted - len(rejected), "rejected": rejected}


def _events_store(device: Device, rows: list[AccessEvent], sequences: set[int]) -> int:
    """Insert the rows whose sequence is not stored yet; how many this call stored. An upload of the
    same events running at once waits on the unique index and then fails here: it reads again what the
    other stored, so each event is counted as accepted by exactly one of them."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                known = set(AccessEvent.objects.filter(device=device, sequence__in=sequences)
                            .values_list("sequence", flat=True))
                fresh = [row for row in rows if row.sequence not in known]
                AccessEvent.objects.bulk_create(fresh, batch_size=500)
                return len(fresh)
        except IntegrityError:
            for row in rows:
                row.pk = None
    raise DomainError("internal_error")


def _event_problem(event, zones: dict[str, int]) -> str:
    """Why an uploaded event cannot be stored, or "" when it can."""
    if not isinstance(event, dict):
        return "malformed"
    sequence, admitted = event.get("sequence"), event.get("admitted")
    try:
        decided_at = parse_datetime(event["decided_at"]) if isinstance(event.get("decided_at"), str) else None
    except ValueError:  # shaped like a date-time, not one (2026-13-45T…)
        decided_at = None
    if (not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence < 2**63
            or decided_at is None or decided_at.tzinfo is None or not isinstance(admitted, bool)
            or not isinstance(event.get("rule"), str)):
        return "malformed"
    if str(event.get("credential_kind") or AccessEvent.CredentialKind.NFC) not in AccessEvent.CredentialKind.values:
        return "credential_kind_unknown"
    if not isinstance(event.get("zone"), str) or event["zone"] not in zones:
        return "zone_not_guarded"
    rule = event["rule"]
    if not (rule in rules.ADMIT_RULES if admitted else rule in REGISTRY):
        return "rule_unknown"
    return ""


# --- holidays and schedule exceptions (ACC-1) -----------------------------------------------------

EXCEPTION_DAYS_MAX = 366


def exception_days(*, institution, first: dt.date, last: dt.date, holidays_only: bool = False) -> list[dt.date]:
    """The days from ``first`` to ``last``, or only the public holidays of the institution's country among
    them; at most ``EXCEPTION_DAYS_MAX`` days apart (longer: none, which ``zone_exceptions_set`` refuses)."""
    if institution is None or not 0 <= (last - first).days < EXCEPTION_DAYS_MAX:
        return []
    if holidays_only:
        return public_holidays(institution.country, first, last)
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def zone_exceptions_set(*, actor: Actor, zones: list[Zone], days: list[dt.date], closed: bool,
                        open_from: dt.time | None = None, open_to: dt.time | None = None, note: str = "") -> int:
    """The same holiday or schedule exception for many zones of one institution and days at once (a
    closure week, the public holidays of a term); an exception already there for a zone and day is
    replaced. Zone managers only for the zones they manage."""
    if not zones or not days or len(days) > EXCEPTION_DAYS_MAX or len({z.institution_id for z in zones}) != 1:
        raise DomainError("zone_exception_invalid")
    if not closed and not (open_from and open_to and open_from < open_to):
        raise DomainError("zone_exception_invalid")
    authorize(actor.user, "access.change_zoneexception", zones[0].institution_id)
    for zone in zones:
        _authorize_zone_manager(actor, zone, "access.add_zoneexception")
    hours: dict[str, bool | dt.time | None] = {"closed": True, "open_from": None, "open_to": None} if closed else {
        "closed": False, "open_from": open_from, "open_to": open_to}
    with transaction.atomic():
        ZoneException.objects.bulk_create(
            [ZoneException(zone=zone, date=day, note=note[:200], **hours) for zone in zones for day in days],
            update_conflicts=True, unique_fields=["zone", "date"], update_fields=["closed", "open_from", "open_to",
                                                                                 "note"], batch_size=1000)
        audit_record(actor=actor, action="zone_exceptions_set", object_type="access.zone",
                     object_id=",".join(str(z.pk) for z in zones)[:64], institution_id=zones[0].institution_id,
                     after={"zones": [z.code for z in zones], "days": [d.isoformat() for d in days], "closed": closed,
                            "note": note[:200], "open_from": open_from.isoformat() if open_from else None,
                            "open_to": open_to.isoformat() if open_to else None})
    facts.on_zone_changed()  # a bulk write sends no post_save: this process forgets its zones at once
    return len(zones) * len(days)


# --- campus entry (ACC-2) ---------------------------------------------------------------------------

def campus_entry_apply(*, actor: Actor, person: Person, reason: str = "") -> CampusEntryApproval:
    try:
        with transaction.atomic():
            approval = CampusEntryApproval.objects.create(institution_id=person.institution_id, person=person,
                                                          reason=reason[:200], requested_at=clock.now())
            audit_record(actor=actor, action="campus_entry_requested", obj=approval,
                         institution_id=person.institution_id)
    except IntegrityError:
        raise DomainError("campus_entry_open")
    return approval


def campus_entry_decide(*, actor: Actor, approval: CampusEntryApproval, approve: bool, note: str = "") -> CampusEntryApproval:
    authorize(actor.user, "access.change_campusentryapproval", approval.institution_id)
    state = CampusEntryApproval.State.APPROVED if approve else CampusEntryApproval.State.REJECTED
    approval = _settle(actor, approval, expected=CampusEntryApproval.State.REQUESTED, state=state,
                       refusal="application_not_pending", action=f"campus_entry_{state}", note=note, decided=True)
    _notify_decided(approval.person, approve, gettext_lazy("campus entry"), note, "/access/")
    return approval


def campus_entry_revoke(*, actor: Actor, approval: CampusEntryApproval, note: str = "") -> CampusEntryApproval:
    """An approved campus entry withdrawn: campus gates refuse the card from the next tap on."""
    authorize(actor.user, "access.change_campusentryapproval", approval.institution_id)
    approval = _settle(actor, approval, expected=CampusEntryApproval.State.APPROVED,
                       state=CampusEntryApproval.State.REVOKED, refusal="campus_entry_not_approved",
                       action="campus_entry_revoked", note=note)
    _notify_revoked(approval.person, gettext_lazy("campus entry"), note, "/access/")
    return approval


def _settle(actor: Actor, row, *, expected: str, state: str, refusal: str, action: str, note: str, decided: bool = False):
    """Move an application (campus entry, lab permit) from ``expected`` to ``state`` under a row lock,
    audited; refused with ``refusal`` if someone else moved it first."""
    with transaction.atomic():
        row = type(row).objects.select_for_update().get(pk=row.pk)
        if row.state != expected:
            raise DomainError(refusal)
        row.state, row.decision_note = state, note[:200]
        fields = ["state", "decision_note"]
        if decided:
            row.decided_by, row.decided_at = acting_user(actor), clock.now()
            fields += ["decided_by", "decided_at"]
        row.save(update_fields=fields)
        audit_record(actor=actor, action=action, obj=row, institution_id=row.institution_id)
    return row


def _notify_revoked(person: Person, what, note: str, link: str) -> None:
    notify(person=person, kind=Notification.Kind.APPLICATION, title=gettext_lazy("Revoked: %(what)s"),
           body=gettext_lazy("Your %(what)s was revoked. %(note)s"), params={"what": what, "note": note}, link=link)


def _notify_decided(person: Person, approve: bool, what, note: str, link: str) -> None:
    """The holder hears of the decision the portal promised them (in their language, SUP-4)."""
    if approve:
        notify(person=person, kind=Notification.Kind.APPLICATION, title=gettext_lazy("Approved: %(what)s"),
               body=gettext_lazy("Your application for %(what)s was approved. %(note)s"),
               params={"what": what, "note": note}, link=link)
    else:
        notify(person=person, kind=Notification.Kind.APPLICATION, title=gettext_lazy("Rejected: %(what)s"),
               body=gettext_lazy("Your application for %(what)s was rejected. %(note)s"),
               params={"what": what, "note": note}, link=link)


# --- the lab add-on (APP-4) and lab permits (ACC-1) -------------------------------------------------

def access_addon_grant(*, actor: Actor, person: Person, addon: str = PackageAddon.Addon.LAB) -> PackageAddon:
    """The lab add-on of the holder's card package (APP-4): kept by the cards app, named here for access."""
    return package_addon_grant(actor=actor, person=person, addon=addon)


def access_addon_revoke(*, actor: Actor, person: Person, addon: str = PackageAddon.Addon.LAB) -> None:
    package_addon_revoke(actor=actor, person=person, addon=addon)


def _check_slots(weekly: list, dated: list, valid_from: dt.date, valid_to: dt.date) -> None:
    def bad(reason: str):
        return DomainError("lab_slots_invalid", reason=reason)

    if not weekly and not dated:
        raise bad(_("give at least one time slot"))
    if valid_to < valid_from:
        raise bad(_("the last day is before the first"))
    try:
        for slot in [*weekly, *dated]:
            start, end = rules.minutes(slot["start"]), rules.minutes(slot["end"])
            if not 0 <= start < end <= 24 * 60:
                raise bad(_("%(start)s–%(end)s is not a time span within one day") % slot)
        for slot in weekly:
            if int(slot["weekday"]) not in range(7):
                raise bad(_("no such weekday: %(weekday)s") % slot)
        for slot in dated:
            if not valid_from <= dt.date.fromisoformat(slot["date"]) <= valid_to:
                raise bad(_("%(date)s is outside the permit's days") % slot)
    except (KeyError, TypeError, ValueError):
        raise bad(_("each slot needs a start, an end and a weekday or a date"))


def lab_permit_apply(*, actor: Actor, person: Person, zone: Zone, valid_from: dt.date, valid_to: dt.date,
                     weekly_slots: list | None = None, dated_slots: list | None = None,
                     purpose: str = "") -> LabPermit:
    if zone.level != Zone.Level.LABORATORY or zone.institution_id != person.institution_id:
        raise DomainError("lab_zone_required")
    if not has_addon(person=person, addon=PackageAddon.Addon.LAB):
        raise DomainError("lab_addon_required")
    weekly, dated = list(weekly_slots or []), list(dated_slots or [])
    _check_slots(weekly, dated, valid_from, valid_to)
    with transaction.atomic():
        permit = LabPermit.objects.create(institution_id=person.institution_id, person=person, zone=zone,
                                          weekly_slots=weekly, dated_slots=dated, valid_from=valid_from,
                                          valid_to=valid_to, purpose=purpose[:200], requested_at=clock.now())
        audit_record(actor=actor, action="lab_permit_requested", obj=permit, institution_id=person.institution_id)
    return permit


def is_zone_manager(*, user) -> bool:
    return (not user.is_superuser and user.is_authenticated
            and user.groups.filter(name="zone_manager").exists())


def _authorize_zone_manager(actor: Actor, zone: Zone, permission: str) -> None:
    """``permission`` in the zone's institution and, for a zone manager, a zone they manage (or one with
    no named managers)."""
    authorize(actor.user, permission, zone.institution_id)
    if (actor.user is not None and is_zone_manager(user=actor.user) and zone.managers.exists()
            and not zone.managers.filter(pk=actor.user.pk).exists()):
        raise DomainError("forbidden")


def lab_permit_decide(*, actor: Actor, permit: LabPermit, approve: bool, note: str = "") -> LabPermit:
    """The zone's manager approves or rejects (a zone without named managers: any zone manager)."""
    _authorize_zone_manager(actor, permit.zone, "access.change_labpermit")
    state = LabPermit.State.APPROVED if approve else LabPermit.State.REJECTED
    permit = _settle(actor, permit, expected=LabPermit.State.REQUESTED, state=state,
                     refusal="application_not_pending", action=f"lab_permit_{state}", note=note, decided=True)
    _notify_decided(permit.person, approve, gettext_lazy("a lab permit"), note, "/access/permits/")
    return permit


def lab_permit_revoke(*, actor: Actor, permit: LabPermit, note: str = "") -> LabPermit:
    _authorize_zone_manager(actor, permit.zone, "access.change_labpermit")
    permit = _settle(actor, permit, expected=LabPermit.State.APPROVED, state=LabPermit.State.REVOKED,
                     refusal="lab_permit_not_approved", action="lab_permit_revoked", note=note)
    _notify_revoked(permit.person, gettext_lazy("a lab permit"), note, "/access/permits/")
    return permit


# --- visitor passes (ACC-3) ------------------------------------------------------------------------

VISITOR_ZONE_LEVELS = (Zone.Level.CAMPUS_GATE, Zone.Level.TEACHING, Zone.Level.LIBRARY, Zone.Level.DORMITORY,
                       Zone.Level.OTHER)


def _minute(moment: dt.datetime) -> int:
    return math.floor(moment.timestamp() / 60)


def visitor_window_check(*, valid_from: dt.datetime, valid_to: dt.datetime) -> tuple[int, int]:
    """The visit's start and end minute, if the window keeps the pass rules (ACC-3) now."""
    now = clock.now()
    ahead = getattr(settings, "VISITOR_PASS_MAX_AHEAD_HOURS", 6)
    longest = getattr(settings, "VISITOR_PASS_MAX_DURATION_HOURS", 24)
    if valid_from.tzinfo is None or valid_to.tzinfo is None:
        raise DomainError("visitor_window_invalid", hours=longest)
    start, end = _minute(valid_from), _minute(valid_to)
    if start < _minute(now):
        raise DomainError("visitor_in_past")
    if valid_from > now + dt.timedelta(hours=ahead):
        raise DomainError("visitor_too_far_ahead", hours=ahead)
    if end <= start or end - start > longest * 60:
        raise DomainError("visitor_window_invalid", hours=longest)
    return start, end


def visitor_host_check(*, host: Person, zones: list[Zone]) -> None:
    """Visitors only into zones open to them, and only on the invitation of a holder with an active card."""
    if not zones or len(zones) > 20 or any(z.institution_id != host.institution_id or not z.active
                                           or z.level not in VISITOR_ZONE_LEVELS for z in zones):
        raise DomainError("visitor_zones_invalid")
    if not Card.objects.filter(person=host, state=Card.State.ACTIVE).exclude(
            kind__in=[Card.Kind.ALUMNI, Card.Kind.VISITOR]).exists():
        raise DomainError("visitor_host_not_allowed")


def visitor_pass_create(*, actor: Actor, host: Person, visitor_name: str, visitor_phone: str, zones: list[Zone],
                        valid_from: dt.datetime, valid_to: dt.datetime) -> tuple[VisitorPass, str]:
    """A pass for a visitor starting at most ``VISITOR_PASS_MAX_AHEAD_HOURS`` (6) ahead; returns the pass
    and its code. The window is kept in whole minutes (start and end rounded down)."""
    now = clock.now()
    start, end = visitor_window_check(valid_from=valid_from, valid_to=valid_to)
    zones = list(zones)
    visitor_host_check(host=host, zones=zones)
    key = keys.active_key(host.institution_id)
    with transaction.atomic():
        visitor_pass = VisitorPass.objects.create(
            institution_id=host.institution_id, host=host, visitor_name=visitor_name[:100],
            visitor_phone=visitor_phone[:20], valid_from=dt.datetime.fromtimestamp(start * 60, dt.UTC),
            valid_to=dt.datetime.fromtimestamp(end * 60, dt.UTC), key_id=key.key_id, created_at=now)
        visitor_pass.zones.set(zones)
        audit_record(actor=actor, action="visitor_pass_created", obj=visitor_pass,
                     institution_id=host.institution_id, after={"zones": [z.code for z in zones]})
    return visitor_pass, visitor_code(visitor_pass=visitor_pass)


def visitor_code(*, visitor_pass: VisitorPass) -> str:
    """The pass's QR text (Ed25519 is deterministic: the same pass always gives the same code)."""
    from campuscard.access.models import AccessSigningKey

    key = AccessSigningKey.objects.get(institution_id=visitor_pass.institution_id, key_id=visitor_pass.key_id)
    claims = keys.VisitorClaims(pass_id=visitor_pass.pk, key_id=key.key_id,
                                start_minute=_minute(visitor_pass.valid_from), end_minute=_minute(visitor_pass.valid_to),
                                zone_ids=tuple(sorted(visitor_pass.zones.values_list("pk", flat=True))))
    return keys.encode_visitor_code(key, claims)


def visitor_pass_revoke(*, actor: Actor, visitor_pass: VisitorPass) -> VisitorPass:
    """Online gates refuse it at once; offline gates after their next snapshot (revocation list)."""
    with transaction.atomic():
        if not VisitorPass.objects.filter(pk=visitor_pass.pk, revoked_at=None).update(revoked_at=clock.now()):
            raise DomainError("visitor_pass_revoked")
        audit_record(actor=actor, action="visitor_pass_revoked", obj=visitor_pass,
                     institution_id=visitor_pass.institution_id)
    visitor_pass.refresh_from_db()
    return visitor_pass


def caches_forget() -> None:
    """Drop every fact the gate paths cache in this process (tests; after bulk changes)."""
    facts.forget()
    fastpath.forget()
    offline.forget()
