"""``campuscard cash_report shift ID | box ID | shifts [--institution CODE] [--json]`` (#18 item 8): the
end-of-shift report of a window's cash and a kiosk's cash-box report, reconciled with the ledger, as on the
back office's printable pages. Exit 1 when the count differs from what the ledger expects or a problem is
listed (a script checking the evening's shifts notices)."""

import json

from django.core.management.base import BaseCommand, CommandError

from campuscard.core.money import format_fen
from campuscard.payments import cash
from campuscard.payments.models import CashBoxEmptying, CashShift


class Command(BaseCommand):
    help = "Cash reports (#18 item 8): a window's shift or a kiosk's emptying, reconciled with the ledger."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["shift", "box", "shifts", "boxes"])
        parser.add_argument("id", nargs="?", type=int, help="the shift's or the emptying's number")
        parser.add_argument("--institution", help="institution code (for the lists)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, what: str, id: int | None = None, institution: str | None = None, json: bool = False,
               **options):
        if what in ("shifts", "boxes"):
            return self._list(what, institution)
        if id is None:
            raise CommandError(f"cash_report {what} needs the {what}'s number")
        if what == "shift":
            shift = CashShift.objects.select_related("operator", "institution").filter(pk=id).first()
            if shift is None:
                raise CommandError(f"no cash shift {id}")
            report = cash.cash_shift_report(shift=shift)
            head = {"shift": shift.pk, "institution": shift.institution.code, "operator": shift.operator.username,
                    "opened_at": shift.opened_at.isoformat(),
                    "closed_at": shift.closed_at.isoformat() if shift.closed_at else None}
            expected, counted, difference = (shift.expected if shift.expected is not None else report.expected,
                                             shift.counted, shift.difference)
        else:
            emptying = CashBoxEmptying.objects.select_related("device", "institution").filter(pk=id).first()
            if emptying is None:
                raise CommandError(f"no cash-box emptying {id}")
            report = cash.cash_box_report(emptying=emptying)
            head = {"emptying": emptying.pk, "institution": emptying.institution.code, "kiosk": emptying.device.code,
                    "since": emptying.since.isoformat() if emptying.since else None,
                    "emptied_at": emptying.emptied_at.isoformat()}
            expected, counted, difference = emptying.expected, emptying.counted, emptying.difference
        body = {**head, **report.as_dict(), "expected": expected, "counted": counted, "difference": difference}
        if json:
            self.stdout.write(_dumps(body))
        else:
            for key, value in head.items():
                self.stdout.write(f"{key:<12} {value}")
            for line in report.lines:
                self.stdout.write(f"  {line.at:%Y-%m-%d %H:%M:%S}  {line.kind:<8} {format_fen(line.amount):>12}  "
                                  f"#{line.transfer_id} {line.reference}")
            for key in ("opening_float", "recharges", "fees", "refunds"):
                self.stdout.write(f"{key:<14}{format_fen(body[key]):>14}")
            self.stdout.write(f"{'expected':<14}{format_fen(expected):>14}")
            self.stdout.write(f"{'counted':<14}{format_fen(counted) if counted is not None else '—':>14}")
            self.stdout.write(f"{'difference':<14}{format_fen(difference) if difference is not None else '—':>14}")
            for problem in report.problems:
                self.stderr.write(f"problem: {problem}")
            if report.unattributed:
                self.stderr.write(f"{len(report.unattributed)} window cash movement(s) attributed to no operator")
        if difference or report.problems:
            raise CommandError("the count differs from the ledger, or something is to look into", returncode=1)

    def _list(self, what: str, institution: str | None) -> None:
        model = CashShift if what == "shifts" else CashBoxEmptying
        rows = model.objects.all().order_by("-pk")
        if institution:
            rows = rows.filter(institution__code=institution)
        for row in rows[:100]:
            difference = row.difference
            self.stdout.write(f"{row.pk:>6}  {row}  expected {format_fen(row.expected) if row.expected is not None else '—'}"
                              f"  counted {format_fen(row.counted) if row.counted is not None else '—'}"
                              f"  difference {format_fen(difference) if difference is not None else '—'}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
