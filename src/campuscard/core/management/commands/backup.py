"""`campuscard backup [FILE]` (#18 item 8): pg_dump -Fc on PostgreSQL, the online backup API on SQLite."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campuscard.core.backup import BackupError, database_backup, database_target, default_path


class Command(BaseCommand):
    help = ("Back up the database while the platform runs: PostgreSQL with pg_dump's custom format (-Fc), "
            "SQLite with its online backup API. Restore with `campuscard restore FILE`. Keep the secret key and "
            "MEDIA_ROOT with it (docs/operations.md).")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", type=Path,
                            help="where to write (default: CAMPUSCARD_DATA_DIR/backups/campuscard-<UTC time>.dump|.sqlite3)")
        parser.add_argument("--database-url", default="",
                            help="the PostgreSQL server to dump instead of DATABASE_URL's (behind PgBouncer: the server itself)")

    def handle(self, *args, file: Path | None, database_url: str, **options):
        try:
            target = database_target(database_url=database_url)
            path = database_backup(target=target, path=file or default_path(target))
        except BackupError as error:
            raise CommandError(str(error), returncode=2)
        self.stdout.write(self.style.SUCCESS(f"backup of {target.label}: {path} ({path.stat().st_size:,} bytes)"))
