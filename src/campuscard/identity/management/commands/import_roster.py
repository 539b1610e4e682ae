from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.roster import roster_import_path
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = "Import a registrar (students) or HR (staff) roster from CSV or XLSX: all rows or none (ID-1)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--institution", required=True, help="institution code, e.g. hdut")
        parser.add_argument("--source", choices=["registrar", "hr"], required=True)

    def handle(self, *args, path: Path, institution: str, source: str, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        bars: dict[str, tqdm] = {}

        def progress(phase: str, done: int, total: int) -> None:
            bar = bars.get(phase)
            if bar is None:
                bar = bars[phase] = tqdm(total=total, desc=phase, unit="rows", file=self.stderr._out)
            bar.update(done - bar.n)

        try:
            report = roster_import_path(institution=institution_by_code(institution), source=source, path=path,
                                        actor=Actor.system("cli:import_roster"), progress=progress)
        except DomainError as error:
            for bar in bars.values():
                bar.close()
            self.stderr.write(self.style.ERROR(error.message))
            if error.details:
                for row in error.details["errors"]:
                    self.stderr.write(f"  line {row['line']:>6}  {row['column']:<16} {row['message']}")
            raise CommandError(error.code, returncode=2)
        for bar in bars.values():
            bar.close()
        self.stdout.write(self.style.SUCCESS(
            f"{report.rows} rows: {report.created} created, {report.updated} updated, {report.unchanged} unchanged"))
