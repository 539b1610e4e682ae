from django.core.management.base import BaseCommand, CommandError

from campuscard.identity.models import User
from campuscard.identity.services import token_issue


class Command(BaseCommand):
    help = "Issue an API bearer token for an integrated system's user (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="integration")

    def handle(self, *args, username: str, name: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        _token, plain = token_issue(user=user, name=name)
        self.stdout.write(plain)
