import json

from django.core.management.base import BaseCommand, CommandError

from campuscard.ledger.checks import ledger_check, ledger_seal, ledger_verify


class Command(BaseCommand):
    help = ("Ledger maintenance (LED-5): `check` = trial balance and reconciliation, `seal` = seal finished "
            "days, `verify` = detect edits made behind the application's back. Exit code 1 on any difference.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["check", "verify", "seal"])
        parser.add_argument("--json", action="store_true", help="print the problems as JSON")

    def handle(self, *args, action: str, json: bool = False, **options):
        if action == "seal":
            sealed = ledger_seal()
            if sealed:
                self.stdout.write(f"sealed {len(sealed)} day(s), {sealed[0].day} … {sealed[-1].day}, "
                                  f"{sum(s.count for s in sealed)} transfers; last seal {sealed[-1].seal[:16]}…")
            else:
                self.stdout.write("nothing to seal")
            return
        run = ledger_check() if action == "check" else ledger_verify()
        summary = (f"{action}: {run.accounts} accounts, {run.transfers} transfers, "
                   f"{'clean' if run.ok else f'{len(run.problems)} problem(s)'}")
        if json:
            self.stdout.write(_json_dumps({"ok": run.ok, "problems": run.problems}))
        if run.ok:
            self.stdout.write(self.style.SUCCESS(summary))
            return
        self.stderr.write(self.style.ERROR(summary))
        for problem in run.problems[:50]:
            self.stderr.write(f"  {problem}")
        raise CommandError(f"ledger {action} found differences", returncode=1)


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
