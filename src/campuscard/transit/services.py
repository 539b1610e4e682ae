"""Transit journeys (TRN-1, TRN-2): operators and validators, binding a card, offline tap upload with
set-based charging, disputes. Keyword-only, audited.

Tap upload (``taps_upload``) is the entry point of the bus lane: a validator's batch is checked whole
(bad input changes nothing), its duplicates are dropped exactly (``(device, counter)`` is stored once,
and uploads of one validator are serialised), each tap is priced by the fare table (``fares``), the
checks that apply to a tap come from the payment rulebook (``payments.rules.tap_refusal`` and
``tap_fares_below_zero``), and the money moves in ONE ledger statement over the batch
(``ledger.batch.debits_settle``): wallet → the operator's transit clearing account, a journal row per tap.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from campuscard.access.offline import REFUSED_STATES
from campuscard.cards import codes
from campuscard.cards.models import Card, Credential
from campuscard.cards.policy import can, state_refusal
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.models import Person, User
from campuscard.ledger import services as ledger
from campuscard.ledger.batch import Debit, debits_settle
from campuscard.ledger.models import Account, Balance, Transfer
from campuscard.payments import rules
from campuscard.transit import fares, offline
from campuscard.transit.models import Binding, Dispute, Operator, OperatorStaff, Route, Tap, Validator

FARE_KIND = "transit_fare"
_UID = re.compile(r"[0-9A-F]{8,20}")  # 4 to 10 bytes, as NFC readers give them
_LOCK_SPACE = 20  # pg_advisory_xact_lock(20, device id): one upload of a validator at a time


def batch_max() -> int:
    return int(getattr(settings, "TRANSIT_BATCH_MAX", 5000))


# --- operators, routes, validators ----------------------------------------------------------------

def operator_create(*, actor: Actor, institution: Institution, code: str, name: str, **rules_: Any) -> Operator:
    """A bus operator with its own transit clearing account (striped: every batch credits one stripe)."""
    with transaction.atomic():
        account = ledger.account_get_or_open(
            institution_id=institution.pk, kind=Account.Kind.TRANSIT_CLEARING, code=f"transit:{code}",
            name=f"{Account.Kind.TRANSIT_CLEARING.label}: {name}", owner=f"transit:{code}", floor=None, stripes=8)
        operator = Operator.objects.create(institution=institution, code=code, name=name,
                                           clearing_account_id=account.pk, **rules_)
        audit_record(actor=actor, action="transit_operator_created", obj=operator, institution_id=institution.pk,
                     after={"code": code})
    return operator


def validator_register(*, actor: Actor, route: Route, code: str, name: str = "") -> tuple[Validator, str]:
    """A bus validator: a signed device in the registry, placed on a route; its secret is returned once."""
    with transaction.atomic():
        device, secret = device_register(actor=actor, institution=route.operator.institution,
                                         kind=Device.Kind.VALIDATOR, code=code, name=name or code)
        validator = Validator.objects.create(device=device, operator=route.operator, route=route)
    return validator, secret


def validator_of(*, device: Device) -> Validator:
    validator = (Validator.objects.select_related("operator", "route", "device").filter(device=device).first()
                 if device.kind == Device.Kind.VALIDATOR else None)
    if validator is None:
        raise DomainError("transit_validator_required")
    return validator


def operator_staff_add(*, actor: Actor, operator: Operator, user: User) -> OperatorStaff:
    staff, _created = OperatorStaff.objects.update_or_create(user=user, defaults={"operator": operator})
    audit_record(actor=actor, action="transit_operator_staff_added", obj=operator,
                 institution_id=operator.institution_id, after={"user": user.username})
    return staff


# --- bindings (TRN-1) -----------------------------------------------------------------------------

def binding_create(*, actor: Actor, card: Card, accept_terms: bool) -> Binding:
    """The holder binds this card to the city buses, accepting the terms. Only a card that can pay and
    has a physical card's NFC UID (what validators read); one live binding per card."""
    if not accept_terms:
        raise DomainError("transit_terms_required")
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if state_refusal(card.state) or not can(card.kind, "pay"):
            raise DomainError("transit_card_cannot_ride")
        if not Credential.objects.filter(card=card, kind=Credential.Kind.NFC, active=True).exclude(uid="").exists():
            raise DomainError("transit_no_nfc")
        if Binding.objects.filter(card=card).exclude(state=Binding.State.ENDED).exists():
            raise DomainError("transit_already_bound")
        now = clock.now()
        binding = Binding.objects.create(institution_id=card.institution_id, card=card, person_id=card.person_id,
                                         terms_accepted_at=now, created_at=now, changed_at=now)
        audit_record(actor=actor, action="transit_bound", obj=card, institution_id=card.institution_id)
    return binding


def binding_set(*, actor: Actor, binding: Binding, state: str, reason: str = "") -> Binding:
    """Suspend, resume or end a binding; ending or suspending puts the card on the validators' deny-list."""
    if state not in Binding.State.values:
        raise DomainError("validation_error")
    with transaction.atomic():
        binding = Binding.objects.select_for_update().get(pk=binding.pk)
        if binding.state == Binding.State.ENDED:
            raise DomainError("transit_not_bound")
        if state == Binding.State.ACTIVE and state_refusal(binding.card.state):
            raise DomainError("transit_card_cannot_ride")
        before = binding.state
        binding.state, binding.changed_at, binding.end_reason = state, clock.now(), reason[:40]
        binding.save(update_fields=["state", "changed_at", "end_reason"])
        if state != Binding.State.ACTIVE:
            offline.deny_bump(binding.institution_id)
        audit_record(actor=actor, action="transit_binding_changed", obj=binding.card,
                     institution_id=binding.institution_id, before={"state": before},
                     after={"state": state, "reason": reason})
    return binding


def on_card_changed(*, card: Card) -> int:
    """A card's state or kind changed (cards saves it; transit listens, cards never imports transit):
    a lost, frozen, replaced or cancelled card (CARD-4, CARD-5) and an alumni card (CARD-9) are unbound
    at once. A re-issued card is a new card with no binding (CARD-8). Returns how many ended."""
    if not state_refusal(card.state) and can(card.kind, "pay"):
        return 0
    reason = "graduated" if card.kind == Card.Kind.ALUMNI else str(card.state)
    live = Binding.objects.filter(card_id=card.pk).exclude(state=Binding.State.ENDED)
    ended = live.update(state=Binding.State.ENDED, changed_at=clock.now(), end_reason=reason)
    if ended:
        offline.deny_bump(card.institution_id)
        audit_record(actor=Actor.system("transit"), action="transit_unbound", obj=card,
                     institution_id=card.institution_id, after={"reason": reason})
    return ended


# --- tap upload (TRN-2) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TapIn:
    counter: int
    uid: str
    tapped_at: dt.datetime
    stages: int = 1


@dataclass
class UploadResult:
    received: int = 0
    duplicates: int = 0
    charged: int = 0
    fares: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "duplicates": self.duplicates, "charged": self.charged,
                "fares": self.fares, "refused": self.refused, "flagged": self.flagged}


def _parse(index: int, raw: Any) -> TapIn:
    def bad(problem: str):
        return DomainError("transit_tap_invalid", index=index, problem=problem)

    if isinstance(raw, TapIn):
        return raw
    if not isinstance(raw, dict):
        raise bad("not an object")
    counter = raw.get("counter")
    if not isinstance(counter, int) or isinstance(counter, bool) or not 0 <= counter < 2**62:
        raise bad("counter")
    uid = codes.normalize_uid(str(raw.get("uid", "")))
    if not _UID.fullmatch(uid):
        raise bad("uid")
    at = raw.get("tapped_at")
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise bad("tapped_at")
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise bad("tapped_at")
    stages = raw.get("stages", 1)
    if not isinstance(stages, int) or isinstance(stages, bool) or not 1 <= stages <= 100:
        raise bad("stages")
    return TapIn(counter=counter, uid=uid, tapped_at=at, stages=stages)


def taps_upload(*, device: Device, taps: list, deny_version: int = 0) -> UploadResult:
    """Charge a validator's batch of offline taps; see the module's docstring. Safe to send again."""
    validator = validator_of(device=device)
    if len(taps) > batch_max():
        raise DomainError("transit_batch_too_large", max=batch_max())
    parsed: dict[int, TapIn] = {}
    now = clock.now()
    for index, raw in enumerate(taps):
        tap = _parse(index, raw)
        if tap.tapped_at > now + dt.timedelta(minutes=10):
            raise DomainError("transit_tap_invalid", index=index, problem="tapped_at in the future")
        parsed.setdefault(tap.counter, tap)  # the same counter twice in one batch: the first one
    result = _upload(validator, list(parsed.values()), deny_version)
    result.received, result.duplicates = len(taps), len(taps) - len(parsed) + result.duplicates
    return result


@money_transaction
def _upload(validator: Validator, taps: list[TapIn], deny_version: int) -> UploadResult:
    device, operator, route = validator.device, validator.operator, validator.route
    result = UploadResult()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, device.pk])
    seen = set(Tap.objects.filter(device=device, counter__in=[t.counter for t in taps])
               .values_list("counter", flat=True))
    taps = sorted((t for t in taps if t.counter not in seen), key=lambda t: (t.tapped_at, t.counter))
    result.duplicates = len(seen)
    if not taps:
        return result
    uids = {t.uid for t in taps}
    cards: dict[str, dict] = {}
    for found in (Credential.objects.filter(kind=Credential.Kind.NFC, uid__in=uids)
                .order_by("active", "created_at")  # the active credential of a UID wins
                .values("uid", "card_id", "card__kind", "card__state", "card__institution_id", "card__person_id",
                        "card__wallet_account_id", "card__number")):
        cards[found["uid"]] = found
    card_ids = {c["card_id"] for c in cards.values()}
    bound = set(Binding.objects.filter(card_id__in=card_ids, state=Binding.State.ACTIVE)
                .values_list("card_id", flat=True))
    wallets_open = set(Account.objects.filter(pk__in={c["card__wallet_account_id"] for c in cards.values()},
                                              status=Account.Status.OPEN).values_list("pk", flat=True))
    rules_ = fares.FareRules(operator.student_discount_percent, operator.staff_discount_percent,
                             operator.transfer_minutes, operator.transfer_discount)
    route_fare = fares.RouteFare(route.fare, route.stage_fare, route.max_stages)
    previous = _previous_rides(operator, card_ids, min(t.tapped_at for t in taps)) if operator.transfer_minutes else {}
    posted_at = clock.now()
    rows: list[Tap] = []
    debits: list[Debit] = []
    by_key: dict[str, Tap] = {}
    for t in taps:
        c = cards.get(t.uid)
        row = Tap(institution_id=device.institution_id, operator=operator, route=route, device=device,
                  counter=t.counter, nfc_uid=t.uid, tapped_at=t.tapped_at, posted_at=posted_at, stages=t.stages,
                  deny_version=deny_version, state=Tap.State.REFUSED)
        rows.append(row)
        decision = rules.tap_refusal(rules.TapFacts(
            amount=1, credential_known=c is not None,
            same_institution=c is not None and c["card__institution_id"] == device.institution_id,
            card_kind=c["card__kind"] if c else "", wallet_open=c is not None and c["card__wallet_account_id"]
            in wallets_open))
        if c is not None:
            row.card_id, row.person_id = c["card_id"], c["card__person_id"]
        if not decision.ok:
            row.refusal = decision.code or ""
            result.refused.append({"counter": t.counter, "code": row.refusal})
            continue
        assert c is not None
        if c["card__state"] in REFUSED_STATES or c["card_id"] not in bound:
            row.flagged = "deny_list_late"  # the validator did not have it yet: charged and flagged (TRN-2)
            result.flagged.append({"counter": t.counter, "card": c["card__number"]})
        klass = fares.fare_class(c["card__kind"])
        last = previous.get(c["card_id"])
        transfer = fares.is_transfer(rules_, previous_at=last[0] if last else None,
                                     previous_route=last[1] if last else None,
                                     previous_transfer=last[2] if last else False, at=t.tapped_at, route=route.pk)
        row.fare_class, row.is_transfer = klass, transfer
        row.fare = fares.fare(rules_, route_fare, klass, t.stages, transfer=transfer)
        if operator.transfer_minutes:
            previous[c["card_id"]] = (t.tapped_at, route.pk, transfer)
        if row.fare == 0:  # a free transfer: a ride, no money
            row.state = Tap.State.CHARGED
            continue
        key = f"tap:{device.pk}:{t.counter}"
        by_key[key] = row
        row.transfer_id = None
        debits.append(Debit(key=key, debit_id=c["card__wallet_account_id"], amount=row.fare, reference=route.code,
                            metadata={"validator": device.code, "counter": t.counter, "card": c["card__number"],
                                      "tapped_at": t.tapped_at.isoformat(), "fare_class": klass}))
    settled = debits_settle(institution_id=device.institution_id,
                            credit=ledger.AccountRef(operator.clearing_account_id, device.institution_id, 8),
                            kind=FARE_KIND, debits=debits, below_floor_fares=rules.tap_fares_below_zero())
    if settled.replayed:  # journal rows without their tap (cannot happen under the validator's lock): link them
        settled.posted.update(Transfer.objects.filter(institution_id=device.institution_id, key__in=settled.replayed)
                              .values_list("key", "pk"))
    last_of_wallet: dict[int, Tap] = {}
    for d in debits:
        row = by_key[d.key]
        if d.key in settled.posted:
            row.state, row.transfer_id = Tap.State.CHARGED, settled.posted[d.key]
            last_of_wallet[d.debit_id] = row
        else:
            row.refusal = "tap_allowance_used"
            result.refused.append({"counter": row.counter, "code": row.refusal})
    negative = False
    for wallet, row in last_of_wallet.items():
        if settled.available.get(wallet, 0) < 0:
            row.below_zero = negative = True
    Tap.objects.bulk_create(rows)
    if negative:
        offline.deny_bump(device.institution_id)  # on the deny-list until recharged (TRN-2)
    charged = [r for r in rows if r.state == Tap.State.CHARGED]
    result.charged, result.fares = len(charged), sum(r.fare for r in charged)
    return result


def _previous_rides(operator: Operator, card_ids: set[int], since: dt.datetime) -> dict[int, tuple]:
    """Each card's latest charged ride with this operator before the batch's window (for transfers)."""
    window = since - dt.timedelta(minutes=operator.transfer_minutes)
    latest: dict[int, tuple] = {}
    for card_id, at, route_id, transfer in (Tap.objects.filter(operator=operator, card_id__in=card_ids,
                                                               state=Tap.State.CHARGED, tapped_at__gte=window,
                                                               tapped_at__lte=since)
                                            .order_by("tapped_at").values_list("card_id", "tapped_at", "route_id",
                                                                               "is_transfer")):
        latest[card_id] = (at, route_id, transfer)
    return latest


# --- disputes (PAY-4 for bus taps) ------------------------------------------------------------------

def dispute_open(*, actor: Actor, person: Person, tap: Tap, reason: str) -> Dispute:
    """The holder says a ride was not theirs: within the appeal window from when it was POSTED."""
    reason = (reason or "").strip()[:300]
    if not reason:
        raise DomainError("decision_reason_required")
    if tap.person_id != person.pk:
        raise DomainError("transit_tap_not_found")
    if tap.state != Tap.State.CHARGED or not tap.transfer_id:
        raise DomainError("transit_dispute_not_charged")
    hours = settings.APPEAL_WINDOW_HOURS
    if clock.now() - tap.posted_at > dt.timedelta(hours=hours):
        raise DomainError("transit_dispute_window_closed", hours=hours)
    with transaction.atomic():
        if Dispute.objects.filter(tap=tap).exists():
            raise DomainError("transit_dispute_exists")
        dispute = Dispute.objects.create(tap=tap, reason=reason, created_at=clock.now())
        audit_record(actor=actor, action="transit_dispute_opened", obj=tap, institution_id=tap.institution_id)
    return dispute


def dispute_evidence(*, actor: Actor, user: User, dispute: Dispute, evidence: str) -> Dispute:
    """The operator's evidence (its own staff only)."""
    staff = OperatorStaff.objects.filter(user=user).first()
    if staff is None or staff.operator_id != dispute.tap.operator_id:
        raise DomainError("forbidden")
    if dispute.state != Dispute.State.OPEN:
        raise DomainError("transit_dispute_not_open")
    Dispute.objects.filter(pk=dispute.pk).update(evidence=evidence.strip()[:5000])
    dispute.refresh_from_db()
    audit_record(actor=actor, action="transit_dispute_evidence", obj=dispute.tap, institution_id=dispute.tap.institution_id)
    return dispute


@money_transaction
def dispute_decide(*, actor: Actor, user: User, dispute: Dispute, accept: bool, reason: str = "") -> Dispute:
    """The Card Center decides (not the operator); an accepted dispute refunds the fare by a reversing
    transfer (clearing → wallet), which also ends a below-zero allowance if it was this fare."""
    dispute = Dispute.objects.select_for_update().select_related("tap").get(pk=dispute.pk)
    authorize(user, "transit.change_dispute", dispute.tap.institution_id)
    if OperatorStaff.objects.filter(user=user).exists():
        raise DomainError("forbidden")
    if dispute.state != Dispute.State.OPEN:
        raise DomainError("transit_dispute_not_open")
    if not accept and not reason.strip():
        raise DomainError("decision_reason_required")
    if accept:
        assert dispute.tap.transfer_id is not None  # only charged taps are disputed (dispute_open)
        refund = ledger.transfer_reverse(key=f"transit-dispute:{dispute.pk}", original_id=dispute.tap.transfer_id,
                                         reference=f"dispute:{dispute.pk}")
        dispute.refund_transfer_id = refund.id
    dispute.state = Dispute.State.ACCEPTED if accept else Dispute.State.REJECTED
    dispute.decision, dispute.decided_by, dispute.decided_at = reason.strip()[:300], user, clock.now()
    dispute.save()
    audit_record(actor=actor, action="transit_dispute_decided", obj=dispute.tap,
                 institution_id=dispute.tap.institution_id, after={"accepted": accept})
    return dispute


def wallet_below_zero(*, card: Card) -> bool:
    balance = Balance.objects.filter(account_id=card.wallet_account_id, stripe=0).first()
    return balance is not None and balance.credits_posted - balance.debits_posted - balance.debits_pending < 0
