"""Health records (SVC-6): visible to the holder and to the clinicians of their institution only; every read
by anyone but the holder is logged and shown to the holder; a clinician of another institution is refused
and nothing is logged; the hospital's feed stores all rows or none."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.health import services
from campuscard.health.models import Examination, RecordRead, Vaccination
from campuscard.identity.services import token_issue
from campuscard.support.models import Notification
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.helpers import csv_bytes

pytestmark = pytest.mark.django_db


def _api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _log():
    return tuple(RecordRead.objects.values_list("pk", "person_id", "reader_id", "channel", "what"))


# --- the holder ---------------------------------------------------------------------------------------

def test_the_holder_sees_own_records_and_nothing_is_logged(records, holder_client):
    page = holder_client.get(reverse("portal:health"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "E-2026-001" in body and "乙肝疫苗" in body and "168.5" in body
    api = holder_client.get("/api/v1/me/health").json()
    assert [e["external_id"] for e in api["examinations"]] == ["E-2026-001"]
    assert {v["vaccine"] for v in api["vaccinations"]} == {"乙肝疫苗", "流感疫苗"}
    assert api["read_logged"] is False
    assert RecordRead.objects.count() == 0


def test_the_hospital_feed_notifies_the_holder(records):
    assert Notification.objects.filter(person=records, kind="health").count() == 2  # one per batch received


# --- every read by someone else is logged -------------------------------------------------------------

def test_clinician_read_by_api_is_logged_and_shown_to_the_holder(records, clinician, holder_client):
    moment = clock.now()
    with clock.frozen_at(moment):
        answer = _api(clinician).get("/api/v1/health/institutions/uni/people/2024000001?purpose=follow-up")
    assert answer.status_code == 200, answer.content
    assert answer.json()["read_logged"] is True
    read = RecordRead.objects.get()
    assert (read.reader, read.person, read.channel, read.read_at) == (clinician, records, "api", moment)
    assert read.examinations == 1 and read.vaccinations == 2 and read.purpose == "follow-up"
    assert "2026-09-03" in read.what and "乙肝疫苗" in read.what
    assert AuditLog.objects.filter(action="health_read", object_id=str(records.pk), actor=clinician).count() == 1
    # the holder sees who, when, what — in the portal and the API
    page = holder_client.get(reverse("portal:health")).content.decode()
    assert "王医生" in page and "follow-up" in page and f'data-read="{read.pk}"' in page
    reads = holder_client.get("/api/v1/me/health/reads").json()
    assert [(r["reader"], r["channel"], r["purpose"]) for r in reads] == [("王医生", "api", "follow-up")]


def test_clinician_read_in_the_back_office_is_logged_each_time(records, clinician):
    client = _api(clinician)
    lookup = client.post(reverse("admin:health_examination_changelist"),
                         {"number": records.number, "purpose": "check-up"})
    assert lookup.status_code == 302
    assert RecordRead.objects.count() == 0  # finding the holder is not reading the records
    for expected in (1, 2):
        page = client.get(lookup.url)
        assert page.status_code == 200
        assert "E-2026-001" in page.content.decode()
        assert RecordRead.objects.filter(channel="backoffice", purpose="check-up").count() == expected


@pytest.mark.parametrize("channel", ["api", "backoffice"])
def test_every_read_path_by_someone_else_logs(records, clinician, channel):
    """No way to the records for a clinician skips the log."""
    client = _api(clinician)
    if channel == "api":
        client.get(f"/api/v1/health/institutions/uni/people/{records.number}")
    else:
        client.get(reverse("admin:health_person", args=[records.pk]))
    assert RecordRead.objects.filter(channel=channel, reader=clinician).count() == 1


def test_service_refuses_and_logs_nothing_for_anyone_else(records, foreign_clinician, make_operator, institution):
    admin = make_operator(institution, "institution_admin")
    platform = make_operator(None, None)
    for reader in (foreign_clinician, admin, platform):
        with pytest.raises(DomainError) as refused:
            services.health_records_read(reader=reader, person=records)
        assert refused.value.code == "health_forbidden"
    assert RecordRead.objects.count() == 0


# --- the authorisation matrix (tests/authz.py) -------------------------------------------------------

def test_clinician_read_authorisation(records, clinician, foreign_clinician, make_operator, institution):
    url = f"/api/v1/health/institutions/uni/people/{records.number}"
    responses = assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(make_operator(institution, "institution_admin")), 403),
        wrong_institution=Expect(Principal.session(foreign_clinician), 403),
        allowed=Expect(Principal.session(clinician), 200),
        snapshot=_log, writes=True)  # the allowed read writes its log row
    assert responses["wrong institution"].json()["code"] == "health_forbidden"


def test_a_clinician_of_another_institution_is_refused_everywhere(records, foreign_clinician):
    """Naming the holder's institution, or their own (where the number is unknown), or the page by id."""
    client = _api(foreign_clinician)
    assert client.get(f"/api/v1/health/institutions/uni/people/{records.number}").status_code == 403
    assert client.get(f"/api/v1/health/institutions/other/people/{records.number}").status_code == 404
    assert client.get(reverse("admin:health_person", args=[records.pk])).status_code == 403
    lookup = client.post(reverse("admin:health_examination_changelist"), {"number": records.number})
    assert lookup.status_code == 200 and 'data-error="number"' in lookup.content.decode()
    assert RecordRead.objects.count() == 0


def test_read_log_is_for_administrators_not_clinicians(records, clinician, make_operator, institution,
                                                       other_institution):
    _api(clinician).get(f"/api/v1/health/institutions/uni/people/{records.number}")
    url = reverse("admin:health_recordread_changelist")
    assert _api(clinician).get(url).status_code == 403
    assert _api(make_operator(institution, "institution_admin")).get(url).status_code == 200
    other_admin = make_operator(other_institution, "institution_admin")
    assert "王医生" not in _api(other_admin).get(url).content.decode()
    # the records themselves are not open to the institution's administrator
    assert _api(make_operator(institution, "institution_admin", "boss")).get(
        reverse("admin:health_person", args=[records.pk])).status_code == 403


# --- the hospital's feed -------------------------------------------------------------------------------

def _bearer(token: str) -> Client:
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {token}"})


def test_feed_stores_all_rows_or_none_and_a_resend_corrects(holder, feed_token):
    client = _bearer(feed_token)
    good = {"number": holder.number, "external_id": "E-1", "examined_on": "2026-09-01", "height_cm": 170.0}
    bad = {"number": "nobody", "external_id": "E-2", "examined_on": "2026-13-01", "systolic": 900}
    refused = client.post("/api/v1/health/institutions/uni/examinations", [good, bad], content_type="application/json")
    assert refused.status_code == 422
    errors = refused.json()["details"]["errors"]
    assert {(e["line"], e["column"]) for e in errors} == {(2, "examined_on"), (2, "systolic")}
    assert Examination.objects.count() == 0
    created = client.post("/api/v1/health/institutions/uni/examinations", [good], content_type="application/json")
    assert created.status_code == 201 and created.json()["created"] == 1
    again = client.post("/api/v1/health/institutions/uni/examinations", [good], content_type="application/json")
    assert again.json()["unchanged"] == 1
    corrected = client.post("/api/v1/health/institutions/uni/examinations", [{**good, "height_cm": "171"}],
                            content_type="application/json")
    assert corrected.json()["updated"] == 1
    assert str(Examination.objects.get().height_cm) == "171.0"
    # the feed writes but may not read
    assert client.get(f"/api/v1/health/institutions/uni/people/{holder.number}").status_code == 403


def test_feed_csv_with_chinese_headers(holder, feed_token):
    data = csv_bytes([["学号", "记录号", "疫苗名称", "剂次", "接种日期", "批号"],
                      [holder.number, "V-9", "麻疹疫苗", "2", "2026/09/08", "B123"]])
    client = _bearer(feed_token)
    answer = client.post("/api/v1/health/institutions/uni/import/vaccinations",
                         {"file": SimpleUploadedFile("v.csv", data, content_type="text/csv")})
    assert answer.status_code == 201, answer.content
    vaccination = Vaccination.objects.get()
    assert (vaccination.vaccine, vaccination.dose, str(vaccination.given_on), vaccination.batch) == (
        "麻疹疫苗", 2, "2026-09-08", "B123")


def test_feed_authorisation(holder, feed_token, make_operator, institution, other_institution):
    other_feed = make_operator(other_institution, "hospital_feed", "other-hospital")
    rows = [{"number": holder.number, "external_id": "V-1", "vaccine": "乙肝疫苗", "given_on": "2026-09-05"}]
    assert_authorization(
        lambda client: client.post("/api/v1/health/institutions/uni/vaccinations", rows,
                                   content_type="application/json"),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.bearer(token_issue(user=make_operator(institution, "card_center_operator"),
                                                       name="x")[1]), 403),
        wrong_institution=Expect(Principal.bearer(token_issue(user=other_feed, name="y")[1]), 403),
        allowed=Expect(Principal.bearer(feed_token), 201),
        snapshot=lambda: tuple(Vaccination.objects.values_list("external_id", "person_id")), writes=True)


def test_clinician_imports_the_export_in_the_back_office(holder, clinician):
    header, good = ["number", "external_id", "examined_on", "weight_kg"], [holder.number, "E-7", "2026-09-02", "60.2"]
    data = csv_bytes([header, good, [holder.number, "E-8", "not a date", ""]])
    client = _api(clinician)
    page = client.post(reverse("admin:health_import"),
                       {"kind": "examinations", "file": SimpleUploadedFile("e.csv", data, content_type="text/csv")})
    assert page.status_code == 200 and "第 3 行" in page.content.decode()  # the back office speaks Chinese
    assert Examination.objects.count() == 0
    page = client.post(reverse("admin:health_import"),
                       {"kind": "examinations", "file": SimpleUploadedFile("e.csv", csv_bytes([header, good]),
                                                                           content_type="text/csv")})
    assert page.status_code == 302
    assert Examination.objects.get().external_id == "E-7"
    # nothing was read by importing
    assert RecordRead.objects.count() == 0
    assert services.health_records_read(reader=holder.user, person=holder).examinations[0].external_id == "E-7"
    assert AuditLog.objects.filter(action="health_received", actor=clinician).count() == 1


def test_the_back_office_login_page_still_opens_for_anonymous_visitors(db):
    """The health menu entry is asked about on every admin page, the login page included."""
    assert Client().get("/backoffice/login/").status_code == 200
