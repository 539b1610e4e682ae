"""Run the test provider: migrate its own SQLite file, create its people and the portal's client, serve."""

import os
import sys

import django


def main(port: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.identity.oidc_provider.settings")
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    for username, person in settings.PEOPLE.items():
        User.objects.create_user(username=username, password=person["password"])
    client = settings.CLIENT
    Application.objects.create(
        name="campuscard", client_id=client["client_id"], client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(client["redirect_uris"]), algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True, verbosity=0)


if __name__ == "__main__":
    main(sys.argv[1])
