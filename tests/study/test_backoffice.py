"""Back-office screens of the study services and the library: who may open and change what (rule 6)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campuscard.core import clock
from campuscard.library.models import Loan
from campuscard.study.models import ExamEntry, Seat
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.helpers import csv_bytes
from tests.study.conftest import EXAM_START, holder

pytestmark = pytest.mark.django_db


def test_qr_sheet_and_occupancy_scoped(study_room, make_operator, institution, other_institution):
    room, seats = study_room
    admin = make_operator(institution, "study_admin")
    for name in ("admin:study_studyroom_qr_sheet", "admin:study_studyroom_occupancy"):
        assert_authorization(
            lambda client, name=name: client.get(reverse(name, args=[room.pk])),
            anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(make_operator(
                institution, "merchant_operator", f"m-{name[-5:]}")), (403, 404)),
            wrong_institution=Expect(Principal.session(make_operator(other_institution, "study_admin",
                                                                     f"o-{name[-5:]}")), 404),
            allowed=Expect(Principal.session(admin), 200),
            snapshot=lambda: tuple(Seat.objects.values_list("pk", "token")))
    sheet = Principal.session(admin).client().get(reverse("admin:study_studyroom_qr_sheet", args=[room.pk]))
    assert sheet.content.decode().count("<svg") == 3


def test_add_seats_scoped(study_room, make_operator, institution, other_institution):
    room, _seats = study_room
    assert_authorization(
        lambda client: client.post(reverse("admin:study_studyroom_add_seats", args=[room.pk]), {"labels": "B1-B4"}),
        anonymous=Expect(ANONYMOUS, 302),
        wrong_role=Expect(Principal.session(make_operator(institution, "invigilator")), (403, 404)),
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "study_admin", "o-s")), 404),
        allowed=Expect(Principal.session(make_operator(institution, "study_admin")), 302),
        snapshot=lambda: tuple(Seat.objects.order_by("label").values_list("label", flat=True)), writes=True)
    assert list(room.seats.filter(label__startswith="B").values_list("label", flat=True)) == ["B1", "B2", "B3", "B4"]


def test_roster_import_page_scoped(exam, make_operator, institution, other_institution):
    carol, _card = holder(institution, "04CAFE09")
    lines = [["学号", "考场", "座位"], [carol.number, "A102", "8"]]
    assert_authorization(
        lambda client: client.post(reverse("admin:study_examsession_roster", args=[exam["session"].pk]),
                                   {"file": SimpleUploadedFile("r.csv", csv_bytes(lines))}),
        anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(exam["invigilator"]), 403),
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "study_admin", "o-r")), 404),
        allowed=Expect(Principal.session(make_operator(institution, "study_admin")), 302),
        snapshot=lambda: tuple(ExamEntry.objects.values_list("person", "room", "seat")), writes=True)
    assert ExamEntry.objects.get(person=carol).room.code == "A102"


def test_invigilator_sees_only_their_rooms_roster(exam, make_operator, institution):
    client = Principal.session(exam["invigilator"]).client()
    with clock.frozen_at(EXAM_START):
        page = client.get(reverse("admin:study_examentry_changelist")).content.decode()
    assert exam["alice"].number in page and exam["bob"].number not in page


def test_library_feed_page_scoped(make_operator, institution, other_institution, card, student):
    lines = [["event", "loan_id", "number", "barcode", "title", "at", "due"],
             ["loan", "X1", student.number, "B1", "围城", "2026-12-01 10:00", "2026-12-20"]]
    assert_authorization(
        lambda client: client.post(reverse("admin:library_loan_feed"), {"file": SimpleUploadedFile("l.csv", csv_bytes(lines))}),
        anonymous=Expect(ANONYMOUS, 302),
        wrong_role=Expect(Principal.session(make_operator(institution, "institution_admin")), 403),
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "library_system", "o-l")), 200),
        allowed=Expect(Principal.session(make_operator(institution, "library_system")), 302),
        snapshot=lambda: tuple(Loan.objects.values_list("external_id", "institution")), writes=True)


def test_institution_admin_names_invigilators_of_their_institution_only(exam, make_operator, institution,
                                                                       other_institution):
    """The institution's administrator grants the role and names invigilators per room; the choices are the
    invigilators of their own institution (TEN-1), and another institution's administrator cannot open it."""
    admin = make_operator(institution, "institution_admin")
    assert admin.has_perm("identity.change_user") and admin.has_perm("study.change_examroom")
    foreign_invigilator = make_operator(other_institution, "invigilator", "far-inv")
    url = reverse("admin:study_examsession_change", args=[exam["session"].pk])
    page = Principal.session(admin).client().get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert f'value="{exam["invigilator"].pk}"' in body and f'value="{foreign_invigilator.pk}"' not in body
    other_admin = make_operator(other_institution, "institution_admin", "far-admin")
    assert Principal.session(other_admin).client().get(url).status_code in (302, 404)
