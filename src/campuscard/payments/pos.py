"""Merchant payments (PAY-1 … PAY-4): authorise at a POS terminal, refund, appeal.

A payment is authorised inside one money transaction: the presented credential is checked and
used up (one-time code, card state, institution), the holder's day row is locked (daily limit and
wrong-password count live there, so only this holder's payments queue), the payment password is
checked when the amount needs it, the wallet is debited and the merchant's striped takings account
credited, and the Payment row is written. The terminal's transaction id makes it idempotent.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from campuscard.cards import codes
from campuscard.cards.selectors import CAPABILITIES
from campuscard.core import clock
from campuscard.core.audit import audit_record
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.core.privacy import mask_name, mask_number
from campuscard.identity.models import Person
from campuscard.identity.services import payment_password_verify
from campuscard.ledger import services as ledger
from campuscard.ledger.models import Account
from campuscard.payments.models import Appeal, DailyUsage, Merchant, Payment, Refund, SpendingLimit, Terminal
from campuscard.support.models import Notification
from campuscard.support.services import notify


class _WrongPassword(Exception):
    def __init__(self, person_id: int, day: dt.date) -> None:
        self.person_id, self.day = person_id, day


def payment_receipt(payment: Payment) -> dict:
    return receipt(payment.txn_id, payment.amount, payment.merchant.name, payment.person.name, payment.card.number,
                   payment.method, payment.balance_after, payment.refunded, payment.created_at)


def receipt(txn_id, amount, merchant, holder, card_number, method, balance_after, refunded, at) -> dict:
    """What the POS prints and shows: the holder's name and card number masked."""
    return {"txn_id": txn_id, "amount": amount, "merchant": merchant, "holder": mask_name(holder),
            "card": mask_number(card_number), "method": method, "balance_after": balance_after,
            "refunded": refunded, "at": at}


def daily_limit_of(person: Person) -> int:
    limit = SpendingLimit.objects.filter(person=person).values_list("daily_limit", flat=True).first()
    return settings.DAILY_LIMIT_DEFAULT_FEN if limit is None else limit


def daily_limit_set(*, actor, person: Person, limit: int) -> int:
    """PAY-2: the holder changes their own limit at any time, within the institution maximum."""
    if not isinstance(limit, int) or not 1 <= limit <= settings.DAILY_LIMIT_MAX_FEN:
        raise DomainError("daily_limit_invalid", max=format_fen(settings.DAILY_LIMIT_MAX_FEN))
    SpendingLimit.objects.update_or_create(person=person, defaults={"daily_limit": limit})
    audit_record(actor=actor, action="daily_limit_changed", obj=person, institution_id=person.institution_id,
                 after={"daily_limit": limit})
    return limit


def password_due(person: Person) -> bool:
    """PAY-3: the payment password must be changed every month."""
    changed = person.payment_password_changed_at
    return changed is None or clock.now() - changed > dt.timedelta(days=settings.PAYMENT_PASSWORD_MAX_AGE_DAYS)


def payment_authorize(*, terminal: Terminal, txn_id: str, amount: int, code: str = "", nfc_uid: str = "",
                      password: str | None = None) -> Payment:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("payment_amount_invalid")
    if not txn_id:
        raise DomainError("idempotency_key_required")
    replay = _replay(terminal, txn_id, amount)
    if replay is not None:
        return replay
    try:
        return _authorize(terminal=terminal, txn_id=txn_id, amount=amount, code=code, nfc_uid=nfc_uid,
                          password=password)
    except _WrongPassword as wrong:
        left = _count_wrong_password(wrong.person_id, wrong.day)
        raise DomainError("payment_password_incorrect", left=left)
    except DomainError:
        # A concurrent duplicate of this txn may have won the one-time code: answer with its payment.
        replay = _replay(terminal, txn_id, amount)
        if replay is None:
            raise
        return replay
    except IntegrityError:  # the same transaction id committed concurrently
        replay = _replay(terminal, txn_id, amount)
        if replay is None:
            raise
        return replay


def _replay(terminal: Terminal, txn_id: str, amount: int) -> Payment | None:
    payment = Payment.objects.filter(terminal=terminal, txn_id=txn_id).first()
    if payment is not None and payment.amount != amount:
        raise DomainError("payment_txn_reused")
    return payment


def _count_wrong_password(person_id: int, day: dt.date) -> int:
    """Kept even though the payment is refused: five in a day lock password payments (PAY-3)."""
    with transaction.atomic():
        usage, _created = DailyUsage.objects.select_for_update().get_or_create(person_id=person_id, day=day)
        usage.wrong_passwords = F("wrong_passwords") + 1
        usage.save(update_fields=["wrong_passwords"])
        usage.refresh_from_db()
    return max(0, settings.PAYMENT_PASSWORD_MAX_WRONG - usage.wrong_passwords)


@money_transaction
def _authorize(*, terminal: Terminal, txn_id: str, amount: int, code: str, nfc_uid: str,
               password: str | None) -> Payment:
    merchant = terminal.merchant
    institution = merchant.institution
    if code:
        presented = codes.code_accept(institution_id=institution.pk, code=code)
    else:
        presented = codes.nfc_accept(institution_id=institution.pk, uid=nfc_uid)
    card, person = presented.card, presented.card.person
    if "pay" not in CAPABILITIES[card.kind]:
        raise DomainError("payment_not_allowed")
    today = clock.local_date(institution)
    usage, _created = DailyUsage.objects.select_for_update().get_or_create(person=person, day=today)
    if amount > settings.PASSWORD_FREE_LIMIT_FEN:
        _check_password(presented, person, usage, password)
    limit = daily_limit_of(person)
    if usage.spent + amount > limit:
        raise DomainError("daily_limit_exceeded", remaining=format_fen(max(0, limit - usage.spent)))
    usage.spent += amount
    usage.save(update_fields=["spent", "wrong_passwords"])
    result = ledger.transfer_create(
        key=f"pos:{terminal.pk}:{txn_id}", debit=ledger.AccountRef(card.wallet_account_id, institution.pk, 1),
        credit=_merchant_ref(merchant), amount=amount, kind="payment", reference=f"{merchant.name} {txn_id}",
        metadata={"merchant": merchant.pk, "terminal": terminal.pk})
    method = Payment.Method.OFFLINE if presented.offline else presented.credential.kind
    return Payment.objects.create(
        institution=institution, terminal=terminal, merchant=merchant, person=person, card=card, txn_id=txn_id,
        amount=amount, method=method, transfer_id=result.id, balance_after=result.debit_balance or 0,
        created_at=result.created_at)


def _check_password(presented, person: Person, usage: DailyUsage, password: str | None) -> None:
    if presented.offline:
        raise DomainError("offline_code_over_limit", limit=format_fen(settings.PASSWORD_FREE_LIMIT_FEN))
    if not person.payment_password:
        raise DomainError("payment_password_unset")
    if usage.wrong_passwords >= settings.PAYMENT_PASSWORD_MAX_WRONG:
        raise DomainError("payment_password_locked")
    if password_due(person):
        raise DomainError("payment_password_expired")
    if password is None or password == "":
        raise DomainError("payment_password_required", limit=format_fen(settings.PASSWORD_FREE_LIMIT_FEN))
    if not payment_password_verify(person=person, secret=password):
        raise _WrongPassword(person.pk, usage.day)
    usage.wrong_passwords = 0  # "consecutive": a right password starts the count again


def _merchant_ref(merchant: Merchant) -> ledger.AccountRef:
    return ledger.AccountRef.of(merchant.account)


def payment_password_unlock(*, actor, person: Person) -> None:
    """At the service window: clear today's wrong-password count (PAY-3)."""
    DailyUsage.objects.filter(person=person, day=clock.local_date(person.institution)).update(wrong_passwords=0)
    audit_record(actor=actor, action="payment_password_unlocked", obj=person, institution_id=person.institution_id)


def merchant_open(*, actor, institution, code: str, name: str, category: str, building=None,
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
def payment_refund(*, actor, payment: Payment, amount: int | None = None, reason: str = "",
                   kind: str = Refund.Kind.REFUND, key: str = "") -> Refund:
    """``key`` makes a resend (double click, network retry) return the first refund instead of a second."""
    reason = str(reason)
    payment = Payment.objects.select_for_update().select_related("institution", "person").get(pk=payment.pk)
    if key:
        earlier = Refund.objects.filter(payment=payment, key=key).first()
        if earlier is not None:
            if amount is not None and amount != earlier.amount:
                raise DomainError("idempotency_key_reused")
            return earlier
    if kind == Refund.Kind.REFUND and (clock.local_date(payment.institution, payment.created_at)
                                       != clock.local_date(payment.institution)):
        raise DomainError("refund_window_closed")
    left = payment.amount - payment.refunded
    amount = left if amount is None else amount
    if not isinstance(amount, int) or amount <= 0 or amount > left:
        raise DomainError("refund_exceeds_payment", left=format_fen(left))
    number = payment.refunds.count() + 1
    transfer_key = f"refund:{payment.pk}:key:{key}" if key else f"refund:{payment.pk}:{number}"
    result = ledger.transfer_reverse(key=transfer_key, original_id=payment.transfer_id,
                                     amount=amount, kind="refund", reference=payment.txn_id)
    payment.refunded += amount
    payment.save(update_fields=["refunded"])
    refund = Refund.objects.create(payment=payment, kind=kind, amount=amount, transfer_id=result.id,
                                   reason=reason[:200], key=key[:80], created_at=clock.now())
    audit_record(actor=actor, action=f"payment_{kind}", obj=payment, institution_id=payment.institution_id,
                 after={"amount": amount, "reason": reason})
    return refund


def appeal_open(*, actor, person: Person, payment: Payment, reason: str) -> Appeal:
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


def appeal_decide(*, actor, appeal: Appeal, accept: bool, reason: str = "") -> Appeal:
    """The merchant or the Card Center decides; an accepted appeal refunds by a reversing transfer."""
    if not accept and not reason.strip():
        raise DomainError("decision_reason_required")
    with transaction.atomic():
        appeal = Appeal.objects.select_for_update().select_related("payment__person").get(pk=appeal.pk)
        if appeal.state != Appeal.State.OPEN:
            raise DomainError("appeal_not_open")
        appeal.state = Appeal.State.ACCEPTED if accept else Appeal.State.REJECTED
        appeal.decision, appeal.decided_at = reason.strip()[:300], clock.now()
        appeal.decided_by = actor if hasattr(actor, "is_authenticated") else None
        appeal.save()
        audit_record(actor=actor, action="appeal_accepted" if accept else "appeal_rejected", obj=appeal,
                     institution_id=appeal.payment.institution_id, after={"reason": appeal.decision})
    if accept and appeal.payment.amount > appeal.payment.refunded:
        payment_refund(actor=actor, payment=appeal.payment, reason=_("appeal accepted"), kind=Refund.Kind.APPEAL)
    notify(person=appeal.payment.person, kind=Notification.Kind.APPEAL, title=_("Your appeal was decided"),
           body=_("Appeal about %(merchant)s %(amount)s: %(state)s. %(reason)s"),
           params={"merchant": appeal.payment.merchant.name, "amount": format_fen(appeal.payment.amount),
                   "state": Appeal.State(appeal.state).label, "reason": appeal.decision}, link="/payments/")
    return appeal
