"""A real OpenID Connect provider for the single sign-on tests (ID-4): django-oauth-toolkit with OIDC on,
an RS256 key generated at start, served by ``runserver`` on a free port in its own process."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[3]
CLIENT_ID = "campuscard-portal"
CLIENT_SECRET = "portal-client-secret-for-tests"
# The portal's callback as the Django test client (testserver) and the live server (any loopback port) see it.
REDIRECT_URIS = ["http://testserver/sso/callback/", "http://localhost/sso/callback/",
                 "http://127.0.0.1/sso/callback/"]


@dataclass(frozen=True)
class Provider:
    url: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def settings(self, **overrides) -> dict:
        """The portal's settings for this provider (what SSO_* in the environment would give)."""
        return {
            "SSO_ENABLED": True, "SSO_INSTITUTIONS": ["uni"], "SSO_INSTITUTION_CLAIM": "",
            "SSO_NUMBER_CLAIM": "student_number", "SSO_ISSUER": self.issuer,
            "OIDC_RP_CLIENT_ID": CLIENT_ID, "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/o/authorize/",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/o/token/",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/o/userinfo/",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/o/.well-known/jwks.json",
            "OIDC_RP_SIGN_ALGO": "RS256", "OIDC_RP_SCOPES": "openid profile", "OIDC_USE_PKCE": True,
            "AUTHENTICATION_BACKENDS": ["campuscard.identity.backends.InstitutionNumberBackend",
                                        "campuscard.identity.sso.RosterOIDCBackend"],
            **overrides,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rsa_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@contextlib.contextmanager
def running_provider(directory: Path, people: dict, attempts: int = 3):
    """``people``: username -> {"password": …, "claims": {…}}. Yields a ``Provider`` once it answers."""
    key_file = directory / "provider-key.pem"
    key_file.write_text(_rsa_key_pem())
    key_file.chmod(0o600)
    for attempt in range(attempts):  # a free port can be taken between the probe and the bind: try another
        port = _free_port()
        database = directory / f"provider-{attempt}.sqlite3"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.identity.oidc_provider.settings",
               "OIDC_PROVIDER_DB": str(database), "OIDC_PROVIDER_KEY_FILE": str(key_file),
               "OIDC_PROVIDER_PEOPLE": json.dumps(people),
               "OIDC_PROVIDER_CLIENT": json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                   "redirect_uris": REDIRECT_URIS})}
        env.pop("DATABASE_URL", None)
        log = (directory / f"provider-{attempt}.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "tests.identity.oidc_provider.serve", str(port)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        provider = Provider(url=f"http://127.0.0.1:{port}")
        try:
            if _wait_until_up(provider, process):
                yield provider
                return
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    raise RuntimeError(f"the test OIDC provider did not start; see {directory}/provider-*.log")


def _wait_until_up(provider: Provider, process: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def log_in_at_provider(authorize_url: str, username: str, password: str, *, stop_at: str) -> str:
    """A browser's part with ``requests``: follow the provider's redirects, fill its login form, and return
    the URL it finally sends the browser to (the first one starting with ``stop_at``, the portal's host)."""
    import re

    session = requests.Session()
    url, method, data = authorize_url, "GET", None
    for _hop in range(10):
        response = session.request(method, url, data=data, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = requests.compat.urljoin(url, response.headers["Location"])
            if url.startswith(stop_at):
                return url
            method, data = "GET", None
            continue
        form = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
        if response.status_code != 200 or form is None:
            raise AssertionError(f"unexpected provider page {url}: {response.status_code} {response.text[:500]}")
        next_value = re.search(r'name="next" value="([^"]*)"', response.text)
        method, data = "POST", {"csrfmiddlewaretoken": form.group(1), "username": username, "password": password,
                                "next": next_value.group(1).replace("&amp;", "&") if next_value else ""}
    raise AssertionError("too many redirects at the provider")
