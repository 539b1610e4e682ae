"""Reads for the holder's wallet and the back office's recharge reports."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from campuscard.cards import codes
from campuscard.cards.models import Card, Credential
from campuscard.core import clock
from campuscard.core.dbrouter import lagging_reads
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.identity.models import Person
from campuscard.ledger.models import Account, Transfer
from campuscard.ledger.selectors import Balances, account_balances, journal, pending_holds
from campuscard.payments.models import DailyUsage, Payment, RechargeOrder

KIND_LABELS = {
    "recharge_window": _("Recharge (service window)"), "recharge_kiosk": _("Recharge (kiosk)"),
    "recharge_online": _("Recharge (online)"), "payment": _("Payment"), "refund": _("Refund"),
    "fee": _("Fee"), "transit": _("Bus"), "utilities": _("Dorm electricity"), "laundry": _("Laundry"),
    "balance_move": _("Balance moved"), "migration": _("Meal-card migration"),
}


def pay_code_status(*, credential: Credential, code: str) -> dict:
    """Whether the code a pay-code page shows was used, and the payment it made, as the page shows it
    (like the big wallets do) before the step's next code (#17). The API's holder endpoint and the device
    lane's ticket endpoint both answer with this."""
    card = credential.card
    if card.state != Card.State.ACTIVE or not credential.active:
        return {"used": True}
    if not codes.code_was_used(credential=credential, code=code):
        return {"used": False}
    since = clock.now() - dt.timedelta(seconds=settings.QR_VALID_SECONDS + settings.QR_STEP_SECONDS)
    payment = (Payment.objects.select_related("merchant", "institution").filter(card=card, created_at__gte=since)
               .order_by("-created_at").first())
    if payment is None:  # used at a gate, or expired unused: just the next code
        return {"used": True}
    return {"used": True, "payment": {
        "amount": format_fen(payment.amount), "merchant": payment.merchant.name,
        "balance": format_fen(payment.balance_after),
        "at": payment.created_at.astimezone(clock.zone(payment.institution.time_zone)).strftime("%H:%M:%S")}}


def wrong_passwords_today(*, person: Person) -> int:
    """Wrong payment passwords today in the holder's time zone (PAY-3: at the limit, password payments lock)."""
    usage = DailyUsage.objects.filter(person=person, day=clock.local_date(person.institution)).first()
    return usage.wrong_passwords if usage else 0


def kind_label(kind: str) -> str:
    if kind.endswith("_reversal"):
        return f"{KIND_LABELS.get(kind.removesuffix('_reversal'), kind)} ↺"
    return str(KIND_LABELS.get(kind, kind))


def holder_by_number(*, institution_id: int, number: str) -> Person:
    person = Person.objects.filter(institution_id=institution_id, number=number.strip()).first()
    if person is None:
        raise DomainError("holder_not_found")
    return person


def wallet_account(person: Person) -> Account | None:
    """The wallet of the holder's newest live card (a lost or frozen card still holds the money)."""
    card = (Card.objects.filter(person=person, state__in=[Card.State.ACTIVE, Card.State.LOST, Card.State.FROZEN])
            .order_by("-issued_at").first())
    return Account.objects.filter(pk=card.wallet_account_id).first() if card else None


@dataclass
class WalletView:
    account: Account | None
    balances: Balances
    incoming: list[Transfer]  # pending recharges etc.
    outgoing: list[Transfer]  # held payments


def wallet_summary(person: Person) -> WalletView:
    account = wallet_account(person)
    if account is None:
        return WalletView(None, Balances(0, 0, 0), [], [])
    holds = pending_holds(account_id=account.pk)
    return WalletView(account, account_balances(account_id=account.pk),
                      [h for h in holds if h.credit_id == account.pk], [h for h in holds if h.debit_id == account.pk])


def month_bounds(month: str, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """'2026-11' → [start, end) in the institution's zone; anything else is a validation error."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        if not (2000 <= year <= 2100 and 1 <= mon <= 12):
            raise ValueError(month)
    except ValueError:
        raise DomainError("validation_error")
    start = dt.datetime(year, mon, 1, tzinfo=ZoneInfo(time_zone))
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=ZoneInfo(time_zone))
    return start, end


@lagging_reads()  # a report: the replica may answer (core/dbrouter.py)
def statement(person: Person, month: str) -> dict:
    """A monthly statement: opening, closing, totals in and out, and every row with running balance."""
    account = wallet_account(person)
    start, end = month_bounds(month, person.institution.time_zone)
    rows = journal(account_id=account.pk, since=start, until=end) if account else []
    rows.reverse()  # oldest first on a statement
    opening = rows[0].running - rows[0].signed if rows else _balance_before(account, start)
    money_in = sum(r.signed for r in rows if r.signed > 0)
    money_out = -sum(r.signed for r in rows if r.signed < 0)
    for row in rows:
        # The page's two columns, set on the rows it shows (plain attributes, not query annotations).
        row.label = kind_label(row.kind)  # type: ignore[attr-defined]
        row.counterparty = row.debit if account and row.credit_id == account.pk else row.credit  # type: ignore[attr-defined]
    return {"month": month, "start": start, "end": end, "rows": rows, "opening": opening,
            "closing": opening + money_in - money_out, "money_in": money_in, "money_out": money_out}


def _balance_before(account: Account | None, moment: dt.datetime) -> int:
    if account is None:
        return 0
    rows = journal(account_id=account.pk, until=moment, limit=1)
    return rows[0].running if rows else 0


@lagging_reads()  # a report: the replica may answer (core/dbrouter.py)
def spending(person: Person, month: str) -> dict:
    """Where the money went this month: by category, by counterparty, by day (for bar charts)."""
    data = statement(person, month)
    by_kind: dict[str, int] = defaultdict(int)
    by_party: dict[str, int] = defaultdict(int)
    by_day: dict[dt.date, int] = defaultdict(int)
    zone = ZoneInfo(person.institution.time_zone)
    for row in data["rows"]:
        if row.signed >= 0:
            continue
        by_kind[row.label] += -row.signed
        by_party[row.counterparty.name] += -row.signed
        by_day[row.created_at.astimezone(zone).date()] += -row.signed
    return {"month": month, "total": data["money_out"], "by_kind": _bars(by_kind), "by_party": _bars(by_party),
            "by_day": _bars({d.strftime("%m-%d"): v for d, v in sorted(by_day.items())}, sort=False)}


def _bars(values: dict[str, int], sort: bool = True) -> list[dict]:
    items = sorted(values.items(), key=lambda kv: -kv[1]) if sort else list(values.items())
    top = max((v for _k, v in items), default=0) or 1
    return [{"label": k, "amount": v, "percent": round(100 * v / top)} for k, v in items]


@lagging_reads()  # a report: the replica may answer (core/dbrouter.py)
def recharges_by_day(queryset, days: int = 14) -> list[dict]:
    """Recharge totals per day and channel for the back-office chart."""
    rows = (queryset.filter(state=RechargeOrder.State.PAID).annotate(day=TruncDate("completed_at"))
            .values("day", "channel").annotate(total=Sum("amount"), n=Count("id")).order_by("day"))
    return list(rows)[-days * 3:]
