"""Service charges (PAY-1 … PAY-5, LED-3, LED-4): the one entry through which a campus service charges a
holder's wallet — dorm electricity, laundry, rentals (transit keeps its own set-based fares).

* ``charge_wallet``: debit the holder's wallet, credit the service's ``Merchant``; decided by the same
  rulebook and the same fact-gathering as a POS payment (``pos.debit_authorize`` → ``rules.authorize``:
  card state, daily limit, payment password above the password-free amount, funds). The result is a
  ``Payment`` with no terminal, so the daily settlement, refunds and appeals treat it like any other.
  Its ``txn_id`` is the caller's key, unique per merchant: a retry with the same key returns the first
  charge (``replayed``); the same key with another amount or holder is refused (``payment_txn_reused``).
* ``charge_refund``: give (part of) a service charge back — not limited to the day of the charge like a
  till refund (a booking is cancelled days after it was paid). Idempotent by its key.
* ``hold_place`` / ``hold_capture`` / ``hold_release``: a deposit held on the wallet (a pending ledger
  transfer), decided by the same rules; captured in full or in part as a Payment, or released.

Every function runs its own money transaction (durable). ``then``, when given, runs inside it after the
money moved, with the result, to write the service's own rows atomically with the money; a refusal
raised there rolls everything back. A replayed call does not run ``then`` again.

Method: a charge the logged-in holder starts (portal, phone app) is ``Payment.Method.IN_APP``; one an
operator makes at a desk with the card presented is ``DESK``. Both have no terminal; ``device``, when
the charge comes through a registered device, must not be revoked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError
from django.db.models import F

from campuscard.cards.models import Card
from campuscard.cards.services import current_card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, is_fen
from campuscard.devices.models import Device
from campuscard.devices.services import device_is_revoked
from campuscard.identity.models import Person
from campuscard.ledger import services as ledger
from campuscard.ledger.selectors import account_balances
from campuscard.payments import pos
from campuscard.payments.models import DailyUsage, Hold, Merchant, Payment, Refund
from campuscard.support.alerts import low_balance_watch

METHODS = (Payment.Method.IN_APP, Payment.Method.DESK)


@dataclass(frozen=True)
class Charge:
    payment_id: int
    key: str
    amount: int
    balance_after: int
    created_at: dt.datetime
    replayed: bool = False


@dataclass(frozen=True)
class HoldResult:
    hold_id: int
    key: str
    amount: int
    state: str
    replayed: bool = False


def _check(key: str, amount: int, method: str) -> None:
    if not is_fen(amount) or amount <= 0:
        raise DomainError("payment_amount_invalid")
    if not isinstance(key, str) or not key:
        raise DomainError("idempotency_key_required")
    if not pos.TXN_ID.fullmatch(key):
        raise DomainError("txn_id_invalid")
    if method not in METHODS:
        raise ValueError(f"a service charge is {METHODS}, not {method!r}")


def _card(person: Person, card: Card | None) -> tuple[Card, Person]:
    """The card charged and its holder as stored now (the caller's Person may be stale: a password just set)."""
    if card is None:
        card = current_card(person=person)
    elif card.person_id != person.pk:
        raise DomainError("card_not_found")
    card = Card.objects.select_related("person").get(pk=card.pk)
    return card, card.person


def _device_live(device: Device | None) -> bool:
    return device is None or not device_is_revoked(device=device)


# --- charges -------------------------------------------------------------------------------------

def charge_wallet(*, actor: Actor, merchant: Merchant, person: Person, key: str, amount: int,
                  password: str | None = None, method: str = Payment.Method.IN_APP, card: Card | None = None,
                  device: Device | None = None, reference: str = "",
                  then: Callable[[Charge], Any] | None = None) -> Charge:
    """Charge ``amount`` fen once per (merchant, ``key``); the Charge, or a DomainError (nothing moved)."""
    _check(key, amount, method)
    return _once(lambda: _charge_replay(merchant, key, person, amount),
                 lambda: _charge(actor=actor, merchant=merchant, person=person, key=key, amount=amount,
                                 password=password, method=method, card=card, device=device, reference=reference,
                                 then=then))


def _once(replay: Callable[[], Any], run: Callable[[], Any]) -> Any:
    """Run a keyed money step at most once: the earlier result for a key already used; a wrong password
    counted outside the rolled-back transaction (PAY-3); a refusal or a unique-key clash answered with
    the result of a concurrent duplicate that committed first."""
    if (earlier := replay()) is not None:
        return earlier
    try:
        return run()
    except pos.WrongPassword as wrong:
        left = pos.wrong_password_count(person_id=wrong.person_id, day=wrong.day)
        raise DomainError("payment_password_incorrect", left=left) from None
    except (DomainError, IntegrityError):
        if (earlier := replay()) is None:
            raise
        return earlier


def _charge_replay(merchant: Merchant, key: str, person: Person, amount: int) -> Charge | None:
    payment = Payment.objects.filter(merchant=merchant, terminal=None, txn_id=key).first()
    if payment is None:
        return None
    if payment.amount != amount or payment.person_id != person.pk:
        raise DomainError("payment_txn_reused")
    return Charge(payment.pk, key, payment.amount, payment.balance_after, payment.created_at, replayed=True)


@money_transaction
def _charge(*, actor: Actor, merchant: Merchant, person: Person, key: str, amount: int, password: str | None,
            method: str, card: Card | None, device: Device | None, reference: str,
            then: Callable[[Charge], Any] | None) -> Charge:
    institution = merchant.institution
    card, person = _card(person, card)
    pos.debit_authorize(institution=institution, card=card, person=person, amount=amount,
                        device_live=_device_live(device), credential_active=True, offline=False, password=password)
    result = ledger.transfer_create(
        key=f"charge:{merchant.pk}:{key}", debit=ledger.AccountRef(card.wallet_account_id, institution.pk, 1),
        credit=ledger.AccountRef.of(merchant.account), amount=amount, kind="payment",
        reference=(reference or f"{merchant.name} {key}")[:200], metadata={"merchant": merchant.pk, "service": key})
    payment = Payment.objects.create(
        institution=institution, terminal=None, merchant=merchant, person=person, card=card, txn_id=key,
        amount=amount, method=method, transfer_id=result.id, balance_after=result.debit_balance or 0,
        created_at=result.created_at)
    audit_record(actor=actor, action="service_charged", obj=payment, institution_id=institution.pk,
                 after={"amount": amount, "merchant": merchant.code, "key": key, "method": method})
    low_balance_watch(person_id=person.pk, payment_id=payment.pk, amount=amount,
                      balance_after=payment.balance_after)  # SUP-4: laundry, electricity, rentals alert as the POS does
    charge = Charge(payment.pk, key, amount, payment.balance_after, payment.created_at)
    if then is not None:
        then(charge)
    return charge


@money_transaction
def charge_refund(*, actor: Actor, payment: Payment, key: str, amount: int | None = None, reason: str = "",
                  then: Callable[[Refund], Any] | None = None) -> Refund:
    """Give back ``amount`` (default: all that is left) of a service charge, once per ``key``."""
    if payment.terminal_id is not None:
        raise DomainError("payment_not_found")  # a till payment is refunded at its till (same day)
    if not key:
        raise DomainError("idempotency_key_required")
    earlier = Refund.objects.filter(payment=payment, key=key).exists()
    refund = pos._refund(actor=actor, payment=payment, amount=amount, reason=reason, kind=Refund.Kind.REFUND,
                         key=key, same_day=False)
    if then is not None and not earlier:
        then(refund)
    return refund


# --- deposit holds -------------------------------------------------------------------------------

def hold_place(*, actor: Actor, merchant: Merchant, person: Person, key: str, amount: int,
               password: str | None = None, method: str = Payment.Method.DESK, card: Card | None = None,
               device: Device | None = None, reference: str = "",
               then: Callable[[HoldResult], Any] | None = None) -> HoldResult:
    """Hold ``amount`` fen of the holder's wallet for the merchant, once per (merchant, ``key``)."""
    _check(key, amount, method)
    return _once(lambda: _hold_replay(merchant, key, person, amount),
                 lambda: _hold(actor=actor, merchant=merchant, person=person, key=key, amount=amount,
                               password=password, method=method, card=card, device=device, reference=reference,
                               then=then))


def _hold_replay(merchant: Merchant, key: str, person: Person, amount: int) -> HoldResult | None:
    hold = Hold.objects.filter(merchant=merchant, key=key).first()
    if hold is None:
        return None
    if hold.amount != amount or hold.person_id != person.pk:
        raise DomainError("payment_txn_reused")
    return HoldResult(hold.pk, key, hold.amount, hold.state, replayed=True)


@money_transaction
def _hold(*, actor: Actor, merchant: Merchant, person: Person, key: str, amount: int, password: str | None,
          method: str, card: Card | None, device: Device | None, reference: str,
          then: Callable[[HoldResult], Any] | None) -> HoldResult:
    institution = merchant.institution
    card, person = _card(person, card)
    usage = pos.debit_authorize(institution=institution, card=card, person=person, amount=amount,
                                device_live=_device_live(device), credential_active=True, offline=False,
                                password=password)
    result = ledger.transfer_create(
        key=f"hold:{merchant.pk}:{key}", debit=ledger.AccountRef(card.wallet_account_id, institution.pk, 1),
        credit=ledger.AccountRef.of(merchant.account), amount=amount, kind="payment", pending=True,
        reference=(reference or f"{merchant.name} {key}")[:200], metadata={"merchant": merchant.pk, "hold": key})
    hold = Hold.objects.create(institution=institution, merchant=merchant, person=person, card=card, key=key,
                               amount=amount, method=method, transfer_id=result.id, day=usage.day,
                               created_at=result.created_at)
    audit_record(actor=actor, action="deposit_held", obj=hold, institution_id=institution.pk,
                 after={"amount": amount, "merchant": merchant.code, "key": key})
    held = HoldResult(hold.pk, key, amount, hold.state)
    if then is not None:
        then(held)
    return held


def _locked_hold(hold: Hold) -> Hold:
    return Hold.objects.select_for_update().select_related("merchant", "institution").get(pk=hold.pk)


def _unspend(hold: Hold, amount: int) -> None:
    """What the holder did not end up paying comes off the day's spending again (PAY-2)."""
    if amount > 0:
        DailyUsage.objects.filter(person_id=hold.person_id, day=hold.day).update(spent=F("spent") - amount)


@money_transaction
def hold_capture(*, actor: Actor, hold: Hold, amount: int | None = None,
                 then: Callable[[Charge], Any] | None = None) -> Charge:
    """Take ``amount`` (default: all) of a held deposit as a payment to the merchant; the rest goes back.
    A retry of a captured hold with the same amount answers the same Charge."""
    hold = _locked_hold(hold)
    amount = hold.amount if amount is None else amount
    if not is_fen(amount) or amount <= 0 or amount > hold.amount:
        raise DomainError("hold_amount_invalid", held=format_fen(hold.amount))
    if hold.state == Hold.State.CAPTURED and hold.payment is not None:
        payment = hold.payment
        if payment.amount != amount:
            raise DomainError("payment_txn_reused")
        return Charge(payment.pk, hold.key, payment.amount, payment.balance_after, payment.created_at, replayed=True)
    if hold.state != Hold.State.HELD:
        raise DomainError("hold_not_held")
    result = ledger.transfer_post(key=f"hold:{hold.merchant_id}:{hold.key}:capture", pending_id=hold.transfer_id,
                                  amount=amount)
    card = Card.objects.get(pk=hold.card_id)
    payment = Payment.objects.create(
        institution_id=hold.institution_id, terminal=None, merchant=hold.merchant, person_id=hold.person_id,
        card=card, txn_id=hold.key, amount=amount, method=hold.method, transfer_id=result.id,
        balance_after=account_balances(account_id=card.wallet_account_id).posted, created_at=result.created_at)
    hold.state, hold.payment, hold.resolved_at = Hold.State.CAPTURED, payment, result.created_at
    hold.save(update_fields=["state", "payment", "resolved_at"])
    _unspend(hold, hold.amount - amount)
    audit_record(actor=actor, action="deposit_captured", obj=hold, institution_id=hold.institution_id,
                 after={"amount": amount})
    low_balance_watch(person_id=hold.person_id, payment_id=payment.pk, amount=amount,
                      balance_after=payment.balance_after)
    charge = Charge(payment.pk, hold.key, amount, payment.balance_after, payment.created_at)
    if then is not None:
        then(charge)
    return charge


@money_transaction
def hold_release(*, actor: Actor, hold: Hold, then: Callable[[Hold], Any] | None = None) -> Hold:
    """Give the whole held deposit back (a retry of a released hold changes nothing)."""
    hold = _locked_hold(hold)
    if hold.state == Hold.State.RELEASED:
        return hold
    if hold.state != Hold.State.HELD:
        raise DomainError("hold_not_held")
    ledger.transfer_void(key=f"hold:{hold.merchant_id}:{hold.key}:release", pending_id=hold.transfer_id)
    hold.state, hold.resolved_at = Hold.State.RELEASED, clock.now()
    hold.save(update_fields=["state", "resolved_at"])
    _unspend(hold, hold.amount)
    audit_record(actor=actor, action="deposit_released", obj=hold, institution_id=hold.institution_id,
                 after={"amount": hold.amount})
    if then is not None:
        then(hold)
    return hold
