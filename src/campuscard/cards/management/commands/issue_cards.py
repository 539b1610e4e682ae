from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campuscard.cards.issuing import issue_batch_create
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.selectors import institution_by_code


class Command(BaseCommand):
    help = ("Bulk issuing (APP-7): physical cards for everyone in a roster slice who has an approved photo and no "
            "card of their kind yet, in one batch per unit; people without a photo are listed and notified. "
            "Running the same selection again issues nothing twice.")

    def add_arguments(self, parser):
        parser.add_argument("--institution", required=True, help="institution code, e.g. hdut")
        parser.add_argument("--department", default="", help="unit, exactly as on the roster")
        parser.add_argument("--title", default="", help="class / programme, exactly as on the roster")
        parser.add_argument("--year", type=int, default=None, help="intake (enrolment) year")
        parser.add_argument("--kind", default="", help="undergraduate, graduate, exchange, staff or temporary")

    def handle(self, *args, institution: str, department: str, title: str, year: int | None, kind: str, **options):
        bar = tqdm(desc="people", unit="people", file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            place = institution_by_code(institution)
            run = issue_batch_create(actor=Actor.system("cli:issue_cards"), institution=place, department=department,
                                     title=title, enrollment_year=year, person_kind=kind, progress=progress)
        except DomainError as error:
            self.stderr.write(self.style.ERROR(error.message))
            raise CommandError(error.code, returncode=2)
        finally:
            bar.close()
        for batch in run.batches.order_by("unit"):
            self.stdout.write(f"  batch #{batch.pk:<6} {batch.unit:<30} {batch.productions.count():>6} cards")
        for person in run.missing_photo:
            self.stdout.write(f"  no photo: {person['number']:<14} {person['name']:<12} {person['department']}")
        self.stdout.write(self.style.SUCCESS(
            f"run #{run.pk}: {run.total} selected, {run.issued} cards issued, {run.already} already had one, "
            f"{len(run.missing_photo)} without an approved photo (notified)"))
