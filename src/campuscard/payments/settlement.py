"""Settlement (PAY-5): each merchant's daily statement and the Card Center's report across merchants.

A statement line is one merchant on one local day of the institution (its time zone, Asia/Shanghai by
default, decides where a day begins):

* ``takings``  — the sum of the payments made that day,
* ``refunds``  — merchant refunds made that day,
* ``appeals``  — refunds of accepted mistaken-charge appeals made that day (PAY-4),
* ``net = takings − refunds − appeals``, and ``count``, the number of payments.

Refunds count on the day they are made, not on the day of the payment they reverse (an appeal can be
accepted up to three days later): a day's net is exactly what that day moved in and out of the
merchant's takings account, so the statements of all days add up to the account (LED-5).

Everything here reads through the one restriction path (``core.permissions.restrict``: permission and
institution) and, for merchant operators, ``merchant_scope`` on top: they see their merchant only.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils.translation import gettext as _

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.exports import SafeCsvWriter, xlsx_append
from campuscard.core.models import Institution
from campuscard.core.permissions import restrict
from campuscard.core.selectors import institutions_visible
from campuscard.payments.models import Merchant, MerchantStaff, Payment, Refund

MERCHANT_ROLE = "merchant_operator"
MAX_DAYS = 366  # a report covers at most a year
REQUIRED_PERMISSIONS = ("payments.view_merchant", "payments.view_payment", "payments.view_refund")


# --- who sees which merchant ----------------------------------------------------------------------

def is_merchant_operator(user) -> bool:
    """A back-office user with the merchant operator role (platform admins never are)."""
    if user is None or not user.is_authenticated or user.is_superuser:
        return False
    cached = getattr(user, "_merchant_operator", None)
    if cached is None:
        cached = user.groups.filter(name=MERCHANT_ROLE).exists()
        user._merchant_operator = cached
    return cached


def operator_merchant_id(user) -> int | None:
    """The merchant a merchant operator works for (None: not linked, so they see nothing)."""
    return MerchantStaff.objects.filter(user=user).values_list("merchant_id", flat=True).first()


def merchant_scope(queryset: QuerySet, user, path: str = "merchant") -> QuerySet:
    """Narrow an (institution-restricted) queryset to the merchant operator's own merchant.

    ``path`` is the lookup from the queryset's model to the merchant (``"pk"`` for merchants).
    Anyone else is left as ``restrict`` made them: the whole institution.
    """
    if not is_merchant_operator(user):
        return queryset
    merchant_id = operator_merchant_id(user)
    if merchant_id is None:
        return queryset.none()
    return queryset.filter(**{path: merchant_id})


def merchants_visible(user, institution: Institution | None = None) -> QuerySet:
    merchants = merchant_scope(restrict(Merchant.objects.all(), user, "view"), user, "pk")
    if institution is not None:
        merchants = merchants.filter(institution=institution)
    return merchants.order_by("code")


def settlement_allowed(user) -> bool:
    """Settlement reads merchants, payments and refunds; a role lacking one of them gets no report."""
    return bool(user is not None and user.is_authenticated and user.is_active
                and (user.is_superuser or user.institution_id is not None)
                and all(user.has_perm(p) for p in REQUIRED_PERMISSIONS))


# --- periods --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Local days ``start`` … ``end`` (inclusive) of one institution."""

    institution: Institution
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    @classmethod
    def day(cls, institution: Institution, day: dt.date | None = None) -> Period:
        day = day or clock.local_date(institution)
        return cls(institution, day, day)

    @property
    def zone(self) -> ZoneInfo:
        return clock.zone(self.institution.time_zone)

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first moment, first moment after) as aware datetimes."""
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=self.zone)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=self.zone)
        return start, end

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def single_day(self) -> bool:
        return self.start == self.end

    @property
    def label(self) -> str:
        return self.start.isoformat() if self.single_day else f"{self.start.isoformat()} – {self.end.isoformat()}"


# --- statements -----------------------------------------------------------------------------------

@dataclass
class Line:
    """One statement line (a merchant on a day, a merchant over the period, or the total)."""

    day: dt.date | None = None
    merchant: Merchant | None = None
    count: int = 0
    takings: int = 0
    refunds: int = 0
    appeals: int = 0

    @property
    def net(self) -> int:
        return self.takings - self.refunds - self.appeals

    @property
    def empty(self) -> bool:
        return not (self.count or self.takings or self.refunds or self.appeals)

    def add(self, other: Line) -> None:
        self.count += other.count
        self.takings += other.takings
        self.refunds += other.refunds
        self.appeals += other.appeals


@dataclass
class Report:
    period: Period
    merchants: list[Merchant]
    lines: list[Line]  # per day and merchant, by day then merchant code
    by_merchant: list[Line]  # per merchant over the whole period, every visible merchant
    total: Line
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)  # takings by local hour of the day


def settlement_report(*, user, period: Period, merchant: Merchant | None = None) -> Report:
    """The Card Center's report across the merchants ``user`` may see, or one merchant's statement."""
    if not settlement_allowed(user) or not institutions_visible(user=user).filter(pk=period.institution.pk).exists():
        raise DomainError("forbidden")
    merchants = list(merchants_visible(user, period.institution))
    if merchant is not None:
        if merchant.pk not in {m.pk for m in merchants}:
            raise DomainError("forbidden")
        merchants = [merchant]
    ids = [m.pk for m in merchants]
    start, end = period.bounds
    zone = period.zone
    payments = merchant_scope(restrict(Payment.objects.all(), user, "view"), user).filter(
        institution=period.institution, merchant_id__in=ids, created_at__gte=start, created_at__lt=end)
    refunds = merchant_scope(restrict(Refund.objects.all(), user, "view"), user, "payment__merchant").filter(
        payment__institution=period.institution, payment__merchant_id__in=ids, created_at__gte=start,
        created_at__lt=end)

    cells: dict[tuple[dt.date, int], Line] = {}

    def cell(day: dt.date, merchant_id: int) -> Line:
        return cells.setdefault((day, merchant_id), Line(day=day, merchant=by_id[merchant_id]))

    by_id = {m.pk: m for m in merchants}
    for row in (payments.annotate(day=TruncDate("created_at", tzinfo=zone)).values("day", "merchant_id")
                .annotate(n=Count("id"), total=Sum("amount")).order_by()):
        line = cell(row["day"], row["merchant_id"])
        line.count, line.takings = row["n"], row["total"]
    for row in (refunds.annotate(day=TruncDate("created_at", tzinfo=zone))
                .values("day", "payment__merchant_id", "kind").annotate(total=Sum("amount")).order_by()):
        line = cell(row["day"], row["payment__merchant_id"])
        if row["kind"] == Refund.Kind.APPEAL:
            line.appeals += row["total"]
        else:
            line.refunds += row["total"]
    if period.single_day:  # a daily statement lists every merchant, also those that took nothing
        for m in merchants:
            cell(period.start, m.pk)

    lines = sorted(cells.values(), key=lambda ln: (ln.day, ln.merchant.code))
    totals = {m.pk: Line(merchant=m) for m in merchants}
    total = Line()
    for line in lines:
        totals[line.merchant.pk].add(line)
        total.add(line)
    by_hour = [0] * 24
    for row in (payments.annotate(hour=ExtractHour("created_at", tzinfo=zone)).values("hour")
                .annotate(total=Sum("amount")).order_by()):
        by_hour[row["hour"]] += row["total"]
    return Report(period=period, merchants=merchants, lines=lines, by_merchant=list(totals.values()),
                  total=total, by_hour=by_hour)


def merchant_statement(*, user, merchant: Merchant, day: dt.date) -> Line:
    """A merchant's daily statement (PAY-5): one line."""
    report = settlement_report(user=user, period=Period.day(merchant.institution, day), merchant=merchant)
    return report.by_merchant[0]


# --- exports --------------------------------------------------------------------------------------

def yuan(fen: int) -> Decimal:
    """Integer fen as an exact two-decimal amount in yuan (LED-1: never a float)."""
    return Decimal(fen).scaleb(-2)


def _headers() -> list[str]:
    return [_("Date"), _("Merchant code"), _("Merchant"), _("Payments"), _("Takings (¥)"), _("Refunds (¥)"),
            _("Appeals (¥)"), _("Net (¥)")]


def _rows(report: Report) -> list[list]:
    rows = [[line.day.isoformat(), line.merchant.code, line.merchant.name, line.count, yuan(line.takings),
             yuan(line.refunds), yuan(line.appeals), yuan(line.net)] for line in report.lines]
    t = report.total
    rows.append([report.period.label, "", _("Total"), t.count, yuan(t.takings), yuan(t.refunds), yuan(t.appeals),
                 yuan(t.net)])
    return rows


def export_filename(report: Report, extension: str) -> str:
    period = report.period
    days = period.start.isoformat() if period.single_day else f"{period.start.isoformat()}_{period.end.isoformat()}"
    return f"settlement-{period.institution.code}-{days}.{extension}"


def export_csv(report: Report) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese names right."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(_headers())
    for row in _rows(report):
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def export_xlsx(report: Report) -> bytes:
    """One sheet: a header, a line per merchant and day, a totals row; amounts in yuan with 2 decimals."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = _("Settlement")[:31]
    xlsx_append(sheet, _headers())
    rows = _rows(report)
    for row in rows:
        xlsx_append(sheet, row)
    for line, cells in zip(report.lines, sheet.iter_rows(min_row=2, max_col=1), strict=False):
        cells[0].value, cells[0].number_format = line.day, "yyyy-mm-dd"  # a real date in the spreadsheet
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DCE6F2")
    last = len(rows) + 1
    for row in sheet.iter_rows(min_row=2, max_row=last, min_col=5, max_col=8):
        for cell in row:
            cell.number_format = "#,##0.00"
    for cell in sheet[last]:
        cell.font = bold
    for letter, width in zip("ABCDEFGH", (24, 16, 24, 10, 14, 14, 14, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
