"""Transit journeys (TRN-1, TRN-2): operators and validators, binding a card, offline tap upload with
set-based charging, disputes. Keyword-only, audited.

A binding names what validators accept for the card: its physical card's NFC UID and/or its phone's HCE
credential (a phone tap carries the credential's token and the one-time digits it showed, checked on
upload against the tap's time). A decided dispute and a tap that put the card on the deny-list tell the
holder (``support.notify``).

Tap upload (``taps_upload``) is the entry point of the bus lane: a validator's batch is checked whole
(bad input changes nothing), its duplicates are dropped exactly (``(device, counter)`` is stored once,
and uploads of one validator are serialised), each tap is priced by the fare table (``fares``), the
checks that apply to a tap come from the payment rulebook (``payments.rules.tap_refusal`` and
``tap_fares_below_zero``), and the money moves as sets over the batch (``ledger.batch.debits_settle``):
wallet → the operator's transit clearing account, a journal row per tap; the tap rows are written with the
journal rows, before the wallets are locked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from campuscard.access.offline import REFUSED_STATES
from campuscard.cards import codes
from campuscard.cards.models import Card, Credential
from campuscard.cards.policy import can, state_refusal
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import Prepared, money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.money import format_fen
from campuscard.core.permissions import authorize
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.models import Person, User
from campuscard.ledger import services as ledger
from campuscard.ledger.batch import BatchResult, Debit, debits_settle
from campuscard.ledger.models import Account, Balance, Transfer
from campuscard.payments import rules
from campuscard.support.models import Notification
from campuscard.support.services import Recipient, notify, notify_many
from campuscard.transit import fares, offline
from campuscard.transit.models import Binding, Dispute, Operator, OperatorStaff, Route, Tap, Validator

FARE_KIND = "transit_fare"
_UID = re.compile(r"[0-9A-F]{8,20}")  # 4 to 10 bytes, as NFC readers give them
_TOKEN = re.compile(r"[A-Z2-7]{10}")  # a phone credential's public id (cards.codes.new_token)
_DIGITS = re.compile(r"\d{8}")  # its one-time code's digits (cards.codes.DIGITS)
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

def binding_create(*, actor: Actor, card: Card, accept_terms: bool, with_card: bool = True,
                   with_phone: bool = False) -> Binding:
    """The holder binds this card to the city buses, accepting the terms: its physical card (the NFC UID
    validators read) and/or its phone's HCE credential (#20 item 1). Only a card that can pay; one live
    binding per card."""
    if not accept_terms:
        raise DomainError("transit_terms_required")
    if not with_card and not with_phone:
        raise DomainError("transit_medium_required")
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if state_refusal(card.state) or not can(card.kind, "pay"):
            raise DomainError("transit_card_cannot_ride")
        if with_card and not Credential.objects.filter(card=card, kind=Credential.Kind.NFC,
                                                       active=True).exclude(uid="").exists():
            raise DomainError("transit_no_nfc")
        phone = _phone_of(card) if with_phone else None
        if Binding.objects.filter(card=card).exclude(state=Binding.State.ENDED).exists():
            raise DomainError("transit_already_bound")
        now = clock.now()
        binding = Binding.objects.create(institution_id=card.institution_id, card=card, person_id=card.person_id,
                                         terms_accepted_at=now, created_at=now, changed_at=now, with_card=with_card,
                                         phone=phone, phone_bound=phone is not None)
        audit_record(actor=actor, action="transit_bound", obj=card, institution_id=card.institution_id,
                     after={"card": with_card, "phone": phone.token if phone else None})
    return binding


def _phone_of(card: Card) -> Credential:
    phone = Credential.objects.filter(card=card, kind=Credential.Kind.HCE, active=True).order_by("-created_at").first()
    if phone is None:
        raise DomainError("transit_no_phone")
    return phone


def binding_phone_set(*, actor: Actor, binding: Binding, bound: bool) -> Binding:
    """Bind the card's current phone credential to a live binding, or unbind the phone (#20 item 1). An
    unbound phone goes on the validators' deny-list; a binding left with neither card nor phone ends."""
    with transaction.atomic():
        binding = Binding.objects.select_for_update().select_related("card").get(pk=binding.pk)
        if binding.state == Binding.State.ENDED:
            raise DomainError("transit_not_bound")
        if bound:
            if state_refusal(binding.card.state):
                raise DomainError("transit_card_cannot_ride")
            binding.phone, binding.phone_bound = _phone_of(binding.card), True
        else:
            if not binding.phone_bound:
                return binding
            binding.phone_bound = False
            if not binding.with_card:
                binding.state, binding.end_reason = Binding.State.ENDED, "phone_unbound"
        binding.changed_at = clock.now()
        binding.save(update_fields=["phone", "phone_bound", "state", "end_reason", "changed_at"])
        if not bound:
            offline.deny_bump(binding.institution_id)
        audit_record(actor=actor, action="transit_phone_bound" if bound else "transit_phone_unbound",
                     obj=binding.card, institution_id=binding.institution_id,
                     after={"phone": binding.phone.token if binding.phone else None, "state": binding.state})
    return binding


def on_phone_replaced(*, credential: Credential) -> int:
    """A new HCE credential was provisioned for a card (cards saves it; transit listens): the previous
    phone's binding ends — the new phone is bound anew, as a re-issued card is (#20 item 1, CARD-8). A
    binding left with neither card nor phone ends. Returns how many bindings changed."""
    if credential.kind != Credential.Kind.HCE:
        return 0
    changed = 0
    now = clock.now()
    with transaction.atomic():
        for binding in (Binding.objects.select_for_update().filter(card_id=credential.card_id, phone_bound=True)
                        .exclude(state=Binding.State.ENDED).exclude(phone_id=credential.pk)):
            binding.phone_bound, binding.changed_at = False, now
            if not binding.with_card:
                binding.state, binding.end_reason = Binding.State.ENDED, "phone_replaced"
            binding.save(update_fields=["phone_bound", "state", "end_reason", "changed_at"])
            changed += 1
        if changed:
            offline.deny_bump(credential.card.institution_id)
            audit_record(actor=Actor.system("transit"), action="transit_phone_unbound", obj=credential.card,
                         institution_id=credential.card.institution_id, after={"reason": "phone_replaced"})
    return changed


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

@dataclass(frozen=True, slots=True)
class TapIn:
    counter: int
    uid: str  # the card's NFC UID ("" when a phone was tapped)
    tapped_at: dt.datetime
    stages: int = 1
    hce: str = ""  # the phone's HCE token (#20 item 1) …
    code: str = ""  # … and the one-time digits it showed, checked here against the tap's time


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
    if type(counter) is not int or not 0 <= counter < 2**62:  # not a bool either
        raise bad("counter")
    hce = raw.get("hce") or ""
    code = ""
    if hce:
        if raw.get("uid") or not isinstance(hce, str) or not _TOKEN.fullmatch(hce):
            raise bad("hce")
        digits = raw.get("code")
        if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
            raise bad("code")
        uid, code = "", digits
    else:
        uid = codes.normalize_uid(str(raw.get("uid") or ""))
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
    at = at.astimezone(dt.UTC)  # one time zone: the batch's sort compares 10 × its size pairs of moments
    stages = raw.get("stages", 1)
    if type(stages) is not int or not 1 <= stages <= 100:
        raise bad("stages")
    return TapIn(counter, uid, at, stages, hce, code)


def taps_upload(*, device: Device, taps: list, deny_version: int = 0) -> UploadResult:
    """Charge a validator's batch of offline taps; see the module's docstring. Safe to send again."""
    validator = validator_of(device=device)
    if len(taps) > batch_max():
        raise DomainError("transit_batch_too_large", max=batch_max())
    parsed: dict[int, TapIn] = {}
    latest = clock.now() + dt.timedelta(minutes=10)
    for index, raw in enumerate(taps):
        tap = _parse(index, raw)
        if tap.tapped_at > latest:
            raise DomainError("transit_tap_invalid", index=index, problem="tapped_at in the future")
        parsed.setdefault(tap.counter, tap)  # the same counter twice in one batch: the first one
    result = _upload(validator, list(parsed.values()), deny_version)
    result.received, result.duplicates = len(taps), len(taps) - len(parsed) + result.duplicates
    return result


# plain strings, not the choices' enum members: they go into arrays for one INSERT
_CHARGED, _REFUSED = Tap.State.CHARGED.value, Tap.State.REFUSED.value
_CARD, _PHONE = Tap.Medium.CARD.value, Tap.Medium.PHONE.value
# the columns of a tap decided per tap; the rest are the batch's (institution, operator, route, device, …)
_TAP_COLUMNS = ("counter", "medium", "nfc_uid", "phone_code", "card_id", "person_id", "tapped_at", "stages", "fare_class", "fare",
                "is_transfer", "state", "refusal", "flagged", "below_zero", "transfer_id")
_CARD_FIELDS = ("id", "active", "card_id", "card__kind", "card__state", "card__institution_id", "card__person_id",
                "card__wallet_account_id", "card__number")


class _Row:
    """One tap being decided: plain slots, written by one INSERT over arrays (a Django model instance and
    ``bulk_create`` per tap cost more than deciding the tap, docs/benchmarks.md)."""

    __slots__ = (*_TAP_COLUMNS, "key", "wallet")
    card_id: int | None
    person_id: int | None
    transfer_id: int | None
    wallet: int
    fare: int
    fare_class: str
    is_transfer: bool
    below_zero: bool
    state: str
    refusal: str
    flagged: str
    key: str

    def __init__(self, tap: TapIn, medium: str, presented: str):
        self.counter, self.medium, self.nfc_uid, self.phone_code, self.tapped_at, self.stages = (
            tap.counter, medium, presented, tap.code, tap.tapped_at, tap.stages)
        self.card_id = self.person_id = self.transfer_id = None
        self.wallet = 0
        self.fare_class, self.fare, self.is_transfer, self.below_zero = fares.FULL, 0, False, False
        self.state, self.refusal, self.flagged, self.key = _REFUSED, "", "", ""


def _credentials(taps: list[TapIn]) -> dict[tuple[str, str], dict[str, Any]]:
    """What each presented card UID / phone token names: (kind, UID or token) → the credential, its card's
    facts, whether the wallet is open and whether an active binding lets it ride (``_FACTS``). A UID's active
    credential wins (the partial unique index on active NFC UIDs finds it); a UID with none is looked up among
    the retired ones (a card's replaced UID), the latest winning. ONE statement on PostgreSQL."""
    uids = sorted({t.uid for t in taps if not t.hce})
    tokens = sorted({t.hce for t in taps if t.hce})
    if connection.vendor == "postgresql":
        (rows,) = _CREDENTIALS.first_row(connection, {"uids": uids, "tokens": tokens})
        return {(row[0], row[1]): dict(zip(_FACTS, row[2:], strict=True)) for row in json.loads(rows or "[]")}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in (Credential.objects.filter(kind=Credential.Kind.NFC, uid__in=uids)
                .order_by("active", "created_at", "id").values("uid", "secret", *_CARD_FIELDS)):
        found[(_CARD, row.pop("uid"))] = row  # the active one last, else the latest retired one
    for row in Credential.objects.filter(kind=Credential.Kind.HCE, token__in=tokens).values("token", "secret",
                                                                                          *_CARD_FIELDS):
        found[(_PHONE, row.pop("token"))] = row
    cards = {c["card_id"] for c in found.values()}
    wallets_open = set(Account.objects.filter(pk__in={c["card__wallet_account_id"] for c in found.values()},
                                              status=Account.Status.OPEN).values_list("pk", flat=True))
    bindings = {card_id: (with_card, phone_bound and phone_id) for card_id, with_card, phone_id, phone_bound in
                Binding.objects.filter(card_id__in=cards, state=Binding.State.ACTIVE).values_list(
                    "card_id", "with_card", "phone_id", "phone_bound")}
    for c in found.values():
        with_card, phone_id = bindings.get(c["card_id"], (False, None))
        c.update(wallet_open=c["card__wallet_account_id"] in wallets_open, riding_card=with_card,
                 riding_phone=phone_id == c["id"])
    return {key: {name: c[name] for name in _FACTS} for key, c in found.items()}


_FACTS = ("id", "active", "card_id", "secret", "card__kind", "card__state", "card__institution_id", "card__person_id",
          "card__wallet_account_id", "card__number", "wallet_open", "riding_card", "riding_phone")
_CREDENTIALS = Prepared("transit_credentials", """
WITH nfc AS (
    SELECT c.uid AS presented, c.id, c.active, c.card_id, c.secret FROM cards_credential c
     WHERE c.kind = 'nfc' AND c.active AND c.uid = ANY(%(uids)s)
), retired AS (
    SELECT DISTINCT ON (c.uid) c.uid AS presented, c.id, c.active, c.card_id, c.secret FROM cards_credential c
     WHERE c.kind = 'nfc' AND NOT c.active AND c.uid = ANY(%(uids)s)
       AND NOT EXISTS (SELECT 1 FROM nfc WHERE nfc.presented = c.uid)
     ORDER BY c.uid, c.created_at DESC, c.id DESC
), found AS (
    SELECT 'nfc' AS medium, * FROM nfc UNION ALL SELECT 'nfc', * FROM retired
    UNION ALL SELECT 'hce', c.token, c.id, c.active, c.card_id, c.secret FROM cards_credential c
     WHERE c.kind = 'hce' AND c.token = ANY(%(tokens)s)
)
SELECT coalesce(json_agg(json_build_array(
           f.medium, f.presented, f.id, f.active, f.card_id, f.secret, k.kind, k.state, k.institution_id, k.person_id,
           k.wallet_account_id, k.number, coalesce(a.status = 'open', false), coalesce(b.with_card, false),
           coalesce(b.phone_bound AND b.phone_id = f.id, false))), '[]')::text
  FROM found f JOIN cards_card k ON k.id = f.card_id
  LEFT JOIN ledger_account a ON a.id = k.wallet_account_id
  LEFT JOIN transit_binding b ON b.card_id = k.id AND b.state = 'active'
""", {"uids": "text[]", "tokens": "text[]"})


def _phone_code_ok(secret: str, digits: str, at: dt.datetime) -> bool:
    """The phone's one-time code was its code at the tap's time (the validator's clock; a phone one step
    ahead also passes). The validator could not check it offline: it holds no secret."""
    if codes.current_step(secret, digits, at) is not None:
        return True
    return codes.current_step(secret, digits, at + dt.timedelta(seconds=settings.QR_STEP_SECONDS)) is not None


@money_transaction
def _upload(validator: Validator, taps: list[TapIn], deny_version: int) -> UploadResult:
    device, operator, route = validator.device, validator.operator, validator.route
    result = UploadResult()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, device.pk])
    seen = _seen(device.pk, [t.counter for t in taps])
    taps = sorted((t for t in taps if t.counter not in seen), key=lambda t: (t.tapped_at, t.counter))
    result.duplicates = len(seen)
    if not taps:
        return result
    found = _credentials(taps)
    card_ids = {c["card_id"] for c in found.values()}
    rules_ = fares.FareRules(operator.student_discount_percent, operator.staff_discount_percent,
                             operator.transfer_minutes, operator.transfer_discount)
    route_fare = fares.RouteFare(route.fare, route.stage_fare, route.max_stages)
    transfers = bool(operator.transfer_minutes)
    previous = _previous_rides(operator, card_ids, taps[0].tapped_at) if transfers else {}
    phone_codes_used = _phone_codes_used(taps, found)
    institution_id, posted_at = device.institution_id, clock.now()
    refusals: dict[tuple, str] = {}  # the rulebook's answer per set of facts (a handful per batch)
    fare_of: dict[tuple[str, int, bool], int] = {}
    rows: list[_Row] = []
    debits: list[Debit] = []
    pending: list[_Row] = []
    prefix = f"tap:{device.pk}:"
    for t in taps:
        if t.hce:
            row, c = _Row(t, _PHONE, t.hce), found.get((_PHONE, t.hce))
        else:
            row, c = _Row(t, _CARD, t.uid), found.get((_CARD, t.uid))
        rows.append(row)
        card_id = c["card_id"] if c is not None else None
        facts = (False, False, "", False) if c is None else (
            True, c["card__institution_id"] == institution_id, c["card__kind"], c["wallet_open"])
        refusal = refusals.get(facts)
        if refusal is None:
            refusal = refusals[facts] = rules.tap_refusal(rules.TapFacts(1, *facts)).code or ""  # fields in order
        if c is not None:
            row.card_id, row.person_id = card_id, c["card__person_id"]
        if c is None or refusal:
            row.refusal = refusal
            result.refused.append({"counter": t.counter, "code": refusal})
            continue
        card: int = c["card_id"]
        if t.hce and not _phone_code_ok(c["secret"], t.code, t.tapped_at):
            row.refusal = "transit_phone_code_invalid"  # not the phone: a token alone is not a payment
            result.refused.append({"counter": t.counter, "code": row.refusal})
            continue
        if t.hce and (t.hce, t.code) in phone_codes_used:
            row.refusal = "transit_phone_code_reused"  # one code, two rides: a relayed or replayed code
            result.refused.append({"counter": t.counter, "code": row.refusal})
            continue
        if t.hce:
            phone_codes_used.add((t.hce, t.code))
        riding = (c["active"] and c["riding_phone"]) if t.hce else c["riding_card"]
        if not riding or c["card__state"] in REFUSED_STATES:
            row.flagged = "deny_list_late"  # the validator did not have it yet: charged and flagged (TRN-2)
            result.flagged.append({"counter": t.counter, "card": c["card__number"]})
        klass = fares.fare_class(c["card__kind"])
        transfer = False
        if transfers:
            last = previous.get(card)
            transfer = fares.is_transfer(rules_, previous_at=last[0] if last else None,
                                         previous_route=last[1] if last else None,
                                         previous_transfer=last[2] if last else False, at=t.tapped_at,
                                         route=route.pk)
            previous[card] = (t.tapped_at, route.pk, transfer)
        fare = fare_of.get((klass, t.stages, transfer))
        if fare is None:
            fare = fare_of[(klass, t.stages, transfer)] = fares.fare(rules_, route_fare, klass, t.stages,
                                                                      transfer=transfer)
        row.fare_class, row.is_transfer, row.fare = klass, transfer, fare
        if fare == 0:  # a free transfer: a ride, no money
            row.state = _CHARGED
            continue
        row.key, row.wallet = prefix + str(t.counter), c["card__wallet_account_id"]
        pending.append(row)
        metadata = {"validator": device.code, "counter": t.counter, "card": c["card__number"],
                    "tapped_at": t.tapped_at.isoformat(), "fare_class": klass}
        if t.hce:
            metadata["phone"] = t.hce
        debits.append(Debit(key=row.key, debit_id=row.wallet, amount=fare, reference=route.code, metadata=metadata))

    def write_taps(journal: BatchResult) -> None:
        """Every tap of the batch, charged or not (never lost), written before the wallets are locked."""
        posted = journal.posted
        if journal.replayed:  # journal rows without their tap (cannot happen under the validator's lock): link them
            posted = {**posted, **dict(Transfer.objects.filter(institution_id=institution_id, key__in=journal.replayed)
                                       .values_list("key", "pk"))}
        for row in pending:
            row.transfer_id = posted.get(row.key)
            row.state, row.refusal = (_CHARGED, "") if row.transfer_id is not None else (_REFUSED, "tap_allowance_used")
        _taps_insert(rows, institution_id=institution_id, operator_id=operator.pk, route_id=route.pk,
                     device_id=device.pk, posted_at=posted_at, deny_version=deny_version)

    settled = debits_settle(institution_id=institution_id,
                            credit=ledger.AccountRef(operator.clearing_account_id, institution_id, 8),
                            kind=FARE_KIND, debits=debits, below_floor_fares=rules.tap_fares_below_zero(),
                            with_journal=write_taps)
    last_of_wallet: dict[int, _Row] = {}
    for row in pending:
        if row.state == _CHARGED:
            last_of_wallet[row.wallet] = row
        else:
            result.refused.append({"counter": row.counter, "code": row.refusal})
    negative = [row for wallet, row in last_of_wallet.items() if settled.available.get(wallet, 0) < 0]
    if negative:  # the last tap of each wallet it took below zero (a handful, when at all)
        for row in negative:
            row.below_zero = True
        Tap.objects.filter(device_id=device.pk, counter__in=[r.counter for r in negative]).update(below_zero=True)
        offline.deny_bump(institution_id)  # on the deny-list until recharged (TRN-2)
        _notify_below_zero(route, negative, settled.available)
    result.charged = sum(1 for r in rows if r.state == _CHARGED)
    result.fares = sum(r.fare for r in rows if r.state == _CHARGED)
    return result


# Transit's own table, by statements PREPAREd once per connection and run with the arrays as text parameters
# (core.db.Prepared): Django's client-side quoting of thousands of values cost more than the statements.
# One probe of the (validator, counter) index per uploaded counter. Written as `counter = ANY(...)`, the plan
# made while the tap log was empty read the validator's whole day and compared each tap with the whole
# batch (docs/benchmarks.md: 6 µs a tap by the evening).
_SEEN = Prepared("transit_seen", """
SELECT coalesce(json_agg(c.counter), '[]')::text FROM unnest(%(counters)s) AS c(counter), LATERAL (
    SELECT 1 FROM transit_tap t WHERE t.device_id = %(device_id)s AND t.counter = c.counter LIMIT 1) x
""", {"device_id": "bigint", "counters": "bigint[]"})
_TAP_TYPES = {"counter": "bigint[]", "medium": "text[]", "nfc_uid": "text[]", "phone_code": "text[]",
              "card_id": "bigint[]",
              "person_id": "bigint[]", "tapped_at": "timestamptz[]", "stages": "smallint[]", "fare_class": "text[]",
              "fare": "bigint[]", "is_transfer": "boolean[]", "state": "text[]", "refusal": "text[]",
              "flagged": "text[]", "below_zero": "boolean[]", "transfer_id": "bigint[]"}
_TAPS_INSERT = Prepared("transit_taps_insert", f"""
WITH ins AS (
    INSERT INTO transit_tap (institution_id, operator_id, route_id, device_id, posted_at, deny_version,
                             {", ".join(_TAP_COLUMNS)})
    SELECT %(institution_id)s, %(operator_id)s, %(route_id)s, %(device_id)s, %(posted_at)s, %(deny_version)s, t.*
      FROM unnest({", ".join(f"%({c})s" for c in _TAP_COLUMNS)}) AS t
    RETURNING 1
)
SELECT count(*) FROM ins""", {"institution_id": "bigint", "operator_id": "bigint", "route_id": "bigint",
                              "device_id": "bigint", "posted_at": "timestamptz", "deny_version": "bigint",
                              **_TAP_TYPES})


def _seen(device_id: int, counters: list[int]) -> set[int]:
    """The counters of this validator already stored (duplicates, dropped exactly)."""
    if connection.vendor != "postgresql":
        return set(Tap.objects.filter(device_id=device_id, counter__in=counters).values_list("counter", flat=True))
    (found,) = _SEEN.first_row(connection, {"device_id": device_id, "counters": counters})
    return set(json.loads(found or "[]"))


def _taps_insert(rows: list[_Row], **batch: Any) -> None:
    """Every tap of the batch, charged or not (never lost): ONE statement over arrays on PostgreSQL."""
    if connection.vendor != "postgresql":
        Tap.objects.bulk_create([Tap(**batch, **{c: getattr(r, c) for c in _TAP_COLUMNS}) for r in rows])
        return
    params = {column: [getattr(r, column) for r in rows] for column in _TAP_COLUMNS}
    _TAPS_INSERT.first_row(connection, {**params, **batch})


def _notify_below_zero(route: Route, rows: list[_Row], available: dict[int, int]) -> None:
    """A tap took the wallet below zero and put the card on the deny-list: tell the holder to recharge
    (SUP-4, #20 item 3), once per tap (its key), in their language."""
    people = {pk: (email, language) for pk, email, language in Person.objects.filter(
        pk__in={r.person_id for r in rows}).values_list("pk", "email", "user__language")}
    recipients = []
    for r in rows:
        if r.person_id is None:  # a charged tap always has its card's holder
            continue
        email, language = people.get(r.person_id, ("", ""))
        recipients.append(Recipient(person_id=r.person_id, language=language or "", email=email or "",
                                    params={"fare": format_fen(r.fare), "route": route.code,
                                            "balance": format_fen(available[r.wallet])},
                                    dedupe_key=f"transit_below_zero:{r.key}"))
    notify_many(kind=Notification.Kind.LOW_BALANCE, title=_("Recharge before your next bus ride"),
                body=_("A bus fare of %(fare)s on route %(route)s took your wallet to %(balance)s. Bus validators "
                       "refuse your card until you recharge: recharge in the portal or at a kiosk."),
                link="/wallet/recharge/", recipients=recipients)


def _phone_codes_used(taps: list[TapIn], found: dict) -> set[tuple[str, str]]:
    """(token, digits) of the phone codes this batch shows that already paid a ride, at any validator: a phone
    code pays once. Validators are offline and cannot know; two rides on one code within its minute are
    a relay or a copy. Nothing is read for a batch without phone taps."""
    phone = [t for t in taps if t.hce and (_PHONE, t.hce) in found]
    if not phone:
        return set()
    window = dt.timedelta(seconds=3 * settings.QR_STEP_SECONDS)
    return set(Tap.objects.filter(card_id__in={found[(_PHONE, t.hce)]["card_id"] for t in phone}, medium=_PHONE,
                                  state=_CHARGED, tapped_at__gte=min(t.tapped_at for t in phone) - window,
                                  tapped_at__lte=max(t.tapped_at for t in phone) + window)
               .exclude(phone_code="").values_list("nfc_uid", "phone_code"))


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
    _notify_decided(dispute)
    return dispute


def _notify_decided(dispute: Dispute) -> None:
    """The holder hears the decision (SUP-4 "appeal decided", #20 item 3): stored as its source text and
    parameters, so the portal shows it in the reader's language; sent after the commit."""
    tap = Tap.objects.select_related("route", "institution").get(pk=dispute.tap_id)
    if tap.person_id is None:
        return
    person = Person.objects.select_related("user").get(pk=tap.person_id)
    at = tap.tapped_at.astimezone(clock.zone(tap.institution.time_zone)).strftime("%Y-%m-%d %H:%M")
    notify(person=person, kind=Notification.Kind.APPEAL, title=_("Your bus ride dispute was decided"),
           body=_("Dispute about the ride on route %(route)s at %(at)s (%(fare)s): %(state)s. %(reason)s"),
           params={"route": tap.route.code, "at": at, "fare": format_fen(tap.fare),
                   "state": Dispute.State(dispute.state).label, "reason": dispute.decision},
           link="/transit/", dedupe_key=f"transit_dispute_decided:{dispute.pk}")


def wallet_below_zero(*, card: Card) -> bool:
    balance = Balance.objects.filter(account_id=card.wallet_account_id, stripe=0).first()
    return balance is not None and balance.credits_posted - balance.debits_posted - balance.debits_pending < 0
