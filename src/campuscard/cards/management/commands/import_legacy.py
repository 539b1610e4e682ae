from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campuscard.cards.imports import legacy_import
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = "Import old meal-card balances (CSV/XLSX: old_number, number, balance in yuan) — all rows or none (CARD-7)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--institution", required=True)

    def handle(self, *args, path: Path, institution: str, **options):
        try:
            with path.open("rb") as stream:
                summary = legacy_import(actor=Actor.system("cli:import_legacy"), institution=institution_by_code(institution),
                                        name=path.name, stream=stream)
        except DomainError as error:
            self.stderr.write(self.style.ERROR(error.message))
            for row in (error.details or {}).get("errors", []):
                self.stderr.write(f"  line {row['line']:>6}  {row['column']:<12} {row['message']}")
            raise CommandError(error.code, returncode=2)
        self.stdout.write(self.style.SUCCESS(summary))
