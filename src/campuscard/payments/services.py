"""Wallets and recharge (TOP-1): cash at the window, cash at a kiosk, online through a gateway.

Each recharge is one RechargeOrder row plus ledger transfers, committed together. The order's
unique (institution, key) is the idempotency lock: a concurrent duplicate waits for the first and
then gets its result. Online recharges hold the amount as *pending* on the wallet until the
gateway's signed notification posts it (or the order fails/expires and the hold is voided).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError

from campuscard.cards.services import current_card, replacement_fees_collect
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.devices.models import Device
from campuscard.identity.models import Person, User
from campuscard.ledger import services as ledger
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.gateways.base import GatewayEvent, gateway
from campuscard.payments.models import GatewayNotification, RechargeOrder

log = logging.getLogger(__name__)
State = RechargeOrder.State
Channel = RechargeOrder.Channel
CASH_ACCOUNT = {Channel.WINDOW: Account.Kind.CASH_WINDOW, Channel.KIOSK: Account.Kind.CASH_KIOSK}


def wallet_of(*, person: Person) -> Account:
    """The wallet of the holder's current card (CARD-6/8 move it to a new card). Never below zero."""
    return Account.objects.get(pk=current_card(person=person).wallet_account_id)


def _new_order_no(person: Person) -> str:
    """R + the institution's local date and time (what the holder's receipt and the Card Center read, #17
    item 9) + 8 random hex digits."""
    return clock.institution_now(person.institution).strftime("R%Y%m%d%H%M%S") + secrets.token_hex(4).upper()


def _check_amount(amount: int) -> None:
    low, high = settings.RECHARGE_MIN_FEN, settings.RECHARGE_MAX_FEN
    if not isinstance(amount, int) or isinstance(amount, bool) or not low <= amount <= high:
        raise DomainError("recharge_amount_invalid", min=format_fen(low), max=format_fen(high))


def _existing(person: Person, key: str, amount: int, channel: str) -> RechargeOrder | None:
    order = RechargeOrder.objects.filter(person=person, key=key).first()
    if order is not None and (order.person_id != person.pk or order.amount != amount or order.channel != channel):
        raise DomainError("idempotency_key_reused")
    return order


def recharge_cash(*, channel: str, person: Person, amount: int, key: str, operator: User | None = None,
                  device: Device | None = None, note: str = "") -> RechargeOrder:
    """Cash handed in at the service window (operator) or fed into a kiosk (device)."""
    if channel not in CASH_ACCOUNT:
        raise ValueError(channel)
    _check_amount(amount)
    if not key:
        raise DomainError("idempotency_key_required")
    existing = _existing(person, key, amount, channel)
    if existing is not None:
        return existing
    try:
        return _recharge_cash(channel=channel, person=person, amount=amount, key=key, operator=operator,
                              device=device, note=note)
    except IntegrityError:  # a concurrent duplicate committed first
        return _existing(person, key, amount, channel) or _raise_busy()


def _raise_busy():
    raise DomainError("ledger_busy")


def _cash_actor(operator: User | None, device: Device | None) -> Actor:
    if operator is not None:
        return Actor.by_user(operator)
    return Actor.by_device(device) if device is not None else Actor.system("system")


@money_transaction
def _recharge_cash(*, channel, person, amount, key, operator, device, note) -> RechargeOrder:
    now = clock.now()
    order = RechargeOrder.objects.create(
        institution_id=person.institution_id, order_no=_new_order_no(person), key=key, person=person, amount=amount,
        channel=channel, state=State.PAID, operator=operator, device=device, note=note, created_at=now,
        completed_at=now)
    cash = ledger.system_account(institution_id=person.institution_id, kind=CASH_ACCOUNT[channel])
    result = ledger.transfer_create(key=f"recharge:{order.order_no}", debit=cash, credit=wallet_of(person=person),
                                    amount=amount, kind=f"recharge_{channel}", reference=order.order_no,
                                    metadata={"channel": channel})
    order.transfer_id = result.id
    order.save(update_fields=["transfer_id"])
    replacement_fees_collect(account_id=result.credit_id)  # a replacement fee left for this recharge (CARD-5)
    audit_record(actor=_cash_actor(operator, device), action="recharge_cash",
                 obj=order, institution_id=person.institution_id,
                 after={"amount": amount, "channel": channel, "person": person.number})
    return order


def recharge_online_start(*, person: Person, amount: int, key: str, provider: str = "sandbox",
                          return_url: str = "") -> tuple[RechargeOrder, str]:
    """Create the order and a pending credit on the wallet; return the gateway URL to pay at."""
    _check_amount(amount)
    if not key:
        raise DomainError("idempotency_key_required")
    gw = gateway(provider)
    order = _existing(person, key, amount, Channel.ONLINE)
    if order is None:
        try:
            order = _recharge_online_create(person=person, amount=amount, key=key, provider=provider)
        except IntegrityError:
            order = _existing(person, key, amount, Channel.ONLINE) or _raise_busy()
    # The gateway call happens after our commit: never hold a money transaction open across the network.
    return order, gw.start(order=order, return_url=return_url or f"/wallet/recharge/{order.order_no}/")


@money_transaction
def _recharge_online_create(*, person, amount, key, provider) -> RechargeOrder:
    now = clock.now()
    expires = now + timedelta(seconds=settings.RECHARGE_ONLINE_TTL_SECONDS)
    order = RechargeOrder.objects.create(
        institution_id=person.institution_id, order_no=_new_order_no(person), key=key, person=person, amount=amount,
        channel=Channel.ONLINE, provider=provider, state=State.PENDING, created_at=now, expires_at=expires)
    clearing = ledger.system_account(institution_id=person.institution_id, kind=Account.Kind.GATEWAY_CLEARING)
    hold = ledger.transfer_create(key=f"recharge:{order.order_no}:hold", debit=clearing, credit=wallet_of(person=person),
                                  amount=amount, kind="recharge_online", reference=order.order_no, pending=True,
                                  expires_at=expires + timedelta(minutes=10))
    order.hold_transfer_id = hold.id
    order.save(update_fields=["hold_transfer_id"])
    audit_record(actor=Actor.by_user(person.user) if person.user else Actor.system("portal"), action="recharge_online_started", obj=order,
                 institution_id=person.institution_id, after={"amount": amount, "provider": provider})
    return order


def gateway_notification_receive(*, provider: str, body: bytes, headers) -> str | None:
    """Handle one gateway notification. Returns the outcome, or raises for a forged one.

    Late, duplicated and out-of-order notifications credit exactly once; a forged or tampered one is
    recorded and changes nothing.
    """
    gw = gateway(provider)
    try:
        event = gw.parse_notification(body=body, headers=headers)
    except (DomainError, ValueError, KeyError) as error:
        GatewayNotification.objects.create(provider=provider, received_at=clock.now(), signature_ok=False,
                                           outcome=getattr(error, "code", "malformed"),
                                           body=body.decode("utf-8", "replace")[:4000])
        if isinstance(error, DomainError):
            raise
        raise DomainError("gateway_signature_invalid")
    return _apply_gateway_event(provider=provider, event=event, body=body.decode("utf-8", "replace"))


@money_transaction
def _apply_gateway_event(*, provider: str, event: GatewayEvent, body: str) -> str:
    order = (RechargeOrder.objects.select_for_update().select_related("person")
             .filter(order_no=event.order_no, provider=provider).first())
    outcome = _outcome(order, event) if order is not None else "unknown_order"
    GatewayNotification.objects.create(provider=provider, received_at=clock.now(), event_id=event.event_id,
                                       order=order, signature_ok=True, outcome=outcome, body=body[:4000])
    return outcome


def _hold_id(order: RechargeOrder) -> int:
    """An online order's hold on the wallet: every online order has one, made with the order."""
    if order.hold_transfer_id is None:
        raise ValueError(f"recharge order {order.order_no} has no hold")
    return order.hold_transfer_id


def _hold_open(order: RechargeOrder) -> bool:
    return not Transfer.objects.filter(pending_id=_hold_id(order),
                                       phase__in=[Transfer.Phase.POST, Transfer.Phase.VOID]).exists()


def _late_credit_account(order: RechargeOrder) -> Account:
    """The wallet the hold was for; if that card's balance has since moved on, the holder's current one."""
    account = Account.objects.get(pk=Transfer.objects.get(pk=_hold_id(order)).credit_id)
    return account if account.status == Account.Status.OPEN else wallet_of(person=order.person)


def _outcome(order: RechargeOrder, event: GatewayEvent) -> str:
    now = clock.now()
    if event.status == "paid":
        if order.state == State.PAID:
            return "duplicate"
        if event.amount != order.amount:
            order.state, order.note = State.REVIEW, f"gateway says {event.amount} fen paid"
            order.save(update_fields=["state", "note"])
            return "amount_mismatch"
        if order.state == State.PENDING and _hold_open(order):
            result = ledger.transfer_post(key=f"recharge:{order.order_no}:post", pending_id=_hold_id(order))
            outcome = "credited"
        else:  # paid after the hold was released (expired or failed): credit directly, once
            clearing = ledger.system_account(institution_id=order.institution_id,
                                             kind=Account.Kind.GATEWAY_CLEARING)
            result = ledger.transfer_create(key=f"recharge:{order.order_no}:late", debit=clearing,
                                            credit=_late_credit_account(order), amount=order.amount,
                                            kind="recharge_online", reference=order.order_no)
            outcome = "credited_late"
        order.state, order.transfer_id, order.completed_at = State.PAID, result.id, now
        order.provider_txn = event.provider_txn
        order.save(update_fields=["state", "transfer_id", "completed_at", "provider_txn"])
        replacement_fees_collect(account_id=result.credit_id)  # a replacement fee left for this recharge (CARD-5)
        audit_record(actor=Actor.system(f"gateway:{order.provider}"), action="recharge_online_paid", obj=order,
                     institution_id=order.institution_id, after={"amount": order.amount, "outcome": outcome})
        return outcome
    if event.status == "failed" and order.state == State.PENDING:
        if _hold_open(order):
            ledger.transfer_void(key=f"recharge:{order.order_no}:void", pending_id=_hold_id(order))
        order.state, order.completed_at = State.FAILED, now
        order.save(update_fields=["state", "completed_at"])
        return "failed"
    return "ignored_stale"


def recharges_expire() -> int:
    """Pending online orders past their time: void the hold, mark expired."""
    due = list(RechargeOrder.objects.filter(state=State.PENDING, expires_at__lt=clock.now())
               .values_list("pk", flat=True)[:500])
    for pk in due:
        try:
            _expire_one(pk)
        except (DomainError, DatabaseError):
            log.exception("could not expire recharge order %s; will retry", pk)
    return len(due)


@money_transaction
def _expire_one(pk: int) -> None:
    order = RechargeOrder.objects.select_for_update().get(pk=pk)
    if order.state != State.PENDING:
        return
    if _hold_open(order):  # the ledger's own hold expiry may have released it already
        ledger.transfer_void(key=f"recharge:{order.order_no}:void", pending_id=_hold_id(order))
    order.state, order.completed_at = State.EXPIRED, clock.now()
    order.save(update_fields=["state", "completed_at"])
