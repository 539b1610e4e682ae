"""Reads of transit: a holder's bindings and rides, an operator's daily clearing file reconciled with the
ledger, taps per route by hour (the back office's chart)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractHour
from django.utils.translation import gettext as _

from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.exports import SafeCsvWriter, xlsx_append
from campuscard.core.permissions import restrict
from campuscard.identity.models import Person
from campuscard.ledger.models import Transfer
from campuscard.payments.settlement import Period
from campuscard.transit.models import Binding, Dispute, Operator, OperatorStaff, Tap

FARE_KIND = "transit_fare"


def bindings_of(person: Person) -> QuerySet[Binding]:
    return Binding.objects.filter(person=person).select_related("card").order_by("-created_at")


def rides_of(person: Person, limit: int = 100) -> list[Tap]:
    # by the holder's cards (the taps' card index): an index on the person too would be one more insert per tap
    cards = list(Card.objects.filter(person=person).values_list("pk", flat=True))
    return list(Tap.objects.filter(card_id__in=cards).select_related("route", "operator", "card")
                .select_related("dispute").order_by("-tapped_at")[:limit])


def ride_of(person: Person, pk: int) -> Tap | None:
    return Tap.objects.filter(person=person, pk=pk).select_related("route", "operator").first()


# --- who sees which operator ------------------------------------------------------------------------

def operator_of_user(user) -> Operator | None:
    """The operator a bus-operator login works for (None for everyone else)."""
    staff = OperatorStaff.objects.select_related("operator").filter(user_id=getattr(user, "pk", None)).first()
    return staff.operator if staff else None


def operators_visible(user) -> QuerySet[Operator]:
    """A bus operator's own operator; the Card Center's staff every operator of their institution."""
    if not getattr(user, "is_authenticated", False):
        return Operator.objects.none()
    mine = operator_of_user(user)
    if mine is not None:
        return Operator.objects.filter(pk=mine.pk)
    if not user.has_perm("transit.view_tap"):
        return Operator.objects.none()
    return restrict(Operator.objects.all(), user)


def taps_visible(user) -> QuerySet[Tap]:
    return Tap.objects.filter(operator__in=operators_visible(user))


def disputes_visible(user) -> QuerySet[Dispute]:
    return Dispute.objects.filter(tap__operator__in=operators_visible(user))


# --- the clearing file -------------------------------------------------------------------------------

@dataclass
class Clearing:
    operator: Operator
    day: dt.date
    taps: list[Tap] = field(default_factory=list)
    count: int = 0
    fares: int = 0  # charged fares posted that day (fen)
    refunds: int = 0  # accepted disputes refunded that day
    ledger_fares: int = 0  # the ledger's credits to the operator's clearing account that day
    ledger_refunds: int = 0
    flagged: int = 0
    refused: int = 0

    @property
    def net(self) -> int:
        return self.fares - self.refunds

    @property
    def reconciled(self) -> bool:
        return self.fares == self.ledger_fares and self.refunds == self.ledger_refunds


def clearing(operator: Operator, day: dt.date | None = None, *, with_taps: bool = True) -> Clearing:
    """The operator's daily clearing file (by the day a tap was POSTED, as the ledger books it) and the
    ledger's own totals for the same day and account: they must be equal (LED-5)."""
    day = day or clock.local_date(operator.institution)
    start, end = Period.day(operator.institution, day).bounds
    posted = Tap.objects.filter(operator=operator, posted_at__gte=start, posted_at__lt=end)
    result = Clearing(operator=operator, day=day)
    totals = posted.aggregate(
        count=Count("pk", filter=Q(state=Tap.State.CHARGED)),
        fares=Coalesce(Sum("fare", filter=Q(state=Tap.State.CHARGED)), 0),
        flagged=Count("pk", filter=~Q(flagged="")), refused=Count("pk", filter=Q(state=Tap.State.REFUSED)))
    result.count, result.fares, result.flagged, result.refused = (totals["count"], totals["fares"],
                                                                  totals["flagged"], totals["refused"])
    result.refunds = (Dispute.objects.filter(tap__operator=operator, state=Dispute.State.ACCEPTED,
                                             decided_at__gte=start, decided_at__lt=end)
                      .aggregate(t=Coalesce(Sum("tap__fare"), 0))["t"])
    journal = Transfer.objects.filter(institution_id=operator.institution_id, created_at__gte=start,
                                      created_at__lt=end)
    result.ledger_fares = journal.filter(credit_id=operator.clearing_account_id, kind=FARE_KIND).aggregate(
        t=Coalesce(Sum("amount"), 0))["t"]
    result.ledger_refunds = journal.filter(debit_id=operator.clearing_account_id,
                                           kind=f"{FARE_KIND}_reversal").aggregate(t=Coalesce(Sum("amount"), 0))["t"]
    if with_taps:
        result.taps = list(posted.select_related("route", "card", "device").order_by("posted_at", "device_id",
                                                                                         "counter"))
    return result


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _headers() -> list[str]:
    return [_("Posted at"), _("Tapped at"), _("Validator"), _("Counter"), _("Route"), _("Card"), _("Fare class"),
            _("Fare (¥)"), _("State"), _("Flag"), _("Ledger transfer")]


def _rows(c: Clearing) -> list[list]:
    zone = clock.zone(c.operator.institution.time_zone)
    rows: list[list] = [[t.posted_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                         t.tapped_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), t.device.code, t.counter,
                         t.route.code, t.card.number if t.card else t.nfc_uid, t.get_fare_class_display(),
                         _yuan(t.fare if t.state == Tap.State.CHARGED else 0), t.get_state_display(),
                         t.flagged or t.refusal, t.transfer_id or ""] for t in c.taps]
    rows.append([c.day.isoformat(), "", "", c.count, "", "", _("Total"), _yuan(c.fares), "", "", ""])
    rows.append([c.day.isoformat(), "", "", "", "", "", _("Refunded (disputes)"), _yuan(c.refunds), "", "", ""])
    rows.append([c.day.isoformat(), "", "", "", "", "", _("Net"), _yuan(c.net), "", "", ""])
    return rows


def clearing_filename(c: Clearing, extension: str) -> str:
    return f"transit-clearing-{c.operator.code}-{c.day.isoformat()}.{extension}"


def clearing_csv(c: Clearing) -> bytes:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(_headers())
    for row in _rows(c):
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def clearing_xlsx(c: Clearing) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = _("Clearing")[:31]
    xlsx_append(sheet, _headers())
    for row in _rows(c):
        xlsx_append(sheet, row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def taps_by_route_hour(operators: QuerySet[Operator], day: dt.date, institution) -> list[dict]:
    """Charged rides per route and local hour of the tap (the back office's chart)."""
    start, end = Period.day(institution, day).bounds
    zone = clock.zone(institution.time_zone)
    rows = (Tap.objects.filter(operator__in=operators, state=Tap.State.CHARGED, tapped_at__gte=start,
                               tapped_at__lt=end)
            .annotate(hour=ExtractHour("tapped_at", tzinfo=zone)).values("route__code", "hour")
            .annotate(n=Count("pk")).order_by("route__code", "hour"))
    routes: dict[str, list[int]] = {}
    for row in rows:
        routes.setdefault(row["route__code"], [0] * 24)[row["hour"]] = row["n"]
    top = max((n for hours in routes.values() for n in hours), default=0) or 1
    return [{"route": code, "hours": [{"hour": h, "n": n, "pct": round(100 * n / top)} for h, n in enumerate(hours)],
             "total": sum(hours)} for code, hours in routes.items()]
