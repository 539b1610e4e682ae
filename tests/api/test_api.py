"""The versioned JSON API: OpenAPI, one error shape, session and bearer auth, rosters, people (ID-1, TEN-1)."""

import io

import pytest
from django.test import Client
from django.utils import timezone, translation

from campuscard.core.errors import REGISTRY
from campuscard.core.models import AuditLog
from campuscard.identity import services
from campuscard.identity.models import Person
from campuscard.identity.services import token_issue
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.conftest import ID_BOB
from tests.helpers import csv_bytes, student_row, table, xlsx_bytes

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Campus-card-2026"


def upload(data: bytes, name: str = "registrar.csv") -> io.BytesIO:
    stream = io.BytesIO(data)
    stream.name = name
    return stream


def roster_url(code: str, source: str = "registrar") -> str:
    return f"/api/v1/institutions/{code}/rosters/{source}"


def bearer(token: str) -> Client:
    """An integration's client: a bearer token, no session cookie, no CSRF token (like production)."""
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token}"})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "details"}
    return body


def people_state():
    return (tuple(Person.objects.order_by("pk").values_list("pk", "institution_id", "number", "name", "status")),
            AuditLog.objects.count())


@pytest.fixture
def changed_holder(student):
    """A holder who has replaced the initial password."""
    user = services.holder_user_ensure(person=student)
    services.password_change(user=user, old_password=services.initial_secret(student.id_number),
                             new_password=NEW_PASSWORD, new_password_again=NEW_PASSWORD)
    user.refresh_from_db()
    return user


@pytest.fixture
def integration(institution, make_operator):
    """The registrar system of ``institution``: a user with the integration role and a bearer token."""
    user = make_operator(institution, "integration", username="uni-registrar")
    token, plain = token_issue(user=user, name="registrar feed")
    return user, token, plain


@pytest.fixture
def other_integration(other_institution, make_operator):
    user = make_operator(other_institution, "integration", username="other-registrar")
    token, plain = token_issue(user=user, name="registrar feed")
    return user, token, plain


@pytest.fixture
def other_student(other_institution):
    return Person.objects.create(institution=other_institution, number="2024000009", name="王其他",
                                 kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME, id_number=ID_BOB,
                                 campus=other_institution.campuses.get())


# --- documents ----------------------------------------------------------------------------------------


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "CampusCard API" and document["info"]["version"] == "1"
    paths = document["paths"]
    for path in ("/api/v1/me", "/api/v1/me/password", "/api/v1/me/payment-password", "/api/v1/me/query-password",
                 "/api/v1/people", "/api/v1/institutions", "/api/v1/institutions/{code}/rosters/{source}"):
        assert path in paths, path
    assert "post" in paths["/api/v1/institutions/{code}/rosters/{source}"]
    schemes = document["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "cookie"}.items() <= schemes["PortalSession"].items()
    assert schemes["IntegrationToken"]["scheme"] == "bearer"


def test_interactive_docs_are_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]
    assert "openapi.json" in response.content.decode()


# --- one error shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/people", "/api/v1/institutions"])
def test_anonymous_gets_401_in_the_error_shape(client, path):
    body = assert_error(client.get(path), 401, "not_authenticated")
    assert set(body) == {"code", "message"}


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/people/extra/", "/api/v2/me", "/api/"])
def test_unknown_addresses_get_404_in_the_error_shape(client, path):
    for response in (client.get(path), client.post(path, {})):
        body = assert_error(response, 404, "not_found")
        assert set(body) == {"code", "message"}


def test_unknown_institution_is_a_404_with_its_own_code(integration):
    _user, _token, plain = integration
    response = bearer(plain).post(roster_url("nope"), {"file": upload(csv_bytes(table([student_row(1)])))})
    assert_error(response, 404, "institution_unknown")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_validation_error_422_has_a_stable_code_and_a_message_in_the_asked_language(client, changed_holder,
                                                                                     language):
    client.force_login(changed_holder)
    response = client.post("/api/v1/me/password", {"old_password": NEW_PASSWORD}, content_type="application/json",
                           headers={"Accept-Language": language})
    body = assert_error(response, 422, "validation_error")
    assert response["Content-Language"] == language
    with translation.override(language):
        assert body["message"] == str(REGISTRY["validation_error"].message)
    if language == "en":
        assert body["message"] == "The request is not valid."
    missing = {tuple(e["loc"])[-1] for e in body["details"]}
    assert missing == {"new_password", "new_password_again"}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_unparsable_body_is_a_400_validation_error_in_the_asked_language(client, changed_holder, language):
    client.force_login(changed_holder)
    response = client.post("/api/v1/me/password", "{not json", content_type="application/json",
                           headers={"Accept-Language": language})
    body = assert_error(response, 400, "validation_error")
    with translation.override(language):
        assert body["message"] == str(REGISTRY["validation_error"].message)
    assert body["details"]["reason"]  # the parser's own words, for developers


# --- /me and the session ----------------------------------------------------------------------------------


def test_me_for_a_holder(client, changed_holder, student):
    client.force_login(changed_holder)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    me = response.json()
    assert me["username"] == "uni.2024000001"
    assert me["institution"] == "uni"
    assert me["roles"] == []
    assert me["must_change_password"] is False
    assert me["has_payment_password"] is False
    assert me["person"] == {"institution": "uni", "number": student.number, "name": "张晓雪",
                            "kind": "undergraduate", "status": "full_time", "campus": "main", "department": ""}


def test_me_for_an_operator(client, make_operator, institution):
    client.force_login(make_operator(institution, "card_center_operator"))
    me = client.get("/api/v1/me").json()
    assert (me["institution"], me["roles"], me["person"]) == ("uni", ["card_center_operator"], None)


def test_holder_on_the_initial_password_must_change_it_first(client, student):
    """ID-3 in the API: until the initial password is changed only /me and /me/password answer."""
    user = services.holder_user_ensure(person=student)
    client.force_login(user)
    assert client.get("/api/v1/me").json()["must_change_password"] is True
    for path in ("/api/v1/people", "/api/v1/institutions"):
        assert_error(client.get(path), 403, "password_change_required")
    body = {"login_password": "31002X", "new_payment_password": "246813"}
    assert_error(client.post("/api/v1/me/payment-password", body, content_type="application/json"), 403,
                 "password_change_required")
    student.refresh_from_db()
    assert not student.has_payment_password

    response = client.post("/api/v1/me/password", {"old_password": "31002X", "new_password": NEW_PASSWORD,
                                                    "new_password_again": NEW_PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert client.get("/api/v1/institutions").status_code == 200


def test_password_refusals_in_the_api(client, changed_holder, student):
    client.force_login(changed_holder)
    response = client.post("/api/v1/me/password", {"old_password": "wrong", "new_password": "Another-pass-9",
                                                    "new_password_again": "Another-pass-9"},
                           content_type="application/json")
    assert_error(response, 400, "password_wrong")
    response = client.post("/api/v1/me/payment-password",
                           {"login_password": NEW_PASSWORD, "new_payment_password": "12345"},
                           content_type="application/json")
    assert_error(response, 400, "payment_password_format")
    response = client.post("/api/v1/me/payment-password",
                           {"login_password": NEW_PASSWORD, "new_payment_password": "246813"},
                           content_type="application/json")
    assert response.status_code == 200
    assert client.get("/api/v1/me").json()["has_payment_password"] is True
    response = client.post("/api/v1/me/query-password", {"login_password": "nope", "new_query_password": "abcdef"},
                           content_type="application/json")
    assert_error(response, 400, "password_wrong")


def test_session_writes_still_need_the_csrf_token(changed_holder):
    """Only cookie-less (bearer) requests skip CSRF; a browser session is protected as before."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(changed_holder)
    response = client.post("/api/v1/me/query-password", {"login_password": NEW_PASSWORD, "new_query_password": "abcdef"},
                           content_type="application/json")
    body = assert_error(response, 403, "forbidden")
    assert "CSRF" in body["details"]["reason"]
    changed_holder.person.refresh_from_db()
    assert changed_holder.person.query_password == ""


# --- bearer tokens and roster import (ID-1) ---------------------------------------------------------------


def test_integration_imports_a_roster_with_its_token(integration, institution):
    user, token, plain = integration
    assert token.token_hash != plain and plain not in token.token_hash  # only the hash is stored
    response = bearer(plain).post(roster_url("uni"), {"file": upload(csv_bytes(table([student_row(1),
                                                                                        student_row(2)])))})
    assert response.status_code == 201, response.content
    assert response.json() == {"source": "registrar", "rows": 2, "created": 2, "updated": 0, "unchanged": 0,
                               "errors": []}
    assert set(Person.objects.filter(institution=institution).values_list("number", flat=True)) == {
        "2025000001", "2025000002"}
    assert AuditLog.objects.get(action="roster_imported_registrar").actor == user
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_integration_imports_xlsx(integration):
    _user, _token, plain = integration
    data = xlsx_bytes(table([student_row(1)]))
    response = bearer(plain).post(roster_url("uni"), {"file": upload(data, "名单.xlsx")})
    assert response.status_code == 201
    assert response.json()["created"] == 1


def test_bad_roster_is_422_with_every_bad_row_and_nothing_imported(integration, student):
    _user, _token, plain = integration
    rows = [student_row(1), student_row(2, campus="nowhere"), student_row(3, category="postdoc"),
            student_row(4, number=student.number, id_number=student.id_number)]
    before = people_state()
    response = bearer(plain).post(roster_url("uni"), {"file": upload(csv_bytes(table(rows)))})
    body = assert_error(response, 422, "roster_invalid")
    errors = body["details"]["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(3, "campus"), (4, "category")]
    assert all(e["message"] for e in errors)
    assert body["details"]["rows"] == 4
    assert people_state() == before


def test_unreadable_upload_and_missing_file(integration):
    _user, _token, plain = integration
    client = bearer(plain)
    assert_error(client.post(roster_url("uni"), {"file": upload(b"", "empty.csv")}), 422, "roster_unreadable")
    assert_error(client.post(roster_url("uni"), {}), 422, "validation_error")
    assert_error(client.post(roster_url("uni", "library"), {"file": upload(csv_bytes(table([student_row(1)])))}),
                 400, "roster_unknown_source")
    assert not Person.objects.exists()


@pytest.mark.parametrize("spoil", ["revoked", "inactive", "garbage"])
def test_unusable_tokens_get_401_and_change_nothing(integration, spoil):
    user, token, plain = integration
    if spoil == "revoked":
        token.revoked_at = timezone.now()
        token.save()
    elif spoil == "inactive":
        user.is_active = False
        user.save()
    else:
        plain = plain + "x"
    before = people_state()
    client = bearer(plain)
    assert_error(client.post(roster_url("uni"), {"file": upload(csv_bytes(table([student_row(1)])))}), 401,
                 "not_authenticated")
    assert_error(client.get("/api/v1/people"), 401, "not_authenticated")
    assert people_state() == before


def test_token_of_one_institution_cannot_import_into_another(other_integration, student):
    """TEN-1: no user of one institution can change another's data."""
    _user, _token, plain = other_integration
    before = people_state()
    response = bearer(plain).post(roster_url("uni"), {"file": upload(csv_bytes(table([student_row(1)])))})
    assert_error(response, 403, "forbidden")
    assert people_state() == before


def test_people_lists_only_the_callers_institution(integration, other_integration, student, other_student):
    _u, _t, ours = integration
    _u, _t, theirs = other_integration
    listed = bearer(ours).get("/api/v1/people").json()
    assert listed["count"] == 1
    assert [(p["institution"], p["number"]) for p in listed["items"]] == [("uni", student.number)]
    listed = bearer(theirs).get("/api/v1/people").json()
    assert [(p["institution"], p["number"]) for p in listed["items"]] == [("other", other_student.number)]


def test_people_filters(integration, student, staff_member):
    _user, _token, plain = integration
    client = bearer(plain)
    assert [p["number"] for p in client.get("/api/v1/people", {"kind": "staff"}).json()["items"]] == ["T00042"]
    assert [p["number"] for p in client.get("/api/v1/people", {"q": "2024"}).json()["items"]] == [student.number]
    assert [p["number"] for p in client.get("/api/v1/people", {"q": "李"}).json()["items"]] == ["T00042"]


def test_platform_admin_lists_every_institution(client, make_operator, student, other_student):
    client.force_login(make_operator(None, None))
    listed = client.get("/api/v1/people").json()
    assert sorted((p["institution"], p["number"]) for p in listed["items"]) == [
        ("other", other_student.number), ("uni", student.number)]
    assert {i["code"] for i in client.get("/api/v1/institutions").json()} == {"uni", "other"}


# --- the authorisation matrix (ARCHITECTURE rule 6) -------------------------------------------------------


def test_roster_import_authorization_matrix(institution, other_institution, make_operator, integration,
                                            other_integration):
    user, _token, plain = integration
    other_user, _t, other_plain = other_integration
    merchant = make_operator(institution, "merchant_operator")
    _t, merchant_plain = token_issue(user=merchant, name="wrong role")
    data = csv_bytes(table([student_row(1), student_row(2)]))

    responses = assert_authorization(
        lambda client: client.post(roster_url("uni"), {"file": upload(data)}),
        anonymous=Expect(ANONYMOUS, 401, lambda r: assert_error(r, 401, "not_authenticated")),
        wrong_role=Expect(Principal.bearer(merchant_plain, merchant), 403, lambda r: assert_error(r, 403, "forbidden")),
        wrong_institution=Expect(Principal.bearer(other_plain, other_user), 403,
                                 lambda r: assert_error(r, 403, "forbidden")),
        allowed=Expect(Principal.bearer(plain, user), 201),
        snapshot=people_state,
        writes=True,
    )
    assert responses["allowed"].json()["created"] == 2
    assert Person.objects.filter(institution=institution).count() == 2
    assert not Person.objects.filter(institution=other_institution).exists()


def test_roster_import_by_session_follows_the_same_matrix(institution, other_institution, make_operator,
                                                          changed_holder):
    """Card Center operators may import through the API with their session, too (add + change person)."""
    operator = make_operator(institution, "card_center_operator")
    data = csv_bytes(table([student_row(1)]))
    assert_authorization(
        lambda client: client.post(roster_url("uni"), {"file": upload(data)}),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(changed_holder), 403),  # a cardholder
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "card_center_operator")), 403),
        allowed=Expect(Principal.session(operator), 201),
        snapshot=people_state,
        writes=True,
    )


def test_people_list_authorization_matrix(institution, other_institution, make_operator, integration,
                                          other_integration, student, other_student):
    user, _token, plain = integration
    other_user, _t, other_plain = other_integration

    def numbers(response) -> set[tuple[str, str]]:
        return {(p["institution"], p["number"]) for p in response.json()["items"]}

    def sees_nothing(response):
        assert response.json() == {"items": [], "count": 0}

    def sees_only_other(response):
        assert numbers(response) == {("other", other_student.number)}

    def sees_only_ours(response):
        assert numbers(response) == {("uni", student.number)}

    assert_authorization(
        lambda client: client.get("/api/v1/people"),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(make_operator(institution, "merchant_operator")), 200, sees_nothing),
        wrong_institution=Expect(Principal.bearer(other_plain, other_user), 200, sees_only_other),
        allowed=Expect(Principal.bearer(plain, user), 200, sees_only_ours),
        snapshot=people_state,
    )

