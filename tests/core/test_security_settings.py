"""Behind HTTPS every cookie is Secure and HSTS is on (#18 items 6 and 9: the CSRF cookie was not)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from tests.identity.test_passwords import INITIAL_ALICE, login

SHOWN = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "LANGUAGE_COOKIE_SECURE", "SECURE_HSTS_SECONDS"]


def settings_with(**env: str) -> dict:
    code = ("import json, django; from django.conf import settings; django.setup(); "
            f"print(json.dumps({{k: getattr(settings, k) for k in {SHOWN!r}}}))")
    environ = {k: v for k, v in os.environ.items() if k not in ("SECURE_COOKIES", "HSTS_SECONDS")}
    environ.update(DJANGO_SETTINGS_MODULE="campuscard.settings", **env)
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_secure_cookies_turn_on_every_secure_flag_and_hsts():
    assert settings_with(SECURE_COOKIES="true") == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "LANGUAGE_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 365 * 86400}
    assert settings_with(SECURE_COOKIES="false")["SECURE_HSTS_SECONDS"] == 0


@pytest.mark.django_db
@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, LANGUAGE_COOKIE_SECURE=True)
def test_every_cookie_the_login_sets_is_secure(student):
    client = Client(enforce_csrf_checks=False)
    client.get("/login/")
    response = login(client, student, INITIAL_ALICE)
    assert response.status_code == 302
    cookies = {name: morsel for name, morsel in client.cookies.items()}
    assert {"sessionid", "csrftoken", "cc_institution"} <= set(cookies)
    assert all(morsel["secure"] for morsel in cookies.values()), {n: m["secure"] for n, m in cookies.items()}
