"""Single sign-on (ID-4) against a real OpenID Connect provider started in its own process (not a mock):
redirect → login at the provider → callback → logged in as the roster's holder, or refused with the reason.
From the back office's login page the same provider's claim names an operator account (#16 item 2)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings
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
    # operators: the provider's number claim is their staff number, the operator account's username
    "opwang": {"password": "Provider-pass-5", "claims": {"student_number": "T2019001", "school": "uni"}},
    "opnobody": {"password": "Provider-pass-6", "claims": {"student_number": "T2099999", "school": "uni"}},
    "opother": {"password": "Provider-pass-7", "claims": {"student_number": "T3000001", "school": "uni"}},
    "opadmin": {"password": "Provider-pass-8", "claims": {"student_number": "root-admin", "school": "uni"}},
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


def _sso_login(client, username: str, *, next_url: str = "", start_path: str = "/sso/start/"):
    start = client.get(start_path + (f"?next={next_url}" if next_url else ""))
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


# --- operators through the back office's button (#16 item 2) -------------------------------------------

@pytest.fixture
def operator(institution, make_operator) -> User:
    return make_operator(institution, "card_center_operator", username="T2019001")


def _backoffice_sso(client, username: str, **kwargs):
    return _sso_login(client, username, start_path="/sso/backoffice/start/", **kwargs)


def test_the_back_office_login_page_shows_the_button_only_when_configured(client, institution, provider):
    assert "sso-backoffice-login" not in client.get("/backoffice/login/").content.decode()
    assert client.get("/sso/backoffice/start/").status_code == 404
    with override_settings(**provider.settings()):
        page = client.get("/backoffice/login/?next=/backoffice/cards/").content.decode()
    assert 'id="sso-backoffice-login"' in page
    assert 'href="/sso/backoffice/start/?next=/backoffice/cards/"' in page


def test_an_operator_logs_in_to_the_back_office_through_the_provider(client, operator, student, sso):
    audits, users = AuditLog.objects.count(), User.objects.count()
    response = _backoffice_sso(client, "opwang")
    assert response.status_code == 302 and response["Location"] == "/backoffice/"
    page = client.get("/backoffice/")
    assert page.status_code == 200 and page.wsgi_request.user == operator
    login = AuditLog.objects.get(action="sso_login")
    assert login.actor == operator and login.institution_id == operator.institution_id
    assert login.after == {"subject": login.after["subject"], "account": "T2019001", "as": "operator"}
    assert login.after["subject"]
    assert (AuditLog.objects.count(), User.objects.count()) == (audits + 1, users)  # nothing created


def test_the_back_office_flow_keeps_a_page_of_the_back_office_only(client, operator, sso):
    assert _backoffice_sso(client, "opwang", next_url="/backoffice/cards/card/")["Location"] == "/backoffice/cards/card/"
    client.post("/backoffice/logout/")
    assert _backoffice_sso(client, "opwang", next_url="/cards/")["Location"] == "/backoffice/"


def test_an_unknown_subject_is_refused_with_the_reason(client, operator, sso):
    users, audits = User.objects.count(), AuditLog.objects.count()
    response = _backoffice_sso(client, "opnobody")
    assert response.status_code == 302 and response["Location"] == "/backoffice/login/"
    with translation.override("zh-hans"):
        expected = DomainError("sso_operator_unknown", account="T2099999", institution="示范大学").message
    assert _messages(response) == [expected]
    assert "T2099999" in expected and "示范大学" in expected
    assert not client.get("/backoffice/login/").wsgi_request.user.is_authenticated
    assert client.get("/backoffice/")["Location"].startswith("/backoffice/login/")
    assert (User.objects.count(), AuditLog.objects.count()) == (users, audits)


def test_a_holder_is_not_an_operator_and_an_operator_is_not_a_holder(client, operator, student, sso):
    """The holder's number through the back office's button names no staff account; the operator's
    staff number through the portal's button is on no roster: each flow maps to its own kind only."""
    response = _backoffice_sso(client, "xiaoxue")
    assert response["Location"] == "/backoffice/login/"
    with translation.override("zh-hans"):
        assert _messages(response) == [DomainError("sso_operator_unknown", account="2024000001",
                                                   institution="示范大学").message]
    student.refresh_from_db()
    assert student.user is None
    response = _sso_login(client, "opwang")
    assert response["Location"] == "/login/"
    assert any("T2019001" in m for m in _messages(response))
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_an_operator_of_another_institution_is_refused(client, institution, other_institution, make_operator, sso):
    make_operator(other_institution, "card_center_operator", username="T3000001")
    response = _backoffice_sso(client, "opother")
    assert response["Location"] == "/backoffice/login/"
    assert any("T3000001" in m for m in _messages(response))
    assert not client.get("/backoffice/login/").wsgi_request.user.is_authenticated


def test_platform_administrators_and_disabled_operators_are_refused(client, institution, make_operator, operator,
                                                                   sso):
    admin = make_operator(None, None, username="root-admin")
    admin.institution = institution  # even tied to the institution: a superuser keeps the password login
    admin.save(update_fields=["institution"])
    response = _backoffice_sso(client, "opadmin")
    with translation.override("zh-hans"):
        assert _messages(response) == [DomainError("sso_operator_password_only").message]
    assert not client.get("/backoffice/login/").wsgi_request.user.is_authenticated
    operator.is_active = False
    operator.save(update_fields=["is_active"])
    response = _backoffice_sso(Client(), "opwang")
    with translation.override("zh-hans"):
        assert _messages(response) == [DomainError("sso_account_disabled").message]


def test_the_operator_claim_can_be_another_one(client, institution, make_operator, provider):
    """SSO_OPERATOR_CLAIM: here the provider's preferred_username (its login name) is the account's name."""
    user = make_operator(institution, "card_center_operator", username="opwang")
    with override_settings(**provider.settings(SSO_OPERATOR_CLAIM="preferred_username")):
        response = _backoffice_sso(client, "opwang")
        assert response["Location"] == "/backoffice/"
        assert client.get("/backoffice/").wsgi_request.user == user


def test_a_stale_back_office_flow_does_not_make_a_holder_login_an_operator_login(client, operator, student, sso):
    """Which kind of login a flow is for is kept with its state: starting the back office's flow and then
    the portal's, the portal's callback logs the holder in (not the operator)."""
    client.get("/sso/backoffice/start/")
    _sso_login(client, "xiaoxue")
    student.refresh_from_db()
    assert client.get("/").wsgi_request.user == student.user is not None
