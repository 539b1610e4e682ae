from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.enrollment.registrar import registrar_photos_import
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = ("Import the registrar's photos from a ZIP of <student number>.jpg files: each photo's face "
            "embedding is computed once and stored encrypted; bad files are listed, the rest go in (APP-3).")

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--institution", required=True, help="institution code, e.g. hdut")

    def handle(self, *args, path: Path, institution: str, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc="photos", unit="photos", file=self.stderr._out)
            bar.update(done - bar.n)

        try:
            with path.open("rb") as file:
                report = registrar_photos_import(actor=Actor.system("cli:registrar_photos"),
                                                 institution=institution_by_code(institution), file=file,
                                                 progress=progress)
        except DomainError as error:
            raise CommandError(error.message) from error
        finally:
            if bar is not None:
                bar.close()
        for name, code, message in report.errors:
            self.stderr.write(f"{name}: {code}: {message}")
        self.stdout.write(self.style.SUCCESS(f"{report.imported} photos imported, {len(report.errors)} refused"))
        if report.errors and not report.imported:
            raise CommandError("no photo was imported")
