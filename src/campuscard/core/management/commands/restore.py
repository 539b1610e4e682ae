"""`campuscard restore FILE` (#18 item 8): a backup of `campuscard backup` back into the database, then
`ledger check` on what was restored."""

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from campuscard.core.backup import BackupError, database_restore, database_target


class Command(BaseCommand):
    help = ("Replace the database's contents with a backup from `campuscard backup` (PostgreSQL: pg_restore "
            "--clean in one transaction; SQLite: the online backup API), then run `ledger check`. Stop the web "
            "servers and the worker first. Exit 2 if nothing was restored, 1 if the ledger check finds differences.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--database-url", default="",
                            help="the PostgreSQL server to restore into instead of DATABASE_URL's (behind PgBouncer: the server itself)")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="do not ask for confirmation")
        parser.add_argument("--skip-check", action="store_true", help="do not run `ledger check` afterwards")

    def handle(self, *args, file: Path, database_url: str, interactive: bool, skip_check: bool, **options):
        try:
            target = database_target(database_url=database_url)
            if interactive:
                answer = input(f"Every row of {target.label} will be replaced by {file}. Type 'yes' to go on: ")
                if answer.strip() != "yes":
                    raise CommandError("restore cancelled", returncode=2)
            database_restore(target=target, path=file)
        except BackupError as error:
            raise CommandError(str(error), returncode=2)
        self.stdout.write(self.style.SUCCESS(f"restored {target.label} from {file}"))
        if skip_check:
            return
        if target.alias is None:  # another database than the one configured: check it with its settings
            self.stdout.write("ledger check: run `campuscard ledger check` against the restored database")
            return
        call_command("ledger", "check", stdout=self.stdout, stderr=self.stderr)  # exit 1 on a difference
