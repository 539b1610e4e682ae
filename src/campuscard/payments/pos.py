"""Merchant payments (PAY-1 … PAY-4): authorise at a POS terminal, refund, appeal.

``payment_authorize`` is the one entry point of a charge at a terminal. It takes the one-statement
fast path (``payments.fastpath``, PostgreSQL) when that path can decide, and otherwise the ordinary
path: inside one money transaction the presented credential is checked and used up, the holder's day
row is locked (their daily total and wrong-password count: only this holder's payments queue), the
facts are gathered and ``payments.rules.authorize`` decides; the wallet is debited, the merchant's
striped takings account credited and the Payment row written. The terminal's transaction id makes it
idempotent: a retry answers with the first payment's receipt.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from campuscard.cards import codes
from campuscard.cards.models import Card
from campuscard.cards.selectors import live_wallet
from campuscard.core import clock, metrics
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen, is_fen
from campuscard.core.permissions import authorize
from campuscard.core.privacy import mask_name, mask_number
from campuscard.devices.models import Device
from campuscard.devices.services import device_is_revoked
from campuscard.identity.models import Person
from campuscard.identity.selectors import acting_user
from campuscard.identity.services import payment_password_verify
from campuscard.ledger import selectors as ledger_selectors
from campuscard.ledger import services as ledger
from campuscard.ledger.models import Account
from campuscard.payments import fastpath, rules
from campuscard.payments.models import Appeal, DailyUsage, Merchant, Payment, Refund, SpendingLimit, Terminal
from campuscard.support.alerts import low_balance_watch
from campuscard.support.models import Notification
from campuscard.support.services import notify

# A terminal's transaction id: its own, retried as it is (PAY-1). A strict alphabet keeps it a plain
# identifier everywhere it goes (journal key, receipts, URLs).
TXN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class WrongPassword(Exception):
    """A wrong payment password: the charge's transaction rolls back, the caller counts it outside
    (``wrong_password_count``), and refuses with ``payment_password_incorrect``."""

    def __init__(self, person_id: int, day: dt.date) -> None:
        self.person_id, self.day = person_id, day


@dataclass(frozen=True)
class Receipt:
    """What the POS prints and shows: the holder's name and card number masked."""

    txn_id: str
    amount: int
    merchant: str
    holder: str
    card: str
    method: str
    balance_after: int
    refunded: int
    at: dt.datetime
    payment_id: int | None = None  # not printed: for the caller that shows the stored payment

    def as_dict(self) -> dict:
        return asdict(self)


def payment_receipt(*, payment: Payment) -> dict:
    return receipt(payment.txn_id, payment.amount, payment.merchant.name, payment.person.name, payment.card.number,
                   payment.method, payment.balance_after, payment.refunded, payment.created_at, payment.pk).as_dict()


def receipt(txn_id, amount, merchant, holder, card_number, method, balance_after, refunded, at,
            payment_id=None) -> Receipt:
    return Receipt(txn_id=txn_id, amount=amount, merchant=merchant, holder=mask_name(holder),
                   card=mask_number(card_number), method=method, balance_after=balance_after, refunded=refunded,
                   at=at, payment_id=payment_id)


def daily_limit_of(*, person: Person) -> int:
    limit = SpendingLimit.objects.filter(person=person).values_list("daily_limit", flat=True).first()
    return settings.DAILY_LIMIT_DEFAULT_FEN if limit is None else limit


def daily_limit_set(*, actor: Actor, person: Person, limit: int) -> int:
    """PAY-2: the holder changes their own limit at any time, within the institution maximum."""
    if not is_fen(limit) or not 1 <= limit <= settings.DAILY_LIMIT_MAX_FEN:
        raise DomainError("daily_limit_invalid", max=format_fen(settings.DAILY_LIMIT_MAX_FEN))
    SpendingLimit.objects.update_or_create(person=person, defaults={"daily_limit": limit})
    audit_record(actor=actor, action="daily_limit_changed", obj=person, institution_id=person.institution_id,
                 after={"daily_limit": limit})
    return limit


def password_due(*, person: Person) -> bool:
    """PAY-3: the payment password must be changed every month."""
    return rules.password_due(person.payment_password_changed_at, clock.now())


@metrics.observed(metrics.PAYMENT)  # #18 item 8: counted and timed here, since the lane answers before Django
def payment_authorize(*, terminal: Terminal | fastpath.TerminalFacts, txn_id: str, amount: int, code: str = "",
                      nfc_uid: str = "", password: str | None = None) -> Receipt:
    """Charge the presented card or code once per (terminal, ``txn_id``); the receipt, or a DomainError."""
    if not is_fen(amount) or amount <= 0:
        raise DomainError("payment_amount_invalid")
    if not isinstance(txn_id, str) or not txn_id:
        raise DomainError("idempotency_key_required")
    if not TXN_ID.fullmatch(txn_id):
        raise DomainError("txn_id_invalid")
    if not code and not nfc_uid:
        raise DomainError("qr_invalid")
    facts = terminal if isinstance(terminal, fastpath.TerminalFacts) else fastpath.terminal_facts(terminal.device.code)
    if facts is None or facts.terminal_id is None:
        raise DomainError("terminal_unknown")
    if settings.PAYMENTS_FAST_PATH and code and fastpath.eligible(amount=amount, code=code) \
            and not rules.needs_password(amount):
        fast = fastpath.try_pay(terminal=facts, txn_id=txn_id, amount=amount, code=code)
        if fast is not None:
            done = receipt(*fast)
            holder = fastpath.credential_facts(code.split(".")[1])  # in memory: try_pay has just read it
            if holder is not None and done.payment_id:
                low_balance_watch(person_id=holder.person_id, payment_id=done.payment_id, amount=amount,
                                  balance_after=done.balance_after)  # SUP-4: no statement, a job if low
            return done
    row: Terminal = terminal if isinstance(terminal, Terminal) else (
        Terminal.objects.select_related("merchant__institution", "merchant__account", "device").get(pk=facts.terminal_id))
    replay = _replay(row, txn_id, amount)
    if replay is not None:
        return replay
    try:
        return _authorize(terminal=row, txn_id=txn_id, amount=amount, code=code, nfc_uid=nfc_uid,
                          password=password)
    except WrongPassword as wrong:
        left = wrong_password_count(person_id=wrong.person_id, day=wrong.day)
        raise DomainError("payment_password_incorrect", left=left)
    except DomainError:
        # A concurrent duplicate of this txn may have won the one-time code: answer with its payment.
        replay = _replay(row, txn_id, amount)
        if replay is None:
            raise
        return replay
    except IntegrityError:  # the same transaction id committed concurrently
        replay = _replay(row, txn_id, amount)
        if replay is None:
            raise
        return replay


def _replay(terminal: Terminal, txn_id: str, amount: int) -> Receipt | None:
    payment = (Payment.objects.select_related("merchant", "person", "card")
               .filter(terminal=terminal, txn_id=txn_id).first())
    if payment is None:
        return None
    if payment.amount != amount:
        raise DomainError("payment_txn_reused")
    if device_is_revoked(device=Device.objects.get(pk=terminal.device_id)):  # as the first answer would say now
        raise DomainError("device_revoked")
    return receipt(payment.txn_id, payment.amount, payment.merchant.name, payment.person.name, payment.card.number,
                   payment.method, payment.balance_after, payment.refunded, payment.created_at, payment.pk)


def wrong_password_count(*, person_id: int, day: dt.date) -> int:
    """Kept even though the payment is refused: five in a day lock password payments (PAY-3)."""
    with transaction.atomic():
        usage, _created = DailyUsage.objects.select_for_update().get_or_create(person_id=person_id, day=day)
        usage.wrong_passwords = F("wrong_passwords") + 1
        usage.save(update_fields=["wrong_passwords"])
        usage.refresh_from_db()
    return rules.wrong_passwords_left(usage.wrong_passwords)


@money_transaction
def _authorize(*, terminal: Terminal, txn_id: str, amount: int, code: str, nfc_uid: str,
               password: str | None) -> Receipt:
    merchant = terminal.merchant
    institution = merchant.institution
    if code:
        presented = codes.code_accept(institution_id=institution.pk, code=code)
    else:
        presented = codes.nfc_accept(institution_id=institution.pk, uid=nfc_uid)
    card, person = presented.card, presented.card.person
    debit_authorize(institution=institution, card=card, person=person, amount=amount,
                    device_live=not device_is_revoked(device=Device.objects.get(pk=terminal.device_id)),
                    credential_active=presented.credential.active, offline=presented.offline, password=password)
    result = ledger.transfer_create(
        key=f"pos:{terminal.pk}:{txn_id}", debit=ledger.AccountRef(card.wallet_account_id, institution.pk, 1),
        credit=_merchant_ref(merchant), amount=amount, kind="payment", reference=f"{merchant.name} {txn_id}",
        metadata={"merchant": merchant.pk, "terminal": terminal.pk})
    method = Payment.Method.OFFLINE if presented.offline else presented.credential.kind
    payment = Payment.objects.create(
        institution=institution, terminal=terminal, merchant=merchant, person=person, card=card, txn_id=txn_id,
        amount=amount, method=method, transfer_id=result.id, balance_after=result.debit_balance or 0,
        created_at=result.created_at)
    low_balance_watch(person_id=person.pk, payment_id=payment.pk, amount=amount,
                      balance_after=payment.balance_after)  # SUP-4: the worker checks after the commit
    return receipt(txn_id, amount, merchant.name, person.name, card.number, method, payment.balance_after, 0,
                   payment.created_at, payment.pk)


def debit_authorize(*, institution, card: Card, person: Person, amount: int, device_live: bool,
                    credential_active: bool, offline: bool, password: str | None) -> DailyUsage:
    """The one gathering of a wallet charge's facts (PAY-2, PAY-3, CARD-4, LED-3), for the POS and for
    service charges (``payments.charges``): inside the caller's money transaction, lock the holder's day
    row (only this holder's charges queue), ask ``rules.authorize`` and count the amount as spent today.
    Raises ``WrongPassword`` (count it after the rollback) or the rule's DomainError."""
    today = clock.local_date(institution)
    usage, _created = DailyUsage.objects.select_for_update().get_or_create(person=person, day=today)
    wallet = ledger_selectors.account_state(account_id=card.wallet_account_id)
    decision = rules.authorize(rules.PaymentFacts(
        amount=amount, now=clock.now(), device_live=device_live,
        credential_active=credential_active, same_institution=card.institution_id == institution.pk,
        card_state=card.state, card_kind=card.kind, offline_code=offline, spent_today=usage.spent,
        daily_limit=daily_limit_of(person=person), wrong_passwords_today=usage.wrong_passwords,
        password_set=bool(person.payment_password), password_changed_at=person.payment_password_changed_at,
        password_given=bool(password), wallet_open=wallet.open, available=wallet.spendable,
        password_ok=lambda: payment_password_verify(person=person, secret=password or "")))
    if decision.code == "payment_password_incorrect":
        raise WrongPassword(person.pk, usage.day)  # counted outside this transaction, which rolls back
    if decision.code is not None:  # not decision.ok
        raise DomainError(decision.code, **decision.params)
    usage.spent += amount
    if decision.password_checked:
        usage.wrong_passwords = 0  # "consecutive": a right password starts the count again
    usage.save(update_fields=["spent", "wrong_passwords"])
    return usage


def _merchant_ref(merchant: Merchant) -> ledger.AccountRef:
    return ledger.AccountRef.of(merchant.account)


def payment_password_unlock(*, actor: Actor, person: Person) -> int:
    """At the service window (PAY-3, #17): the operator, having checked the holder's ID, clears today's
    wrong-password count so password payments work again; audited, the holder notified. Returns the
    count cleared; a holder with no wrong password today is refused (``payment_password_not_locked``)."""
    if actor.user is not None:  # the window's card operators, in the holder's institution
        authorize(actor.user, "cards.change_card", person.institution_id)
    with transaction.atomic():
        usage = (DailyUsage.objects.select_for_update()
                 .filter(person=person, day=clock.local_date(person.institution)).first())
        if usage is None or not usage.wrong_passwords:
            raise DomainError("payment_password_not_locked")
        cleared = usage.wrong_passwords
        usage.wrong_passwords = 0
        usage.save(update_fields=["wrong_passwords"])
        audit_record(actor=actor, action="payment_password_unlocked", obj=person, institution_id=person.institution_id,
                     before={"wrong_passwords": cleared}, after={"wrong_passwords": 0, "security": True})
        notify(person=person, kind=Notification.Kind.SECURITY, title=_("Payment password unlocked"),
               body=_("The service window unlocked payments with your payment password. If this was not you, "
                      "contact the Card Center at once."), link="/security/")
    return cleared


def merchant_open(*, actor: Actor, institution, code: str, name: str, category: str, building=None,
                  name_en: str = "") -> Merchant:
    with transaction.atomic():
        account = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT,
                                      code=f"merchant:{code}", name=name, owner=f"merchant:{code}", floor=None,
                                      stripes=settings.MERCHANT_ACCOUNT_STRIPES)
        merchant = Merchant.objects.create(institution=institution, code=code, name=name, name_en=name_en,
                                           category=category, building=building, account=account)
        audit_record(actor=actor, action="merchant_opened", obj=merchant, institution_id=institution.pk)
    return merchant


# --- refunds and appeals (PAY-4) -----------------------------------------------------------------

@money_transaction
def payment_refund(*, actor: Actor, payment: Payment, amount: int | None = None, reason: str = "",
                   kind: str = Refund.Kind.REFUND, key: str = "") -> Refund:
    """``key`` makes a resend (double click, network retry) return the first refund instead of a second."""
    return _refund(actor=actor, payment=payment, amount=amount, reason=reason, kind=kind, key=key)


def _refund(*, actor: Actor, payment: Payment, amount: int | None, reason: str, kind: str, key: str,
            same_day: bool = True) -> Refund:
    """``same_day``: a merchant's refund at the till is same-day only; a service's own refund (a
    cancelled booking, a failed cycle: ``payments.charges.charge_refund``) is not."""
    reason = str(reason)
    payment = Payment.objects.select_for_update().select_related("institution", "person", "card").get(pk=payment.pk)
    if key:
        earlier = Refund.objects.filter(payment=payment, key=key).first()
        if earlier is not None:
            if amount is not None and amount != earlier.amount:
                raise DomainError("idempotency_key_reused")
            return earlier
    if same_day and kind == Refund.Kind.REFUND and (clock.local_date(payment.institution, payment.created_at)
                                       != clock.local_date(payment.institution)):
        raise DomainError("refund_window_closed")
    left = payment.amount - payment.refunded
    amount = left if amount is None else amount
    if not is_fen(amount) or amount <= 0 or amount > left:
        raise DomainError("refund_exceeds_payment", left=format_fen(left))
    number = payment.refunds.count() + 1
    transfer_key = f"refund:{payment.pk}:key:{key}" if key else f"refund:{payment.pk}:{number}"
    # The money goes back to the holder's live wallet: the paying card may have been replaced since and
    # its balance moved on (CARD-6), its wallet closed.
    wallet = live_wallet(payment.card)
    result = ledger.transfer_reverse(key=transfer_key, original_id=payment.transfer_id, amount=amount, kind="refund",
                                     reference=payment.txn_id,
                                     credit_to=None if wallet.pk == payment.card.wallet_account_id else wallet.pk)
    payment.refunded += amount
    payment.save(update_fields=["refunded"])
    refund = Refund.objects.create(payment=payment, kind=kind, amount=amount, transfer_id=result.id,
                                   reason=reason[:200], key=key[:80], created_at=clock.now())
    audit_record(actor=actor, action=f"payment_{kind}", obj=payment, institution_id=payment.institution_id,
                 after={"amount": amount, "reason": reason})
    return refund


def appeal_open(*, actor: Actor, person: Person, payment: Payment, reason: str) -> Appeal:
    if payment.person_id != person.pk:
        raise DomainError("payment_not_found")
    if clock.now() - payment.created_at > dt.timedelta(hours=settings.APPEAL_WINDOW_HOURS):
        raise DomainError("appeal_window_closed", hours=settings.APPEAL_WINDOW_HOURS)
    if not reason.strip():
        raise DomainError("validation_error")
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(payment=payment, reason=reason.strip()[:300], created_at=clock.now())
            audit_record(actor=actor, action="appeal_opened", obj=appeal, institution_id=payment.institution_id)
    except IntegrityError:
        raise DomainError("appeal_exists")
    return appeal


@transaction.atomic  # not durable: the back office's change form runs inside its own transaction
def appeal_decide(*, actor: Actor, appeal: Appeal, accept: bool, reason: str = "") -> Appeal:
    """The merchant or the Card Center decides; an accepted appeal refunds by a reversing transfer, in the
    same transaction as the decision (an acceptance that could not refund is not recorded)."""
    if not accept and not reason.strip():
        raise DomainError("decision_reason_required")
    appeal = Appeal.objects.select_for_update().select_related("payment__person", "payment__merchant").get(pk=appeal.pk)
    if appeal.state != Appeal.State.OPEN:
        raise DomainError("appeal_not_open")
    appeal.state = Appeal.State.ACCEPTED if accept else Appeal.State.REJECTED
    appeal.decision, appeal.decided_at = reason.strip()[:300], clock.now()
    appeal.decided_by = acting_user(actor)
    appeal.save()
    audit_record(actor=actor, action="appeal_accepted" if accept else "appeal_rejected", obj=appeal,
                 institution_id=appeal.payment.institution_id, after={"reason": appeal.decision})
    if accept and appeal.payment.amount > appeal.payment.refunded:
        _refund(actor=actor, payment=appeal.payment, amount=None, reason=str(_("appeal accepted")),
                kind=Refund.Kind.APPEAL, key="")
    payment = appeal.payment
    notify(person=payment.person, kind=Notification.Kind.APPEAL, title=_("Your appeal was decided"),
           body=_("Appeal about %(merchant)s %(amount)s: %(state)s. %(reason)s"),
           params={"merchant": payment.merchant.name, "amount": format_fen(payment.amount),
                   "state": Appeal.State(appeal.state).label, "reason": appeal.decision}, link="/payments/")
    return appeal
