"""Single sign-on (ID-4) against a real OpenID Connect provider started in its own process (not a mock):
redirect → login at the provider → callback → logged in as the roster's holder, or refused with the reason."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.utils import translation

from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person, User
from tests.conftest import ID_BOB
from tests.identity.oidc_provider import log_in_at_provider, running_provider

PEOPLE = {
    "xiaoxue": {"password": "Provider-pass-1", "claims": {"student_number": "2024000001", "school": "uni"}},
    "stranger": {"password": "Provider-pass-2", "claims": {"student_number": "2099999999", "school": "uni"}},
    "elsewhere": {"password": "Provider-pass-3", "claims": {"student_number": "O-7001", "school": "other"}},
    "nonumber": {"password": "Provider-pass-4", "claims": {"school": "uni"}},
}


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("oidc"), PEOPLE) as running:
        yield running


@pytest.fixture
def sso(provider):
    with override_settings(**provider.settings()):
        yield provider


@pytest.fixture
def elsewhere(other_institution) -> Person:
    """On the roster of another institution only."""
    return Person.objects.create(institution=other_institution, number="O-7001", name="王其他",
                                 kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                                 id_type=IdType.RESIDENT, id_number=ID_BOB)


def _sso_login(client, username: str, *, next_url: str = ""):
    start = client.get("/sso/start/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    authorize = start["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    callback = log_in_at_provider(authorize, username, PEOPLE[username]["password"], stop_at="http://testserver/")
    assert callback.startswith("http://testserver/sso/callback/?")
    return client.get(callback.removeprefix("http://testserver"))


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_button_shows_only_when_configured(client, institution, provider):
    assert "sso-login" not in client.get("/login/").content.decode()
    assert client.get("/sso/start/").status_code == 404
    assert client.get("/sso/callback/?code=x&state=y").status_code == 404
    with override_settings(**provider.settings()):
        page = client.get("/login/").content.decode()
    assert 'id="sso-login"' in page and 'href="/sso/start/"' in page


def test_a_holder_on_the_roster_logs_in_through_the_provider(client, student, sso):
    audits = AuditLog.objects.count()
    response = _sso_login(client, "xiaoxue", next_url="/security/")
    assert response.status_code == 302 and response["Location"] == "/security/"
    student.refresh_from_db()
    assert student.user is not None and student.user.username == "uni.2024000001"  # holder_user_ensure's login
    home = client.get("/")
    assert home.status_code == 200 and home.wsgi_request.user == student.user
    # no forced change of a local password in an SSO session: every page opens
    security = client.get("/security/")
    assert security.status_code == 200 and 'id="sso-login-password-hint"' in security.content.decode()
    assert client.get("/api/v1/wallet").status_code != 403
    login = AuditLog.objects.get(action="sso_login")
    assert login.actor == student.user and login.object_id == str(student.user.pk)
    assert login.after["number"] == "2024000001" and login.after["subject"]
    assert AuditLog.objects.count() == audits + 2  # the login created, the SSO login


def test_an_existing_login_is_linked_not_duplicated(client, student, sso):
    user = User.objects.create_user(username="uni.2024000001", institution=student.institution, password="Old-pw-12345")
    student.user = user
    student.save(update_fields=["user"])
    _sso_login(client, "xiaoxue")
    assert client.get("/").wsgi_request.user == user
    assert User.objects.filter(username__startswith="uni.").count() == 1


def test_a_password_session_still_has_to_change_the_initial_password(client, student, sso):
    """Only the SSO session skips ID-3's forced change; the same holder logging in with the initial
    password is sent to the change page as before."""
    _sso_login(client, "xiaoxue")
    client.post("/logout/")
    client.post("/login/", {"institution": "uni", "number": student.number, "password": student.id_number[-6:]})
    assert client.get("/security/")["Location"] == "/password/"


def test_a_subject_not_on_the_roster_is_refused(client, institution, sso):
    users, audits = User.objects.count(), AuditLog.objects.count()
    response = _sso_login(client, "stranger")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert any("2099999999" in m and "示范大学" in m for m in _messages(response))
    assert not client.get("/login/").wsgi_request.user.is_authenticated
    assert (User.objects.count(), AuditLog.objects.count()) == (users, audits)


def test_a_number_of_another_institution_is_refused(client, institution, elsewhere, sso):
    response = _sso_login(client, "elsewhere")
    assert response["Location"] == "/login/"
    assert any("O-7001" in m for m in _messages(response))
    elsewhere.refresh_from_db()
    assert elsewhere.user is None


def test_an_institution_claim_the_deployment_does_not_serve_is_refused(client, institution, elsewhere, provider):
    with override_settings(**provider.settings(SSO_INSTITUTION_CLAIM="school", SSO_INSTITUTIONS=["uni"])):
        response = _sso_login(client, "elsewhere")
    assert response["Location"] == "/login/"
    with translation.override("zh-hans"):
        assert _messages(response) == [DomainError("sso_wrong_institution").message]
    elsewhere.refresh_from_db()
    assert elsewhere.user is None


def test_the_institution_claim_picks_the_roster(client, student, elsewhere, provider):
    with override_settings(**provider.settings(SSO_INSTITUTION_CLAIM="school", SSO_INSTITUTIONS=["uni", "other"])):
        _sso_login(client, "elsewhere")
        elsewhere.refresh_from_db()
        assert client.get("/").wsgi_request.user == elsewhere.user is not None


def test_a_provider_without_the_number_claim_is_refused(client, student, sso):
    response = _sso_login(client, "nonumber")
    assert response["Location"] == "/login/"
    assert any("student_number" in m for m in _messages(response))


def test_a_token_from_another_issuer_is_refused(client, student, provider):
    """The ID token's issuer is checked when SSO_ISSUER is set (and its audience always; the library does
    neither): a signed token from an issuer the deployment does not expect is refused."""
    with override_settings(**provider.settings(SSO_ISSUER="https://idp.elsewhere.example/o")):
        response = _sso_login(client, "xiaoxue")
    assert response["Location"] == "/login/"
    with translation.override("zh-hans"):
        assert _messages(response) == [DomainError("sso_failed").message]
    student.refresh_from_db()
    assert student.user is None


def test_a_replayed_callback_is_refused(client, student, sso):
    start = client.get("/sso/start/")
    callback = log_in_at_provider(start["Location"], "xiaoxue", PEOPLE["xiaoxue"]["password"],
                                  stop_at="http://testserver/")
    path = callback.removeprefix("http://testserver")
    assert client.get(path)["Location"] == "/"
    client.post("/logout/")
    replay = client.get(path)  # the state was spent (and the session is new)
    assert replay["Location"] == "/login/"
    assert not client.get("/login/").wsgi_request.user.is_authenticated
