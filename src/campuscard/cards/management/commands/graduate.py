from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campuscard.cards.imports import graduation_run
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = "Run the registrar's graduation list: student cards become alumni cards (CARD-9)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--institution", required=True)

    def handle(self, *args, path: Path, institution: str, **options):
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            bar = bar or tqdm(total=total, desc="graduates", unit="people", file=self.stderr._out)
            bar.update(done - bar.n)

        try:
            with path.open("rb") as stream:
                summary = graduation_run(actor=Actor.system("cli:graduate"), institution=institution_by_code(institution),
                                         name=path.name, stream=stream, progress=progress)
        except DomainError as error:
            self.stderr.write(self.style.ERROR(error.message))
            for row in (error.details or {}).get("errors", []):
                self.stderr.write(f"  line {row['line']:>6}  {row['message']}")
            raise CommandError(error.code, returncode=2)
        finally:
            if bar:
                bar.close()
        self.stdout.write(self.style.SUCCESS(summary))
