"""The application API (APP-1 … APP-5): the holder's whole path and the operators' queue, over HTTP."""

from __future__ import annotations

import pytest
from django.test import Client

from campuscard.cards.models import Card
from campuscard.enrollment.models import Application
from campuscard.identity.models import Person
from campuscard.identity.services import token_issue
from tests.enrollment.apply_helpers import applicant, filled, in_review, jpeg, last_code, photo, places

pytestmark = pytest.mark.django_db
API = "/api/v1"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_holders_path_over_the_api(institution):
    places(institution)
    person = applicant(institution)
    client = login(person.user)
    assert client.get(f"{API}/applications/mine").json()["code"] == "application_not_found"
    body = client.post(f"{API}/applications/mine").json()
    assert body["state"] == "draft" and [m["code"] for m in body["missing"]][:3] == [
        "id_document", "status_proof", "phone"]
    assert client.post(f"{API}/applications/mine/id-document", {"id_type": "resident", "id_number": "x"},
                       content_type="application/json").json()["code"] == "application_id_invalid"
    client.post(f"{API}/applications/mine/id-document", {"id_type": "resident", "id_number": person.id_number},
                content_type="application/json")
    reference = client.get(f"{API}/applications/mine/status-proof").json()["reference"]
    client.post(f"{API}/applications/mine/status-proof", {"reference": reference}, content_type="application/json")
    sent = client.post(f"{API}/applications/mine/phone", {"phone": "13800138000"}, content_type="application/json")
    assert sent.status_code == 201
    again = client.post(f"{API}/applications/mine/phone", {"phone": "13800138000"}, content_type="application/json")
    assert again.status_code == 429 and again.json()["code"] == "phone_code_too_soon"
    wrong = client.post(f"{API}/applications/mine/phone/verify", {"code": "abc"}, content_type="application/json")
    assert wrong.status_code == 422 and wrong.json()["code"] == "phone_code_wrong"
    body = client.post(f"{API}/applications/mine/phone/verify", {"code": last_code("13800138000")},
                       content_type="application/json").json()
    assert body["phone_verified"] and body["id_checked"] and body["status_proof"] == reference
    options = client.get(f"{API}/applications/mine/places").json()
    assert [p["name"] for p in options["kiosk"]] == ["图书馆自助机"] and options["unit"] == "计算机学院"
    bad = client.put(f"{API}/applications/mine/package", {"addons": ["x"], "collect": "kiosk"},
                     content_type="application/json")
    assert bad.json()["code"] == "application_addon_unknown"
    body = client.put(f"{API}/applications/mine/package",
                      {"addons": ["lab"], "collect": "kiosk", "collect_point": options["kiosk"][0]["id"]},
                      content_type="application/json").json()
    assert body["addons"] == ["lab"] and body["collect_where"].startswith("图书馆自助机")
    photo(person)
    client.post(f"{API}/applications/mine/consent")
    refused = client.post(f"{API}/applications/mine/submit")
    assert refused.status_code == 422 and refused.json()["details"] == ["face"]
    Application.objects.filter(person=person).update(face_state="passed", face_distance=0.4)
    body = client.post(f"{API}/applications/mine/submit").json()
    assert body["state"] == "review" and body["checks_passed"] is True


def test_documents_over_the_api(institution):
    person = applicant(institution, 7, id_type="passport", id_number="E12345678")
    client = login(person.user)
    body = client.post(f"{API}/applications/mine").json()
    assert body["required_documents"] == ["permit", "accommodation", "issc_letter"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    created = client.post(f"{API}/applications/mine/documents",
                          {"kind": "permit", "file": SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg")})
    assert created.status_code == 201
    document = created.json()
    assert document["content_type"] == "image/jpeg" and document["url"].startswith("/apply/documents/")
    assert client.get(document["url"]).status_code == 200
    refused = client.post(f"{API}/applications/mine/documents",
                          {"kind": "permit", "file": SimpleUploadedFile("p.jpg", b"MZ\x90\x00", "image/jpeg")})
    assert refused.status_code == 422 and refused.json()["code"] == "document_type_invalid"


def test_staff_are_routed_to_hr(institution):
    person = applicant(institution, kind=Person.Kind.STAFF, status=Person.Status.ACTIVE, source=Person.Source.HR)
    response = login(person.user).post(f"{API}/applications/mine")
    assert response.status_code == 403 and response.json()["code"] == "application_not_eligible_staff"


def test_operators_queue_approve_reject_bulk(institution, other_institution, make_operator):
    where = places(institution)
    first, second, third = (in_review(applicant(institution, n), where["kiosk"], face=face)
                            for n, face in ((1, "passed"), (2, "passed"), (3, "failed")))
    operator = login(make_operator(institution, "card_center_operator"))
    queue = operator.get(f"{API}/applications").json()
    assert [a["id"] for a in queue] == [first.pk, second.pk, third.pk]
    assert [a["id"] for a in operator.get(f"{API}/applications?passed=false").json()] == [third.pk]
    foreign = login(make_operator(other_institution, "card_center_operator"))
    assert foreign.get(f"{API}/applications").json() == []
    assert foreign.post(f"{API}/applications/{first.pk}/approve").json()["code"] == "application_not_found"
    body = operator.post(f"{API}/applications/{first.pk}/approve").json()
    assert body["state"] == "approved" and body["card_number"]
    assert operator.post(f"{API}/applications/{first.pk}/approve").json()["card_number"] == body["card_number"]
    bulk = operator.post(f"{API}/applications/approve-passed").json()
    assert bulk == {"approved": [second.pk], "refused": []}
    no_reason = operator.post(f"{API}/applications/{third.pk}/reject", {"reason": ""}, content_type="application/json")
    assert no_reason.json()["code"] == "application_reason_required"
    body = operator.post(f"{API}/applications/{third.pk}/reject", {"reason": "照片不符"},
                         content_type="application/json").json()
    assert body["state"] == "rejected" and body["reason"] == "照片不符"
    assert Card.objects.count() == 2
    # the holder is not an operator
    holder = login(third.person.user)
    assert holder.get(f"{API}/applications").json() == []
    assert holder.post(f"{API}/applications/{second.pk}/approve").json()["code"] == "application_not_found"


def test_the_submit_is_a_few_statements_while_the_face_check_runs(institution, django_assert_max_num_queries):
    """#16: the submit stays quick while the worker is saturated — the request is a few statements (an
    integration's token, as the benchmark's applicants): the token, the application with its person, the
    lock, the photo, the update, the audit row, the notification (its preferences, its row in a savepoint),
    and the status read back in three — 13, plus the savepoint pair the test's own transaction adds."""
    where = places(institution)
    person = applicant(institution)
    filled(person, where["kiosk"], face="checking")
    _token, secret = token_issue(user=person.user, name="phone app")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.get(f"{API}/applications/mine")  # the token's last use is recorded once, not on every call
    with django_assert_max_num_queries(15) as captured:
        body = client.post(f"{API}/applications/mine/submit").json()
    assert body["state"] == "checking" and body["face_state"] == "checking" and body["missing"] == []
    assert [step["done"] for step in body["steps"]] == [True, True, False, True, False, False]
    assert not any('"frames"' in query["sql"] for query in captured.captured_queries)


def test_who_has_no_application_or_no_person(institution, make_operator):
    person = applicant(institution)
    assert login(person.user).post(f"{API}/applications/mine/submit").json()["code"] == "application_not_found"
    operator = login(make_operator(institution, "card_center_operator"))
    for path in ("/applications/mine", "/applications/mine/face"):
        assert operator.get(f"{API}{path}").json()["code"] == "application_no_person"
