from django.core.management.base import BaseCommand

from campuscard.demo import data as demo


class Command(BaseCommand):
    help = "Load the demo institutions, places, people and operator logins (deterministic, re-runnable)."

    def handle(self, *args, **options):
        logins = demo.load(progress=lambda line: self.stdout.write(f"  · {line}"))
        self.stdout.write(self.style.SUCCESS("Demo loaded."))
        self.stdout.write(format_logins(logins))


def format_logins(logins) -> str:
    rows = [("who", "institution", "login", "password")] + [(x.who, x.where, x.login, x.password) for x in logins]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)) for r in rows)
