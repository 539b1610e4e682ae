"""Cash at the service windows and in the kiosks (#18 item 8; TOP-1, CARD-5, CARD-9): the end-of-shift
report of a window operator's drawer and the emptying of each kiosk's cash box, both read from the ledger.

How cash is booked today: a cash recharge debits the institution's ``cash_window`` or ``cash_kiosk``
system account (``payments.services.recharge_cash``; its RechargeOrder names the operator or the kiosk); a
replacement fee paid in cash debits the same accounts (``cards.services``: at the window the audit row
names the operator, at a kiosk the fee's ``request_key`` starts with the kiosk's code); a balance refund
paid out in cash at the window credits ``cash_window`` (``cards.services.balance_refund(cash=True)``, the
audit row names the operator). There is one cash account per institution and channel, so each journal
row on it is attributed to its operator or kiosk through those domain rows.

Reconciled with the ledger: every amount in a report is the journal row's; a domain row whose journal row
is missing, on another account or of another amount is listed as a problem, and so is every movement of
the window's cash during a shift that no operator can be found for — a difference is shown, never hidden.
Nothing here posts to the ledger: the count is a fact recorded next to it (docs/decisions.md, "Cash").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from campuscard.cards.models import ReplacementFee
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog, ServicePoint
from campuscard.core.money import format_fen, is_fen
from campuscard.core.permissions import authorize
from campuscard.devices.models import Device
from campuscard.identity.selectors import acting_user
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.models import CashBoxEmptying, CashShift, RechargeOrder

_CARD_KEY = re.compile(r"card:(\d+):(replacement-fee|refund:\d+)")
_AUDIT_OF = {"replacement-fee": "replacement_fee_paid", "refund": "balance_refunded"}
KINDS = {"recharge": _("cash recharge"), "fee": _("fee in cash"), "refund": _("refund paid in cash")}


@dataclass(frozen=True)
class CashLine:
    """One journal row on the cash account: into the drawer (recharge, fee) or out of it (refund)."""

    transfer_id: int
    at: dt.datetime
    kind: str
    amount: int
    reference: str

    @property
    def kind_label(self) -> str:
        return str(KINDS[self.kind])


@dataclass
class CashReport:
    lines: list[CashLine] = field(default_factory=list)
    opening_float: int = 0
    counted: int | None = None
    problems: list[str] = field(default_factory=list)
    unattributed: list[CashLine] = field(default_factory=list)  # the window's cash moved, nobody's shift

    def total(self, kind: str) -> int:
        return sum(line.amount for line in self.lines if line.kind == kind)

    @property
    def recharges(self) -> int:
        return self.total("recharge")

    @property
    def fees(self) -> int:
        return self.total("fee")

    @property
    def refunds(self) -> int:
        return self.total("refund")

    @property
    def expected(self) -> int:
        return self.opening_float + self.recharges + self.fees - self.refunds

    @property
    def difference(self) -> int | None:
        return None if self.counted is None else self.counted - self.expected

    def as_dict(self) -> dict:
        return {"opening_float": self.opening_float, "recharges": self.recharges, "fees": self.fees,
                "refunds": self.refunds, "expected": self.expected, "counted": self.counted,
                "difference": self.difference, "problems": self.problems,
                "lines": [{"transfer": line.transfer_id, "at": line.at.isoformat(), "kind": line.kind,
                           "amount": line.amount, "reference": line.reference} for line in self.lines],
                "unattributed": [line.transfer_id for line in self.unattributed]}


# --- the ledger's side ---------------------------------------------------------------------------------

def _cash_account(institution_id: int, kind: str) -> int | None:
    return Account.objects.filter(institution_id=institution_id, code=f"sys:{kind}").values_list("pk", flat=True).first()


def _moves(account_id: int, start: dt.datetime | None, end: dt.datetime | None) -> list[dict]:
    rows = Transfer.objects.filter(Q(debit_id=account_id) | Q(credit_id=account_id),
                                   phase__in=[Transfer.Phase.POSTED, Transfer.Phase.POST])
    if start is not None:
        rows = rows.filter(created_at__gt=start)
    if end is not None:
        rows = rows.filter(created_at__lte=end)
    return list(rows.order_by("created_at", "id").values("id", "key", "kind", "amount", "debit_id", "created_at",
                                                         "reference"))


def _line(move: dict, account_id: int) -> CashLine:
    # into the drawer: a fee or a recharge; out of it: a refund
    kind = ("fee" if move["kind"] == "fee" else "recharge") if move["debit_id"] == account_id else "refund"
    return CashLine(move["id"], move["created_at"], kind, move["amount"], move["reference"])


def _window_operators(institution_id: int, moves: list[dict]) -> dict[int, int | None]:
    """Journal row id → the operator who took or paid out the cash (RechargeOrder.operator, or the audit row
    of the fee or refund, nearest in time)."""
    ids = [move["id"] for move in moves]
    who: dict[int, int | None] = dict(RechargeOrder.objects.filter(
        institution_id=institution_id, channel=RechargeOrder.Channel.WINDOW, transfer_id__in=ids)
        .values_list("transfer_id", "operator_id"))
    by_card: dict[str, list[tuple[dict, str]]] = {}
    for move in moves:
        match = _CARD_KEY.fullmatch(move["key"])
        if match:
            by_card.setdefault(match[1], []).append((move, _AUDIT_OF[match[2].split(":")[0]]))
    if by_card:
        audits: dict[tuple[str, str], list[tuple[dt.datetime, int | None]]] = {}
        for card_id, action, actor_id, at in AuditLog.objects.filter(
                institution_id=institution_id, object_type="cards.card", object_id__in=list(by_card),
                action__in=list(_AUDIT_OF.values())).values_list("object_id", "action", "actor_id", "at"):
            audits.setdefault((card_id, action), []).append((at, actor_id))
        for card_id, found in by_card.items():
            for move, action in found:
                candidates = audits.get((card_id, action), [])
                if candidates:
                    who[move["id"]] = min(candidates, key=lambda c: abs((c[0] - move["created_at"]).total_seconds()))[1]
    return who


def _kiosk_rows(device: Device):
    recharges = RechargeOrder.objects.filter(institution_id=device.institution_id, device=device,
                                             channel=RechargeOrder.Channel.KIOSK, transfer_id__isnull=False)
    fees = ReplacementFee.objects.filter(old_card__institution_id=device.institution_id,
                                         method=ReplacementFee.Method.CASH_KIOSK, transfer_id__isnull=False,
                                         request_key__startswith=f"{device.code}:")
    return recharges, fees


def _kiosk_totals(device: Device, account_id: int | None) -> tuple[int, int]:
    """Everything the ledger has booked to this kiosk's cash so far: (recharges, fees)."""
    if account_id is None:
        return 0, 0
    recharges, fees = _kiosk_rows(device)
    total = Coalesce(Sum("amount"), 0)
    recharged, feed = (Transfer.objects.filter(debit_id=account_id, id__in=rows.values("transfer_id"))
                       .aggregate(t=total)["t"] for rows in (recharges, fees))
    return recharged, feed


def _check_rows(report: CashReport, rows: list[tuple[str, int | None, int]], lines: dict[int, CashLine]) -> None:
    """Each domain row (what, transfer id, amount) must have its journal row on the cash account, same amount."""
    for what, transfer_id, amount in rows:
        line = lines.get(transfer_id or 0)
        if line is None:
            report.problems.append(str(_("%(what)s: no journal row on the cash account (transfer %(id)s)")
                                       % {"what": what, "id": transfer_id}))
        elif line.amount != amount:
            report.problems.append(str(_("%(what)s: %(amount)s, but the journal says %(ledger)s")
                                       % {"what": what, "amount": format_fen(amount), "ledger": format_fen(line.amount)}))


# --- reports (reads) -----------------------------------------------------------------------------------

def cash_shift_report(*, shift: CashShift, until: dt.datetime | None = None) -> CashReport:
    """The operator's cash over the shift (to its end, or ``until``/now while it is open), from the ledger."""
    end = shift.closed_at or until or clock.now()
    report = CashReport(opening_float=shift.opening_float, counted=shift.counted)
    account = _cash_account(shift.institution_id, Account.Kind.CASH_WINDOW)
    if account is None:
        return report
    moves = _moves(account, shift.opened_at, end)
    who = _window_operators(shift.institution_id, moves)
    for move in moves:
        line = _line(move, account)
        if move["id"] not in who or who[move["id"]] is None:
            report.unattributed.append(line)
        elif who[move["id"]] == shift.operator_id:
            report.lines.append(line)
    mine = {line.transfer_id: line for line in report.lines}
    _check_rows(report, [(str(_("recharge %(no)s") % {"no": no}), transfer_id, amount) for no, transfer_id, amount in
                         RechargeOrder.objects.filter(
                             institution_id=shift.institution_id, channel=RechargeOrder.Channel.WINDOW,
                             operator_id=shift.operator_id, state=RechargeOrder.State.PAID,
                             completed_at__gt=shift.opened_at, completed_at__lte=end)
                         .values_list("order_no", "transfer_id", "amount")], mine)
    if shift.state == CashShift.State.CLOSED and shift.expected != report.expected:
        report.problems.append(str(_("The ledger now says %(now)s was expected; %(then)s was frozen at the close.")
                                   % {"now": format_fen(report.expected), "then": format_fen(shift.expected or 0)}))
    return report


def cash_box_report(*, emptying: CashBoxEmptying) -> CashReport:
    """One emptying: the kiosk's journal rows since the previous emptying, and the count."""
    report = CashReport(counted=emptying.counted)
    account = _cash_account(emptying.institution_id, Account.Kind.CASH_KIOSK)
    if account is not None:
        report.lines = _kiosk_lines(emptying.device, account, emptying.since, emptying.emptied_at)
    if emptying.expected != report.expected:
        # a row committed after the previous emptying but stamped before it: expected now, listed then
        report.problems.append(str(_("Rows booked around the previous emptying: expected %(expected)s, listed %(listed)s.")
                                   % {"expected": format_fen(emptying.expected), "listed": format_fen(report.expected)}))
    return report


def _kiosk_lines(device: Device, account: int, start: dt.datetime | None, end: dt.datetime | None) -> list[CashLine]:
    moves = _moves(account, start, end)
    ids = [move["id"] for move in moves]
    recharges, fees = _kiosk_rows(device)
    own = set(recharges.filter(transfer_id__in=ids).values_list("transfer_id", flat=True)) | set(
        fees.filter(transfer_id__in=ids).values_list("transfer_id", flat=True))
    return [_line(move, account) for move in moves if move["id"] in own]


# --- writes --------------------------------------------------------------------------------------------

def _amount(value: object) -> int:
    if not is_fen(value) or value < 0:  # type: ignore[operator]
        raise DomainError("cash_amount_invalid")
    return value  # type: ignore[return-value]


def cash_shift_open(*, actor: Actor, service_point: ServicePoint | None = None, opening_float: int = 0) -> CashShift:
    """The operator starts a shift at a service window with ``opening_float`` fen of change in the drawer."""
    user = acting_user(actor)
    if user is None or not user.institution_id:
        raise DomainError("forbidden")
    authorize(user, "payments.add_cashshift", user.institution_id)
    opening_float = _amount(opening_float)
    if service_point is not None and (service_point.kind != ServicePoint.Kind.WINDOW
                                      or service_point.area.campus.institution_id != user.institution_id):
        raise DomainError("cash_window_invalid")
    try:
        with transaction.atomic():
            shift = CashShift.objects.create(institution_id=user.institution_id, operator=user,
                                             service_point=service_point, opened_at=clock.now(),
                                             opening_float=opening_float)
            audit_record(actor=actor, action="cash_shift_opened", obj=shift, institution_id=shift.institution_id,
                         after={"opening_float": opening_float})
    except IntegrityError:
        raise DomainError("cash_shift_already_open")
    return shift


def cash_shift_close(*, actor: Actor, shift: CashShift, counted: int, note: str = "") -> CashShift:
    """End the shift with the drawer's count: the ledger's totals are frozen with it, and the difference."""
    user = acting_user(actor)
    if user is None:
        raise DomainError("forbidden")
    if shift.operator_id != user.pk:  # someone else's drawer: a supervisor's right
        authorize(user, "payments.change_cashshift", shift.institution_id)
    else:
        authorize(user, "payments.add_cashshift", shift.institution_id)
    counted = _amount(counted)
    with transaction.atomic():
        shift = CashShift.objects.select_for_update().get(pk=shift.pk)
        if shift.state != CashShift.State.OPEN:
            raise DomainError("cash_shift_not_open")
        now = clock.now()
        report = cash_shift_report(shift=shift, until=now)
        shift.state, shift.closed_at, shift.closed_by = CashShift.State.CLOSED, now, user
        shift.recharges, shift.fees, shift.refunds = report.recharges, report.fees, report.refunds
        shift.expected, shift.counted, shift.note = report.expected, counted, str(note)[:200]
        shift.save()
        audit_record(actor=actor, action="cash_shift_closed", obj=shift, institution_id=shift.institution_id,
                     after={"expected": shift.expected, "counted": counted, "difference": shift.difference})
    return shift


def cash_box_empty(*, actor: Actor, device: Device, counted: int, note: str = "") -> CashBoxEmptying:
    """A kiosk's box emptied and counted: expected is what the ledger booked to it since the last emptying."""
    user = acting_user(actor)
    if user is None:
        raise DomainError("forbidden")
    authorize(user, "payments.add_cashboxemptying", device.institution_id)
    if device.kind != Device.Kind.KIOSK:
        raise DomainError("cash_kiosk_invalid")
    counted = _amount(counted)
    account = _cash_account(device.institution_id, Account.Kind.CASH_KIOSK)
    try:
        with transaction.atomic():
            last = CashBoxEmptying.objects.filter(device=device).order_by("-sequence").first()
            recharges_total, fees_total = _kiosk_totals(device, account)
            recharges = recharges_total - (last.recharges_total if last else 0)
            fees = fees_total - (last.fees_total if last else 0)
            emptying = CashBoxEmptying.objects.create(
                institution_id=device.institution_id, device=device, sequence=(last.sequence if last else 0) + 1,
                since=last.emptied_at if last else None, emptied_at=clock.now(), emptied_by=user,
                recharges_total=recharges_total, fees_total=fees_total, recharges=recharges, fees=fees,
                expected=recharges + fees, counted=counted, note=str(note)[:200])
            audit_record(actor=actor, action="cash_box_emptied", obj=emptying, institution_id=device.institution_id,
                         after={"kiosk": device.code, "expected": emptying.expected, "counted": counted,
                                "difference": emptying.difference})
    except IntegrityError:
        raise DomainError("cash_box_emptied_meanwhile")
    return emptying
