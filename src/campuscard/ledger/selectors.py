"""Ledger reads: balances and journals with running balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Case, F, Q, Sum, When, Window
from django.db.models.functions import Coalesce

from campuscard.ledger.models import Account, Balance, CheckRun, Transfer

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class JournalFields(TypedDict):
    """What ``journal`` adds to each transfer: signed for the account (+ in, − out) and the running balance."""

    signed: int
    window: int
    running: int


Phase = Transfer.Phase
MOVES_MONEY = (Phase.POSTED, Phase.POST)


@dataclass(frozen=True)
class Balances:
    posted: int  # credits_posted − debits_posted
    pending_debits: int  # held, not yet taken
    pending_credits: int  # on the way in (e.g. a gateway recharge not yet confirmed)

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits


def account_balances(*, account_id: int) -> Balances:
    sums = Balance.objects.filter(account_id=account_id).aggregate(
        dp=Coalesce(Sum("debits_posted"), 0), cp=Coalesce(Sum("credits_posted"), 0),
        dq=Coalesce(Sum("debits_pending"), 0), cq=Coalesce(Sum("credits_pending"), 0))
    return Balances(posted=sums["cp"] - sums["dp"], pending_debits=sums["dq"], pending_credits=sums["cq"])


@dataclass(frozen=True)
class AccountState:
    open: bool
    spendable: int  # what a debit may take now without crossing the floor (LED-3)


def account_state(*, account_id: int) -> AccountState:
    """Whether the account takes transfers, and how much a debit may take from it."""
    account = Account.objects.only("status", "floor").get(pk=account_id)
    available = account_balances(account_id=account_id).available
    spendable = available - account.floor if account.floor is not None else 2**62
    return AccountState(open=account.status == Account.Status.OPEN, spendable=spendable)


def _signed(account_id: int):
    return Case(When(credit_id=account_id, then=F("amount")), default=-F("amount"))


def _moves(account_id: int):
    return Transfer.objects.filter(Q(debit_id=account_id) | Q(credit_id=account_id), phase__in=MOVES_MONEY)


def journal(*, account_id: int, since: datetime | None = None, until: datetime | None = None,
            limit: int | None = None) -> list[WithAnnotations[Transfer, JournalFields]]:
    """Money-moving rows of one account, newest first, each with ``signed`` and ``running`` balance.

    The running balance is the opening balance (everything before ``since``) plus a window sum.
    """
    rows = _moves(account_id)
    opening = 0
    if since is not None:
        opening = (rows.filter(created_at__lt=since).aggregate(s=Coalesce(Sum(_signed(account_id)), 0))["s"])
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    rows = (rows.select_related("debit", "credit")
            .annotate(signed=_signed(account_id), window=Window(Sum(_signed(account_id)), order_by=F("id").asc()))
            .order_by("-id"))
    result = list(rows[:limit] if limit else rows)
    for row in result:
        row.running = opening + row.window
    return result


def pending_holds(*, account_id: int) -> list[Transfer]:
    """Unresolved holds touching an account (money on its way in or out)."""
    return list(Transfer.objects.filter(Q(debit_id=account_id) | Q(credit_id=account_id), phase=Phase.PENDING)
                .exclude(resolutions__phase__in=[Phase.POST, Phase.VOID]).order_by("-id"))


def accounts_of_owner(*, owner: str):
    return Account.objects.filter(owner=owner).order_by("id")


def last_runs() -> dict[str, CheckRun | None]:
    """The latest reconciliation and verification, for the back-office dashboard."""
    return {kind: CheckRun.objects.filter(kind=kind).order_by("-started_at").first() for kind in ("check", "verify")}
