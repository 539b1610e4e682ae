"""Exam check-in through the scanner page, the API and the portal; who may do what (SVC-2, rule 6)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.identity.services import holder_user_ensure, token_issue
from campuscard.study.models import ExamEntry, ExamSession
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.cards.conftest import image_bytes
from tests.helpers import csv_bytes
from tests.study.conftest import EXAM_START, holder

pytestmark = pytest.mark.django_db


def portal_client(person) -> Client:
    user = holder_user_ensure(person=person)
    user.must_change_password = False
    user.save()
    client = Client()
    client.force_login(user)
    return client


def checked_in() -> tuple:
    return tuple(ExamEntry.objects.order_by("pk").values_list("pk", "checked_in_at", "checked_in_by"))


def test_scanner_page_shows_photo_and_records(exam, settings, tmp_path):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = tmp_path
    photo = Photo(person=exam["alice"], state=Photo.State.APPROVED, uploaded_at=EXAM_START, reviewed_at=EXAM_START)
    photo.image.save("alice.png", ContentFile(image_bytes()), save=True)
    client = Client()
    client.force_login(exam["invigilator"])
    room = exam["rooms"]["A101"]
    with clock.frozen_at(EXAM_START):
        page = client.get(reverse("devices:exam_rooms"))
        assert 'data-room="A101"' in page.content.decode() and 'data-room="A102"' not in page.content.decode()
        answer = client.post(reverse("devices:exam_check_in", args=[room.pk]), {"credential": "04A1B2C3"},
                             headers={"HX-Request": "true"})
        body = answer.content.decode()
        assert 'data-outcome="checked_in"' in body and 'src="data:image/png;base64,' in body
        assert exam["alice"].name in body
        wrong = client.post(reverse("devices:exam_check_in", args=[room.pk]), {"credential": "04D4E5F6"},
                            headers={"HX-Request": "true"}).content.decode()
        assert 'data-outcome="exam_wrong_room"' in wrong and 'id="exam-right-room"' in wrong and "A102" in wrong
        export = client.get(reverse("devices:exam_export", args=[room.pk]))
        assert export["Content-Type"] == "text/csv" and exam["alice"].number in export.content.decode()
    assert ExamEntry.objects.get(person=exam["alice"]).checked_in_at == EXAM_START


def test_scanner_page_needs_a_login_and_the_room(exam, make_operator, institution):
    room = exam["rooms"]["A101"]
    url = reverse("devices:exam_check_in", args=[room.pk])
    other_invigilator = make_operator(institution, "invigilator", username="inv-2")
    with clock.frozen_at(EXAM_START):
        assert Client().post(url, {"credential": "04A1B2C3"}).status_code == 302
        client = Client()
        client.force_login(other_invigilator)
        assert client.post(url, {"credential": "04A1B2C3"}).status_code == 404  # not named for this room
    assert ExamEntry.objects.exclude(checked_in_at=None).count() == 0


def test_check_in_api_authorization(exam, make_operator, other_institution):
    room = exam["rooms"]["A101"]
    _token, secret = token_issue(user=exam["invigilator"], name="scanner")
    foreign = make_operator(other_institution, "invigilator", username="foreign-inv")
    room.invigilators.add(foreign)
    wrong_role = make_operator(exam["session"].institution, "zone_manager")
    url = f"/api/v1/study/exam-rooms/{room.pk}/checkins"
    with clock.frozen_at(EXAM_START):
        responses = assert_authorization(
            lambda client: client.post(url, json.dumps({"credential": "04A1B2C3"}), content_type="application/json"),
            anonymous=Expect(ANONYMOUS, 401), wrong_role=Expect(Principal.session(wrong_role), 404),
            wrong_institution=Expect(Principal.session(foreign), 404),
            allowed=Expect(Principal.bearer(secret, exam["invigilator"]), 200),
            snapshot=checked_in, writes=True)
    body = responses["allowed"].json()
    assert body["number"] == exam["alice"].number and body["room"] == "A101" and body["already"] is False


def test_check_in_api_wrong_room_names_it(exam):
    client = Client()
    client.force_login(exam["invigilator"])
    with clock.frozen_at(EXAM_START):
        answer = client.post(f"/api/v1/study/exam-rooms/{exam['rooms']['A101'].pk}/checkins",
                             {"credential": "04D4E5F6"}, content_type="application/json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "exam_wrong_room" and answer.json()["details"]["room"] == "A102"


def test_roster_import_api_authorization(exam, make_operator, other_institution, institution):
    carol, _card = holder(institution, "04CAFE02")
    office = make_operator(institution, "study_admin")
    _t, registrar_secret = token_issue(user=make_operator(institution, "integration"), name="registrar")
    foreign = make_operator(other_institution, "study_admin", username="foreign-office")
    payload = json.dumps({"rows": [{"number": carol.number, "room": "B201", "seat": "9"}]})
    assert_authorization(
        lambda client: client.post("/api/v1/study/exams/calc-1/roster", payload, content_type="application/json"),
        anonymous=Expect(ANONYMOUS, 401), wrong_role=Expect(Principal.session(exam["invigilator"]), 403),
        wrong_institution=Expect(Principal.session(foreign), 404),
        allowed=Expect(Principal.bearer(registrar_secret), 200),
        snapshot=lambda: tuple(ExamEntry.objects.order_by("pk").values_list("pk", "room__code", "seat")), writes=True)
    assert office.has_perm("study.add_examentry")


def test_session_and_roster_file_over_the_api(institution, make_operator):
    holders = [holder(institution, f"04ABCD{n:02d}")[0] for n in range(3)]
    client = Client()
    client.force_login(make_operator(institution, "study_admin"))
    created = client.post("/api/v1/study/exams", {"code": "phys-2", "title": "大学物理", "starts_at": EXAM_START.isoformat(),
                                                  "ends_at": (EXAM_START.replace(hour=11)).isoformat()},
                          content_type="application/json")
    assert created.status_code == 201
    lines = [["number", "room", "seat"], *([p.number, "C30" + str(i % 2), str(i)] for i, p in enumerate(holders))]
    from django.core.files.uploadedfile import SimpleUploadedFile

    answer = client.post("/api/v1/study/exams/phys-2/roster/file",
                         {"file": SimpleUploadedFile("roster.csv", csv_bytes(lines))})
    assert answer.status_code == 200, answer.content
    assert answer.json()["created"] == 3 and answer.json()["rooms_created"] == 2
    session = ExamSession.objects.get(code="phys-2")
    attendance = client.get("/api/v1/study/exams/phys-2/attendance")
    assert [row["present"] for row in attendance.json()] == [False] * 3
    assert session.rooms.count() == 2


def test_portal_my_exams_shows_room_and_code(exam):
    client = portal_client(exam["alice"])
    with clock.frozen_at(EXAM_START):
        page = client.get(reverse("portal:exams")).content.decode()
        api = client.get("/api/v1/me/exams").json()
    assert 'data-room="A101"' in page and 'data-code="CI1.' in page and "<svg" in page
    assert api["exams"][0]["room"] == "A101" and api["check_in_code"].startswith("CI1.")
    assert 'id="tile-exams"' in client.get(reverse("portal:home")).content.decode()
