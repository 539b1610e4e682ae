"""Card journeys (CARD-1 … CARD-9): issue, loss, un-report, replacement, balance move, migration,
department change, graduation, photos and production (ID-7, APP-5). Keyword-only, audited."""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from stdnum import luhn

from campuscard.cards import codes
from campuscard.cards.models import (
    BalanceMove,
    Card,
    Credential,
    DenyListVersion,
    LegacyMealCard,
    PackageAddon,
    Photo,
    Production,
    ReplacementFee,
)
from campuscard.cards.policy import ADDONS
from campuscard.cards.selectors import (
    default_kiosk,
    fee_payments,
    live_wallet,
    moves_at_once,
    offline_chargers_synced,
    replacement_collect_point,
)
from campuscard.cards.workdays import add_working_days
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.money import format_fen
from campuscard.core.permissions import authorize
from campuscard.identity.models import Person
from campuscard.identity.selectors import acting_user
from campuscard.identity.services import holder_confirm_verify, holder_confirm_wait
from campuscard.ledger import services as ledger
from campuscard.ledger.models import Account, Transfer
from campuscard.ledger.selectors import account_balances
from campuscard.support.models import Notification
from campuscard.support.services import notify

log = logging.getLogger(__name__)
State = Card.State
KIND_FOR_PERSON: dict[str, str] = {
    Person.Kind.UNDERGRADUATE: Card.Kind.STUDENT, Person.Kind.GRADUATE: Card.Kind.STUDENT,
    Person.Kind.EXCHANGE: Card.Kind.STUDENT, Person.Kind.STAFF: Card.Kind.STAFF,
    Person.Kind.TEMPORARY: Card.Kind.TEMPORARY, Person.Kind.VISITOR: Card.Kind.VISITOR,
    Person.Kind.ALUMNUS: Card.Kind.ALUMNI,
}


def card_kind_for(*, person: Person) -> str:
    return KIND_FOR_PERSON[person.kind]


def _new_number(institution_id: int) -> str:
    """11 random digits and a Luhn check digit (CARD-1); random, so issuing never queues."""
    for _attempt in range(20):
        body = f"{institution_id % 100:02d}{secrets.randbelow(10**9):09d}"
        number = body + luhn.calc_check_digit(body)
        if not Card.objects.filter(institution_id=institution_id, number=number).exists():
            return number
    raise RuntimeError("card numbers exhausted")


def _bump_deny_list(institution_id: int) -> None:
    DenyListVersion.objects.get_or_create(institution_id=institution_id)
    DenyListVersion.objects.filter(institution_id=institution_id).update(version=F("version") + 1,
                                                                         changed_at=clock.now())


def _set_state(card: Card, state: str, *, actor: Actor, action: str, extra: dict | None = None) -> None:
    before = card.state
    card.state, card.state_changed_at = state, clock.now()
    card.save(update_fields=["state", "state_changed_at"])
    audit_record(actor=actor, action=action, obj=card, institution_id=card.institution_id,
                 before={"state": before}, after={"state": state, **(extra or {})})


COLLECT_KINDS = (ServicePoint.Kind.KIOSK, ServicePoint.Kind.WINDOW)


def _check_collect(person: Person, point: ServicePoint | None, unit: str) -> None:
    """A physical card is collected at one place: a kiosk or a window of the holder's institution, or a unit."""
    if point is not None and unit:
        raise DomainError("collect_place_invalid")
    if point is not None and (point.kind not in COLLECT_KINDS
                              or not ServicePoint.objects.filter(pk=point.pk,
                                                                 area__campus__institution_id=person.institution_id)
                              .exists()):
        raise DomainError("collect_place_invalid")


def card_issue(*, actor: Actor, person: Person, physical: bool = False, replaces: Card | None = None,
               kind: str | None = None, collect_point: ServicePoint | None = None, collect_unit: str = "",
               batch_id: int | None = None) -> Card:
    """A new card with its own wallet; the virtual card works at once (APP-5, CARD-3).

    A physical card needs an approved photo (ID-7) and is ready in N working days (APP-5), to be
    collected at one place: ``collect_point`` (a kiosk or the Card Center's window), ``collect_unit``
    (bulk issuing, APP-7), or by default a kiosk of the holder's campus."""
    kind = kind or card_kind_for(person=person)
    collect_unit = collect_unit.strip()[:100]
    if physical:
        _check_collect(person, collect_point, collect_unit)
    if physical and not Photo.objects.filter(person=person, state=Photo.State.APPROVED).exists():
        raise DomainError("photo_missing")
    now = clock.now()
    try:
        with transaction.atomic():
            card = Card.objects.create(institution_id=person.institution_id, person=person, kind=kind,
                                       number=_new_number(person.institution_id), state=State.ACTIVE,
                                       physical=physical, wallet_account_id=0, replaces=replaces, issued_at=now,
                                       state_changed_at=now)
            account = ledger.account_open(institution_id=person.institution_id, kind=Account.Kind.WALLET,
                                          code=f"wallet:card:{card.pk}", name=f"{card.number} {person.name}",
                                          owner=f"person:{person.pk}", floor=0)
            card.wallet_account_id = account.pk
            card.save(update_fields=["wallet_account_id"])
            for credential_kind in (Credential.Kind.QR, Credential.Kind.HCE):
                Credential.objects.create(card=card, kind=credential_kind, token=codes.new_token(),
                                          secret=codes.new_secret(), created_at=now)
            if physical:
                today = clock.local_date(person.institution)
                point = collect_point or (None if collect_unit else default_kiosk(person))
                Production.objects.create(card=card, requested_at=now, collect_point=point, collect_unit=collect_unit,
                                          batch_id=batch_id,
                                          due_date=add_working_days(person.institution.country, today,
                                                                    settings.CARD_PRODUCTION_WORKING_DAYS))
            audit_record(actor=actor, action="card_issued", obj=card, institution_id=card.institution_id,
                         after={"number": card.number, "kind": kind, "physical": physical,
                                "replaces": replaces.number if replaces else None,
                                **({"collect_point": collect_point.pk if collect_point else None,
                                    "collect_unit": collect_unit, "batch": batch_id} if physical else {})})
    except IntegrityError:
        raise DomainError("card_kind_exists", kind=Card.Kind(kind).label)
    return card


def card_report_lost(*, actor: Actor, card: Card, channel: str) -> Card:
    """CARD-4: immediate — every credential stops; the deny list changes for offline devices."""
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.state != State.ACTIVE:
            raise DomainError("card_state_invalid", state=card.get_state_display())
        _set_state(card, State.LOST, actor=actor, action="card_reported_lost", extra={"channel": channel})
        _bump_deny_list(card.institution_id)
        notify(person=card.person, kind=Notification.Kind.SECURITY,
               title=_("Card %(number)s reported lost"), params={"number": card.number},
               body=_("All payments and door access with this card are stopped. If you find it, you can take "
                      "the report back in My cards."), link="/cards/")
    return card


# Who may take a loss report back, and how they prove it is them (#17): a logged-in phone may be the
# stolen one, so the holder's channels ask for a password; at the window the operator checks the ID.
UNREPORT_PROOF = {"portal": ("login", "payment"), "api": ("login", "payment"), "kiosk": ("payment",),
                  "window": ()}


def card_unreport(*, actor: Actor, card: Card, channel: str, password: str = "") -> Card:
    """A found card: the holder takes the loss report back with their login or payment password (the
    kiosk: the payment password), or the window operator after checking the ID in person. Notified and
    audited like the loss report; a refusal changes nothing."""
    proof = UNREPORT_PROOF.get(channel)
    if proof is None:
        raise DomainError("card_wrong_channel", who=Card.Kind(card.kind).label)
    card = Card.objects.select_related("person__user").get(pk=card.pk)
    if card.state != State.LOST:
        raise DomainError("card_not_lost")
    verified = "in_person"
    if proof:
        if wait := holder_confirm_wait(person=card.person):
            raise DomainError("unreport_locked", minutes=math.ceil(wait / 60))
        if not password:
            raise DomainError("unreport_password_required")
        verified = holder_confirm_verify(person=card.person, secret=password, login="login" in proof)
        if not verified:
            raise DomainError("unreport_password_incorrect")
    with transaction.atomic():
        card = Card.objects.select_for_update().select_related("person").get(pk=card.pk)
        if card.state != State.LOST:
            raise DomainError("card_not_lost")
        _set_state(card, State.ACTIVE, actor=actor, action="card_unreported",
                   extra={"channel": channel, "verified_by": verified, "security": True})
        _bump_deny_list(card.institution_id)
        notify(person=card.person, kind=Notification.Kind.SECURITY,
               title=_("Loss report of card %(number)s taken back"), params={"number": card.number},
               body=_("The card works again for payments and doors. If this was not you, report it lost "
                      "again at once and change your passwords."), link="/cards/")
    return card


def card_freeze(*, actor: Actor, card: Card, frozen: bool = True) -> Card:
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.state not in ((State.ACTIVE, State.LOST) if frozen else (State.FROZEN,)):
            raise DomainError("card_state_invalid", state=card.get_state_display())
        _set_state(card, State.FROZEN if frozen else State.ACTIVE, actor=actor,
                   action="card_frozen" if frozen else "card_unfrozen")
        _bump_deny_list(card.institution_id)
    return card


def replacement_fee(*, card: Card) -> int:
    return settings.CARD_REPLACEMENT_FEE_FEN.get(card.kind, 0)


REPLACE_CHANNELS = {
    # CARD-5: students and temporary holders at a kiosk (or the window); staff at the window.
    Card.Kind.STUDENT: {"kiosk", "window", "portal"}, Card.Kind.TEMPORARY: {"kiosk", "window", "portal"},
    Card.Kind.STAFF: {"window"}, Card.Kind.VISITOR: {"window"}, Card.Kind.ALUMNI: {"window"},
}


FeeMethod = ReplacementFee.Method


@money_transaction
def card_replace(*, actor: Actor, card: Card, physical: bool, channel: str, fee: int | None = None,
                 fee_payment: str = "balance", collect_point: ServicePoint | None = None) -> Card:
    """CARD-5/6: a new card (virtual at once, or physical in N working days, collected at the one place
    the holder chooses — by default where they chose for the card it replaces). The fee comes from the
    old card's balance, in cash (window, kiosk) or from the new card's first recharge (``fee_payment``);
    the rest moves to the new card at once but for a reserve kept for what offline devices may still charge
    to the old card (``_move_at_once``)."""
    card = Card.objects.select_for_update().select_related("person__institution").get(pk=card.pk)
    if channel not in REPLACE_CHANNELS[Card.Kind(card.kind)]:
        raise DomainError("card_wrong_channel", who=Card.Kind(card.kind).label)
    if card.state not in (State.ACTIVE, State.LOST, State.FROZEN) or (
            card.state == State.FROZEN and channel != "window"):  # a freeze is lifted only at the window
        raise DomainError("card_state_invalid", state=card.get_state_display())
    if physical:
        collect_point = collect_point or replacement_collect_point(card=card)
        _check_collect(card.person, collect_point, "")
    fee = replacement_fee(card=card) if fee is None else fee
    paid = _replacement_fee_settle(actor=actor, card=card, fee=fee, payment=fee_payment, channel=channel)
    _set_state(card, State.REPLACED, actor=actor, action="card_replaced",
               extra={"channel": channel, "fee": fee, "fee_paid": paid.method if paid else None})
    _bump_deny_list(card.institution_id)
    new = card_issue(actor=actor, person=card.person, physical=physical, replaces=card, kind=card.kind,
                     collect_point=collect_point)
    if paid is not None:
        paid.new_card = new
        paid.save(update_fields=["new_card"])
    # a fee still due from an earlier replacement follows the holder to this card's successor
    ReplacementFee.objects.filter(new_card=card, state=ReplacementFee.State.DUE).update(new_card=new)
    _move_at_once(card, new, actor=actor)
    return new


def _replacement_fee_settle(*, actor: Actor, card: Card, fee: int, payment: str,
                            channel: str) -> ReplacementFee | None:
    """Take the fee the way the holder chose, or record it as due from the new card's first recharge."""
    row = ReplacementFee.objects.select_for_update().filter(old_card=card).first()
    if row is not None:  # paid in cash at a kiosk's acceptor before the replacement
        return row
    if not fee:
        return None
    balance = account_balances(account_id=card.wallet_account_id).available
    if payment not in fee_payments(channel=channel, fee=fee, balance=balance):
        if payment == "balance":
            raise DomainError("card_fee_unpaid", fee=format_fen(fee), balance=format_fen(balance))
        raise DomainError("card_fee_payment_invalid")
    now = clock.now()
    row = ReplacementFee(old_card=card, amount=fee, created_at=now, state=ReplacementFee.State.PAID, paid_at=now)
    if payment == "balance":
        row.method, debit = FeeMethod.BALANCE, Account.objects.get(pk=card.wallet_account_id)
    elif payment == "cash" and channel == "window":  # the operator takes the cash
        row.method = FeeMethod.CASH_WINDOW
        debit = ledger.system_account(institution_id=card.institution_id, kind=Account.Kind.CASH_WINDOW)
    elif payment == "cash":  # a kiosk: its acceptor takes the cash first (replacement_fee_cash_at_kiosk)
        raise DomainError("card_fee_cash_first", fee=format_fen(fee))
    else:
        row.method, row.state, row.paid_at, debit = FeeMethod.FIRST_RECHARGE, ReplacementFee.State.DUE, None, None
    if debit is not None:
        row.transfer_id = _fee_transfer(card, debit, fee, row.method).id
    row.save()
    audit_record(actor=actor, action=f"replacement_fee_{row.state}", obj=card, institution_id=card.institution_id,
                 after={"fee": fee, "method": row.method, "channel": channel})
    return row


def _fee_transfer(card: Card, debit, fee: int, method: str):
    """The one fee a replaced card ever pays: its key is the card's, whichever way the money comes (LED-4)."""
    fee_account = ledger.system_account(institution_id=card.institution_id, kind=Account.Kind.FEE_INCOME)
    return ledger.transfer_create(key=f"card:{card.pk}:replacement-fee", debit=debit, credit=fee_account,
                                  amount=fee, kind="fee", reference=card.number,
                                  metadata={"reason": "replacement", "paid": method})


@money_transaction
def replacement_fee_cash_at_kiosk(*, device, card: Card, amount: int, key: str) -> ReplacementFee:
    """A kiosk's cash acceptor took the replacement fee for ``card`` (signed device request): the holder then
    replaces the card at that kiosk though the lost card holds less than the fee (#17 item 10). A retry of
    the same request returns the first result; a second payment for the same card is refused (the acceptor
    gives the banknotes back)."""
    card = Card.objects.select_for_update().select_related("person").get(pk=card.pk)
    if card.institution_id != device.institution_id:
        raise DomainError("card_not_found")
    if "kiosk" not in REPLACE_CHANNELS[Card.Kind(card.kind)]:
        raise DomainError("card_wrong_channel", who=Card.Kind(card.kind).label)
    row = ReplacementFee.objects.filter(old_card=card).first()
    if row is not None:
        if row.request_key == f"{device.code}:{key}":
            return row
        raise DomainError("card_fee_already_paid")
    if card.state not in (State.ACTIVE, State.LOST):
        raise DomainError("card_state_invalid", state=card.get_state_display())
    fee = replacement_fee(card=card)
    if amount != fee or not fee:
        raise DomainError("card_fee_cash_amount", fee=format_fen(fee), amount=format_fen(amount))
    cash = ledger.system_account(institution_id=card.institution_id, kind=Account.Kind.CASH_KIOSK)
    now = clock.now()
    row = ReplacementFee.objects.create(old_card=card, amount=fee, method=FeeMethod.CASH_KIOSK,
                                        state=ReplacementFee.State.PAID, created_at=now, paid_at=now,
                                        request_key=f"{device.code}:{key}",
                                        transfer_id=_fee_transfer(card, cash, fee, FeeMethod.CASH_KIOSK).id)
    audit_record(actor=Actor.by_device(device), action="replacement_fee_paid", obj=card,
                 institution_id=card.institution_id, after={"fee": fee, "method": row.method})
    return row


def replacement_fees_collect(*, account_id: int) -> int:
    """Money just reached a wallet (a recharge): take any replacement fee due from it, once it covers the fee
    (#17 item 10). Runs inside the caller's money transaction; returns the fen taken."""
    taken = 0
    for row in (ReplacementFee.objects.select_for_update(of=("self",)).select_related("old_card", "new_card__person")
                .filter(state=ReplacementFee.State.DUE, new_card__wallet_account_id=account_id).order_by("pk")):
        if account_balances(account_id=account_id).available < row.amount:
            continue
        row.transfer_id = _fee_transfer(row.old_card, Account.objects.get(pk=account_id), row.amount, row.method).id
        row.state, row.paid_at = ReplacementFee.State.PAID, clock.now()
        row.save(update_fields=["transfer_id", "state", "paid_at"])
        audit_record(actor=Actor.system("job:replacement_fee"), action="replacement_fee_paid", obj=row.old_card,
                     institution_id=row.old_card.institution_id, after={"fee": row.amount, "method": row.method,
                                                                        "card": row.new_card.number})
        notify(person=row.new_card.person, kind=Notification.Kind.SECURITY,
               title=_("Replacement fee paid"), params={"fee": format_fen(row.amount), "number": row.new_card.number},
               body=_("The replacement fee of %(fee)s was taken from your recharge of card %(number)s."),
               link="/wallet/")
        taken += row.amount
    return taken


def _move_at_once(old: Card, new: Card, *, actor: Actor) -> BalanceMove:
    """CARD-6 (#17): the balance moves now, so the holder can pay with the new card at once; only a reserve
    (``REPLACEMENT_RESERVE_FEN``) stays while offline devices may still charge the old card. The move
    completes — the rest moved, the old account closed — when they have all called in, 48 h at most."""
    now = clock.now()
    move = BalanceMove.objects.create(old_card=old, new_card=new, amount=0,
                                      due_at=now + dt.timedelta(seconds=settings.BALANCE_MOVE_AFTER_SECONDS))
    synced = offline_chargers_synced(institution_id=old.institution_id, since=now)
    amount = moves_at_once(available=account_balances(account_id=old.wallet_account_id).available, synced=synced)
    if amount > 0:
        ledger.transfer_create(key=f"balance-move:{move.pk}:at-once",
                               debit=Account.objects.get(pk=old.wallet_account_id), credit=live_wallet(new),
                               amount=amount, kind="balance_move", reference=old.number)
        move.amount = amount
        move.save(update_fields=["amount"])
    # Who replaced the card moved the money: on the person page's timeline with the amount (#17 item 5).
    audit_record(actor=actor, action="balance_move_started", obj=move, institution_id=old.institution_id,
                 after={"amount": amount, "from": old.number, "to": new.number, "synced": synced})
    if synced:
        _move_rest(move)
    return move


def balance_moves_run() -> int:
    """CARD-6: complete each move whose offline devices have all called in, or whose 48 h are over: move
    what is left to the new card, then close the old account."""
    now = clock.now()
    scheduled = BalanceMove.objects.filter(state=BalanceMove.State.SCHEDULED).select_related("old_card")[:500]
    window = dt.timedelta(seconds=settings.BALANCE_MOVE_AFTER_SECONDS)
    due = [move.pk for move in scheduled if move.due_at <= now
           or offline_chargers_synced(institution_id=move.old_card.institution_id, since=move.due_at - window)]
    for pk in due:
        try:
            _move_one(pk)
        except (DomainError, DatabaseError):
            log.exception("balance move %s failed; it stays scheduled", pk)
    return len(due)


@money_transaction
def _move_one(pk: int) -> None:
    move = BalanceMove.objects.select_for_update().select_related("old_card", "new_card").get(pk=pk)
    if move.state == BalanceMove.State.SCHEDULED:
        _move_rest(move)


def _move_rest(move: BalanceMove) -> None:
    old_account = Account.objects.get(pk=move.old_card.wallet_account_id)
    balances = account_balances(account_id=old_account.pk)
    if balances.pending_credits or balances.pending_debits:
        # Money still on its way (e.g. an online recharge awaiting the gateway): try again later
        # rather than close an account something is about to settle into (within the window, its end
        # stays: it dates the replacement for the offline devices' check).
        if move.due_at <= clock.now():
            move.due_at = clock.now() + dt.timedelta(hours=1)
            move.save(update_fields=["due_at"])
        return
    amount = balances.available
    if amount > 0:
        ledger.transfer_create(key=f"balance-move:{move.pk}", debit=old_account,
                               credit=live_wallet(move.new_card), amount=amount,
                               kind="balance_move", reference=move.old_card.number)
    ledger.account_set_status(account=old_account, status=Account.Status.CLOSED)
    move.state, move.amount, move.done_at = BalanceMove.State.DONE, (move.amount or 0) + amount, clock.now()
    move.save(update_fields=["state", "amount", "done_at"])
    audit_record(actor=Actor.system("job:balance_move"), action="balance_moved", obj=move,
                 institution_id=move.old_card.institution_id,
                 after={"amount": move.amount, "rest": amount, "from": move.old_card.number,
                        "to": move.new_card.number})


def staff_department_change(*, actor: Actor, person: Person, department: str, reissue: bool) -> Card | None:
    """CARD-8: free, optional re-issue ("no need, no change"); the wallet follows the person."""
    card = Card.objects.filter(person=person, kind=Card.Kind.STAFF, state=State.ACTIVE).first()
    if reissue and card is None:  # refuse before changing anything
        raise DomainError("card_missing")
    with transaction.atomic():
        before = person.department
        person.department = department
        person.save(update_fields=["department", "updated_at"])
        audit_record(actor=actor, action="department_changed", obj=person, institution_id=person.institution_id,
                     before={"department": before}, after={"department": department, "reissue": reissue})
    if not reissue or card is None:  # (reissuing without a card was refused above)
        return None
    new = card_replace(actor=actor, card=card, physical=card.physical, channel="window", fee=0)
    notify(person=person, kind=Notification.Kind.SECURITY, title=_("Your staff card was re-issued"),
           body=_("New card %(number)s, free of charge. Your campus wallet moved to it (a bus fare follows within "
                  "%(hours)s hours at most); "
                  "a transit (bus) purse on the old card does not transfer."),
           params={"number": new.number, "hours": settings.BALANCE_MOVE_AFTER_SECONDS // 3600}, link="/cards/")
    return new


@transaction.atomic
def graduate(*, actor: Actor, person: Person) -> Card | None:
    """CARD-9: the student card becomes an alumni card: payments and dorm access end, library stays.
    (No money moves; a graduation list runs all of its people in one transaction.)"""
    person = Person.objects.select_for_update().get(pk=person.pk)
    person.kind, person.status = Person.Kind.ALUMNUS, Person.Status.GRADUATED
    person.save(update_fields=["kind", "status", "updated_at"])
    card = Card.objects.select_for_update().filter(person=person, kind=Card.Kind.STUDENT,
                                                   state__in=[State.ACTIVE, State.LOST, State.FROZEN]).first()
    if card is None:
        return None
    if Card.objects.filter(person=person, kind=Card.Kind.ALUMNI, state__in=Card.LIVE_STATES).exists():
        raise DomainError("card_kind_exists", kind=Card.Kind.ALUMNI.label)
    card.kind = Card.Kind.ALUMNI
    card.save(update_fields=["kind"])
    audit_record(actor=actor, action="card_became_alumni", obj=card, institution_id=card.institution_id)
    return card


@money_transaction
def balance_refund(*, actor: Actor, card: Card, cash: bool = False) -> int:
    """Pay the whole remaining balance out to the holder (e.g. an alumnus), as a recorded transfer: by the
    Card Center's payment run (``refunds_payable``), or in cash at the service window (``cash``: out of the
    window's drawer, which the operator's cash shift then counts, #18 item 8)."""
    card = Card.objects.select_for_update().get(pk=card.pk)  # one refund at a time per card
    account = Account.objects.get(pk=card.wallet_account_id)
    amount = account_balances(account_id=account.pk).available
    if amount > 0:
        payout = ledger.system_account(institution_id=card.institution_id,
                                       kind=Account.Kind.CASH_WINDOW if cash else Account.Kind.REFUNDS_PAYABLE)
        earlier = Transfer.objects.filter(debit_id=account.pk, kind="refund").count()
        ledger.transfer_create(key=f"card:{card.pk}:refund:{earlier + 1}", debit=account,
                               credit=payout, amount=amount, kind="refund", reference=card.number)
        audit_record(actor=actor, action="balance_refunded", obj=card, institution_id=card.institution_id,
                     after={"amount": amount, "cash": cash})
    return amount


@money_transaction
def legacy_migrate(*, actor: Actor, person: Person) -> int:
    """CARD-7: the whole old meal-card balance moves once; the old accounts are then frozen.
    (Several old cards of one holder move together.)"""
    legacies = list(LegacyMealCard.objects.select_for_update().filter(person=person).order_by("pk"))
    if not legacies:
        raise DomainError("migration_none")
    pending = [legacy for legacy in legacies if legacy.migrated_at is None]
    if not pending:
        raise DomainError("migration_done",
                          when=clock.local_date(person.institution, legacies[-1].migrated_at).isoformat())
    card = current_card(person=person)
    source = ledger.system_account(institution_id=person.institution_id, kind=Account.Kind.LEGACY_MEAL)
    wallet = Account.objects.get(pk=card.wallet_account_id)
    now = clock.now()
    for legacy in pending:
        result = None
        if legacy.balance > 0:
            result = ledger.transfer_create(key=f"legacy:{legacy.pk}", debit=source, credit=wallet,
                                            amount=legacy.balance, kind="migration", reference=legacy.old_number)
        legacy.migrated_at, legacy.transfer_id = now, result.id if result else None
        legacy.save(update_fields=["migrated_at", "transfer_id"])
        audit_record(actor=actor, action="meal_card_migrated", obj=legacy, institution_id=person.institution_id,
                     after={"amount": legacy.balance, "card": card.number})
    return sum(legacy.balance for legacy in pending)


def current_card(*, person: Person) -> Card:
    card = (Card.objects.filter(person=person, state=State.ACTIVE).order_by("-issued_at").first())
    if card is None:
        raise DomainError("card_missing")
    return card


def nfc_bind(*, actor: Actor, card: Card, uid: str) -> Credential:
    uid = codes.normalize_uid(uid)
    try:
        with transaction.atomic():
            Credential.objects.filter(card=card, kind=Credential.Kind.NFC, active=True).update(active=False)
            credential = Credential.objects.create(card=card, kind=Credential.Kind.NFC, token=codes.new_token(),
                                                   uid=uid, created_at=clock.now())
            audit_record(actor=actor, action="nfc_bound", obj=card, institution_id=card.institution_id,
                         after={"uid": uid})
    except IntegrityError:
        raise DomainError("nfc_uid_taken")
    return credential


def hce_rotate(*, actor: Actor, card: Card) -> Credential:
    """A fresh HCE secret for the holder's phone; the previous phone's secret stops working at once."""
    with transaction.atomic():
        Credential.objects.filter(card=card, kind=Credential.Kind.HCE, active=True).update(active=False)
        credential = Credential.objects.create(card=card, kind=Credential.Kind.HCE, token=codes.new_token(),
                                               secret=codes.new_secret(), created_at=clock.now())
        audit_record(actor=actor, action="hce_provisioned", obj=card, institution_id=card.institution_id)
    return credential  # (every use re-checks `active` in the database, so caches cannot revive the old one)


# --- photos (ID-7) and production (APP-5) ------------------------------------------------------

PHOTO_TYPES = {"JPEG", "PNG"}


def photo_upload(*, actor: Actor, person: Person, upload) -> Photo:
    from PIL import Image, UnidentifiedImageError

    if upload.size > 5 * 1024 * 1024:
        raise DomainError("photo_invalid")
    try:
        image = Image.open(upload)
        image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise DomainError("photo_invalid")
    if image.format not in PHOTO_TYPES:
        raise DomainError("photo_invalid")
    upload.seek(0)
    photo = Photo.objects.create(person=person, image=upload, uploaded_at=clock.now())
    audit_record(actor=actor, action="photo_uploaded", obj=photo, institution_id=person.institution_id)
    return photo


def photo_review(*, actor: Actor, photo: Photo, approve: bool, reason: str = "") -> Photo:
    """Approve (effective the next day, after the overnight sync) or reject with a reason."""
    with transaction.atomic():
        photo = Photo.objects.select_for_update().select_related("person__institution").get(pk=photo.pk)
        if photo.state != Photo.State.PENDING:
            raise DomainError("photo_not_pending")
        if not approve and not reason.strip():
            raise DomainError("reject_reason_required")
        photo.state = Photo.State.APPROVED if approve else Photo.State.REJECTED
        photo.reason, photo.reviewed_at = reason.strip(), clock.now()
        photo.reviewed_by = acting_user(actor)
        if approve:
            photo.effective_from = clock.local_date(photo.person.institution) + dt.timedelta(days=1)
        photo.save()
        audit_record(actor=actor, action="photo_approved" if approve else "photo_rejected", obj=photo,
                     institution_id=photo.person.institution_id, after={"reason": photo.reason})
        message = (_("Your photo was approved. It takes effect on %(day)s.") if approve
                   else _("Your photo was rejected: %(reason)s. Please upload another one."))
        notify(person=photo.person, kind=Notification.Kind.PHOTO, title=_("Photo review"), body=message,
               params={"day": photo.effective_from, "reason": photo.reason}, link="/cards/photo/")
    return photo


def production_advance(*, actor: Actor, production: Production, target: str) -> Production:
    with transaction.atomic():
        production = Production.objects.select_for_update().select_related("card").get(pk=production.pk)
        if Production.NEXT.get(Production.State(production.state)) != target:
            raise DomainError("production_state_invalid", state=production.get_state_display(),
                              target=Production.State(target).label)
        now = clock.now()
        production.state = target
        field = {Production.State.PRINTED: "printed_at", Production.State.AT_KIOSK: "ready_at",
                 Production.State.COLLECTED: "collected_at"}[Production.State(target)]
        setattr(production, field, now)
        production.save(update_fields=["state", field])
        audit_record(actor=actor, action=f"card_production_{target}", obj=production.card,
                     institution_id=production.card.institution_id)
        if target == Production.State.AT_KIOSK:
            card_ready_notify(production=production)
    return production



def card_ready_notify(*, production: Production) -> None:
    """"Your card is ready", naming the one place the holder collects it (APP-5, APP-7)."""
    point = production.collect_point
    if point is not None and point.kind == ServicePoint.Kind.WINDOW:
        body = _("Card %(number)s is ready at %(where)s. Collect it at the Card Center window with your ID card.")
    elif point is None and production.collect_unit:
        body = _("Card %(number)s is ready. Collect it from your unit (%(where)s); you sign for it there.")
    else:
        body = _("Card %(number)s is ready at %(where)s. Collect it at the kiosk with your ID card.")
    notify(person=production.card.person, kind=Notification.Kind.CARD_READY,
           title=_("Your card is ready for collection"), body=body,
           params={"number": production.card.number, "where": production.collect_where}, link="/cards/")


# --- the card package (APP-4) -------------------------------------------------------------------

def _authorize_package(actor: Actor, person: Person) -> None:
    """The holder chooses their own package; otherwise a Card Center operator of their institution.
    Named components (the demo, jobs, the application flow) are trusted callers."""
    user = actor.user
    if actor.kind == "system" or (user is not None and person.user_id and user.pk == person.user_id):
        return
    authorize(user, "cards.change_packageaddon", person.institution_id)


def _package_change(actor: Actor, person: Person, *, add: frozenset[str] = frozenset(),
                    remove: frozenset[str] = frozenset(), exact: frozenset[str] | None = None) -> frozenset[str]:
    unknown = sorted((add | remove | (exact or frozenset())) - set(ADDONS))
    if unknown:
        raise DomainError("package_addon_unknown", addon=", ".join(unknown), known=", ".join(ADDONS))
    _authorize_package(actor, person)
    with transaction.atomic():
        # One change of a holder's package at a time (a double click, the portal and the API at once).
        Person.objects.select_for_update().filter(pk=person.pk).values_list("pk").first()
        current = frozenset(PackageAddon.objects.filter(person=person, revoked_at=None)
                            .values_list("addon", flat=True))
        wanted = exact if exact is not None else (current | add) - remove
        now = clock.now()
        gone, new = current - wanted, wanted - current
        if gone:
            PackageAddon.objects.filter(person=person, revoked_at=None, addon__in=gone).update(revoked_at=now)
        if new:
            PackageAddon.objects.bulk_create([PackageAddon(person=person, addon=addon, granted_at=now)
                                              for addon in sorted(new)])
        if gone or new:
            audit_record(actor=actor, action="card_package_changed", obj=person,
                         institution_id=person.institution_id, before={"addons": sorted(current)},
                         after={"addons": sorted(wanted), "added": sorted(new), "removed": sorted(gone)})
    return wanted


def package_addons_set(*, actor: Actor, person: Person, addons: Iterable[str]) -> frozenset[str]:
    """The holder's add-ons become exactly ``addons`` (APP-4); the base package is always included.
    An unknown add-on is refused and nothing changes; a change is audited, no change is not."""
    if isinstance(addons, str):  # "lab" would otherwise be read as the letters l, a, b
        addons = [addons]
    return _package_change(actor, person, exact=frozenset(addons))


def package_addon_grant(*, actor: Actor, person: Person, addon: str) -> PackageAddon:
    """Add one add-on (kept if already there); returns its active row."""
    _package_change(actor, person, add=frozenset({addon}))
    return PackageAddon.objects.get(person=person, addon=addon, revoked_at=None)


def package_addon_revoke(*, actor: Actor, person: Person, addon: str) -> None:
    _package_change(actor, person, remove=frozenset({addon}))
