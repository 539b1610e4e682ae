"""The payment rulebook (PAY-1 … PAY-3, CARD-4, CARD-9, LED-3): one pure function over facts.

``authorize`` decides every charge to a wallet — a POS payment today, laundry, electricity, fares and
rentals later — from facts its caller gathered; it reads no database and no clock. The ordinary path
(``payments.pos``) gathers the facts under its locks and calls it; the one-statement fast path
(``payments.fastpath``) is built from the same constants (``cards.policy``, the limits below) and hands
everything it cannot decide alone to the ordinary path. ``tests/payments/test_differential.py`` runs
one case matrix through both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from campuscard.cards.policy import can, state_refusal
from campuscard.core.money import format_fen


@dataclass(frozen=True)
class PaymentFacts:
    """What a charge is decided on. ``password_ok`` is asked only when the amount needs the password
    (an Argon2 check is not spent on a payment that is refused anyway)."""

    amount: int
    now: dt.datetime
    device_live: bool
    credential_active: bool
    same_institution: bool
    card_state: str
    card_kind: str
    offline_code: bool
    spent_today: int
    daily_limit: int
    wrong_passwords_today: int
    password_set: bool
    password_changed_at: dt.datetime | None
    password_given: bool
    wallet_open: bool
    available: int
    password_ok: Callable[[], bool] = field(default=lambda: False, compare=False)


@dataclass(frozen=True)
class Decision:
    """``code`` None: authorised. Otherwise the refusal's stable code and its message's parameters.
    ``password_checked``: a right password was given (it resets the day's wrong count, PAY-3)."""

    code: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    password_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.code is None


def needs_password(amount: int) -> bool:
    """PAY-3: above the password-free amount the payment password is asked."""
    return amount > settings.PASSWORD_FREE_LIMIT_FEN


def password_due(changed_at: dt.datetime | None, now: dt.datetime) -> bool:
    """PAY-3: the payment password must be changed every month."""
    return changed_at is None or now - changed_at > dt.timedelta(days=settings.PAYMENT_PASSWORD_MAX_AGE_DAYS)


def wrong_passwords_left(wrong_so_far: int) -> int:
    return max(0, settings.PAYMENT_PASSWORD_MAX_WRONG - wrong_so_far)


def authorize(facts: PaymentFacts) -> Decision:
    """Authorise a charge or say why not; the first rule that refuses gives the code."""
    if not facts.device_live:
        return Decision("device_revoked")
    if not facts.credential_active:
        return Decision("credential_unknown")
    if not facts.same_institution:
        return Decision("credential_other_institution")
    if refusal := state_refusal(facts.card_state):
        return Decision(refusal)
    if not can(facts.card_kind, "pay"):
        return Decision("payment_not_allowed")
    checked = False
    if needs_password(facts.amount):
        free = format_fen(settings.PASSWORD_FREE_LIMIT_FEN)
        if facts.offline_code:
            return Decision("offline_code_over_limit", {"limit": free})
        if not facts.password_set:
            return Decision("payment_password_unset")
        if facts.wrong_passwords_today >= settings.PAYMENT_PASSWORD_MAX_WRONG:
            return Decision("payment_password_locked")
        if password_due(facts.password_changed_at, facts.now):
            return Decision("payment_password_expired")
        if not facts.password_given:
            return Decision("payment_password_required", {"limit": free})
        if not facts.password_ok():
            return Decision("payment_password_incorrect",
                            {"left": wrong_passwords_left(facts.wrong_passwords_today + 1)})
        checked = True
    if facts.spent_today + facts.amount > facts.daily_limit:
        return Decision("daily_limit_exceeded",
                        {"remaining": format_fen(max(0, facts.daily_limit - facts.spent_today))})
    if not facts.wallet_open:
        return Decision("account_closed")
    if facts.amount > facts.available:
        return Decision("insufficient_funds", {"available": format_fen(facts.available)})
    return Decision(password_checked=checked)


# --- offline transit taps (TRN-2, LED-3) ------------------------------------------------------------
# A bus validator decided on the bus with no network; the tap is charged when its batch is uploaded.
# Which checks apply to a tap, written once here: no payment password (nobody types one on a bus), no
# daily limit (a fare is not spending the holder chose), the card state is not a refusal (a tap by a card
# that was lost after the validator's last sync is charged and flagged, never lost: CARD-4 reaches the
# validator on its deny-list), and the wallet may go below zero by at most ``tap_fares_below_zero()``
# fares — an allowance of that tap alone, counted from the wallet's own floor, never a lower floor for any
# other payment (``ledger.batch`` applies it per debit; a ¥1 canteen payment on ¥0.50 is still refused).


def tap_fares_below_zero() -> int:
    """TRN-2 *(our default 1)*: how many fares a tap may take the wallet below zero."""
    return int(getattr(settings, "TRANSIT_FARES_BELOW_ZERO", 1))


@dataclass(frozen=True)
class TapFacts:
    """What an uploaded tap is charged on (gathered by ``transit.services`` for the whole batch)."""

    amount: int
    credential_known: bool
    same_institution: bool
    card_kind: str
    wallet_open: bool
    available: int = 0
    floor: int = 0


def tap_refusal(facts: TapFacts) -> Decision:
    """The checks of a tap that do not read the balance (a batch decides the balance as a set)."""
    if not facts.credential_known:
        return Decision("credential_unknown")
    if not facts.same_institution:
        return Decision("credential_other_institution")
    if not can(facts.card_kind, "pay"):
        return Decision("payment_not_allowed")
    if not facts.wallet_open:
        return Decision("account_closed")
    return Decision()


def authorize_tap(facts: TapFacts) -> Decision:
    """Charge an offline tap or say why not; the first rule that refuses gives the code. The balance rule
    is the one ``ledger.batch.debits_settle`` applies to a whole batch as a set, with this same number
    (``tap_fares_below_zero``): the wallet must not be below its floor before the tap."""
    if not (decision := tap_refusal(facts)).ok:
        return decision
    if facts.available - facts.amount < facts.floor - tap_fares_below_zero() * facts.amount:
        return Decision("tap_allowance_used", {"available": format_fen(facts.available)})
    return Decision()
