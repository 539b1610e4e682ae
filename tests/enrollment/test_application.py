"""The card application (APP-1, APP-2, APP-4, APP-5): every rule at its edges, through the services
and the portal pages. The face check's result is written the way the face worker writes it (its own
tests are engineer faces'); here it is an input."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from campuscard.cards.models import Card, Photo, Production
from campuscard.cards.selectors import cards_of, package_addons
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.enrollment import services, sms
from campuscard.enrollment.models import Application, Document, FaceAttempt, PhoneCode
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from campuscard.support.models import Notification
from tests.enrollment.apply_helpers import (
    ADDRESS,
    applicant,
    filled,
    in_review,
    jpeg,
    last_code,
    photo,
    places,
)

pytestmark = pytest.mark.django_db


def code_of(fn, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        fn(**kwargs)
    return caught.value.code


def me(person) -> Actor:
    return Actor.by_user(person.user)


@pytest.fixture
def where(institution):
    return places(institution)


@pytest.fixture
def reviewer(make_operator, institution):
    return make_operator(institution, "card_center_operator", "reviewer")


# --- APP-1: eligibility --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [Person.Kind.UNDERGRADUATE, Person.Kind.GRADUATE, Person.Kind.EXCHANGE])
def test_full_time_registered_students_may_apply(institution, kind):
    person = applicant(institution, kind=kind)
    application = services.application_start(actor=me(person), person=person)
    assert application.state == Application.State.DRAFT
    assert AuditLog.objects.filter(action="application_started", object_id=str(application.pk)).exists()
    # starting again returns the same open application
    assert services.application_start(actor=me(person), person=person).pk == application.pk


def test_staff_are_sent_to_the_hr_path(institution):
    person = applicant(institution, kind=Person.Kind.STAFF, status=Person.Status.ACTIVE, source=Person.Source.HR)
    assert code_of(services.application_start, actor=me(person), person=person) == "application_not_eligible_staff"
    assert not Application.objects.exists()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"kind": Person.Kind.TEMPORARY}, "kind"), ({"kind": Person.Kind.VISITOR}, "kind"),
    ({"kind": Person.Kind.ALUMNUS}, "kind"),
    ({"status": Person.Status.PART_TIME}, "status"), ({"status": Person.Status.SUSPENDED}, "status"),
    ({"status": Person.Status.GRADUATED}, "status"), ({"source": Person.Source.MANUAL}, "source"),
])
def test_anyone_else_is_refused_with_the_reason(institution, changes, reason):
    from django.utils import translation

    from campuscard.enrollment.selectors import INELIGIBLE_REASONS

    person = applicant(institution, **changes)
    with pytest.raises(DomainError) as caught:
        services.application_start(actor=me(person), person=person)
    assert caught.value.code == "application_not_eligible"
    with translation.override("en"):
        assert str(INELIGIBLE_REASONS[reason]) in caught.value.message
    assert not Application.objects.exists()


def test_a_holder_of_an_active_card_is_told_so(institution):
    from campuscard.cards.services import card_issue

    person = applicant(institution)
    card = card_issue(actor=Actor.system("test"), person=person)
    assert code_of(services.application_start, actor=me(person), person=person) == "application_card_exists"
    card.state = Card.State.LOST
    card.save()  # a lost card is not active: the holder replaces it, or applies
    assert services.application_start(actor=me(person), person=person).state == Application.State.DRAFT


def test_the_portal_shows_the_refusal_in_the_holders_language(institution):
    person = applicant(institution, kind=Person.Kind.STAFF, status=Person.Status.ACTIVE, source=Person.Source.HR)
    client = Client()
    client.force_login(person.user)
    page = client.get(reverse("portal:apply"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-code="application_not_eligible_staff"' in page
    assert 'id="apply-start"' not in page


# --- APP-2: ID document and proof of student status ---------------------------------------------------

def test_the_id_document_must_match_the_roster(institution):
    person = applicant(institution)
    application = services.application_start(actor=me(person), person=person)
    assert code_of(services.application_id_check, actor=me(person), application=application,
                   id_type=IdType.RESIDENT, id_number="110105199001010000") == "application_id_invalid"
    other = applicant(institution, 2).id_number
    assert code_of(services.application_id_check, actor=me(person), application=application,
                   id_type=IdType.RESIDENT, id_number=other) == "application_id_mismatch"
    assert code_of(services.application_id_check, actor=me(person), application=application,
                   id_type=IdType.PASSPORT, id_number="E12345678") == "application_id_mismatch"
    application.refresh_from_db()
    assert application.id_checked_at is None
    services.application_id_check(actor=me(person), application=application, id_type=IdType.RESIDENT,
                                  id_number=" " + person.id_number.lower() + " ")
    application.refresh_from_db()
    assert application.id_checked_at is not None


def test_the_status_proof_is_the_registrars_reference(institution):
    from campuscard.enrollment.selectors import status_proof_reference

    person = applicant(institution)
    application = services.application_start(actor=me(person), person=person)
    reference = status_proof_reference(person=person)
    assert reference == f"XJ-UNI-2026-{person.number}"
    assert code_of(services.application_status_proof_confirm, actor=me(person), application=application,
                   reference="XJ-UNI-2026-0") == "application_status_proof_mismatch"
    services.application_status_proof_confirm(actor=me(person), application=application, reference=reference)
    application.refresh_from_db()
    assert application.status_proof == reference


# --- APP-2: the SMS code --------------------------------------------------------------------------------

@pytest.fixture
def draft(institution):
    person = applicant(institution)
    return person, services.application_start(actor=me(person), person=person)


NOW = dt.datetime(2026, 8, 20, 9, 0, tzinfo=dt.UTC)


def test_the_code_is_stored_hashed_and_verifies_once(draft):
    person, application = draft
    with clock.frozen_at(NOW):
        sent = services.phone_code_send(actor=me(person), application=application, phone="138 0013 8000",
                                        client_address=ADDRESS)
        code = last_code("13800138000")
        assert sent.code_hash != code and code not in sent.code_hash and len(sent.code_hash) == 64
        assert sent.expires_at == NOW + dt.timedelta(minutes=5)
        services.phone_code_verify(actor=me(person), application=application, code=code, client_address=ADDRESS)
        application.refresh_from_db()
        assert application.phone == "13800138000" and application.phone_verified_at == NOW
        assert code_of(services.phone_code_verify, actor=me(person), application=application, code=code,
                       client_address=ADDRESS) == "phone_code_expired"  # used


@pytest.mark.parametrize("phone", ["1380013800", "23800138000", "12800138000", "138001380001", "abc"])
def test_only_mainland_mobile_numbers(draft, phone):
    person, application = draft
    assert code_of(services.phone_code_send, actor=me(person), application=application, phone=phone,
                   client_address=ADDRESS) == "phone_invalid"
    assert not PhoneCode.objects.exists()


def test_the_code_expires(draft):
    person, application = draft
    with clock.frozen_at(NOW):
        services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                 client_address=ADDRESS)
    code = last_code("13800138000")
    with clock.frozen_at(NOW + dt.timedelta(seconds=299)):
        pass  # still valid one second before the end (checked below on a second code)
    with clock.frozen_at(NOW + dt.timedelta(seconds=300)):
        assert code_of(services.phone_code_verify, actor=me(person), application=application, code=code,
                       client_address=ADDRESS) == "phone_code_expired"
    with clock.frozen_at(NOW + dt.timedelta(seconds=400)):
        services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                 client_address=ADDRESS)
    with clock.frozen_at(NOW + dt.timedelta(seconds=699)):
        services.phone_code_verify(actor=me(person), application=application, code=last_code("13800138000"),
                                   client_address=ADDRESS)


@override_settings(SMS_CODE_TTL_SECONDS=60)
def test_the_lifetime_is_a_setting(draft):
    person, application = draft
    with clock.frozen_at(NOW):
        sent = services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                        client_address=ADDRESS)
    assert sent.expires_at == NOW + dt.timedelta(seconds=60)


def test_resend_once_a_minute_and_five_an_hour_per_number(draft):
    person, application = draft
    for minute in range(5):
        with clock.frozen_at(NOW + dt.timedelta(minutes=minute)):
            services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                     client_address=f"10.0.1.{minute}")
            with pytest.raises(DomainError) as caught:
                services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                         client_address="10.9.9.9")
            assert caught.value.code == "phone_code_too_soon" and caught.value.params["seconds"] == 60
    with clock.frozen_at(NOW + dt.timedelta(minutes=6)):
        with pytest.raises(DomainError) as caught:
            services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                     client_address="10.9.9.9")
        assert caught.value.code == "phone_code_too_many" and caught.value.params["minutes"] == 54
        # another number is not affected
        services.phone_code_send(actor=me(person), application=application, phone="13900139000",
                                 client_address="10.9.9.9")
    with clock.frozen_at(NOW + dt.timedelta(minutes=60)):
        services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                 client_address="10.9.9.9")
    assert PhoneCode.objects.filter(phone="13800138000").count() == 6


@override_settings(SMS_ADDRESS_MAX_PER_HOUR=3)
def test_sends_per_client_address(draft):
    person, application = draft
    with clock.frozen_at(NOW):
        for n in range(3):
            services.phone_code_send(actor=me(person), application=application, phone=f"1380013800{n}",
                                     client_address=ADDRESS)
        assert code_of(services.phone_code_send, actor=me(person), application=application, phone="13800138009",
                       client_address=ADDRESS) == "phone_code_too_many"
        services.phone_code_send(actor=me(person), application=application, phone="13800138009",
                                 client_address="10.0.0.8")


def test_five_wrong_guesses_kill_the_code(draft):
    person, application = draft
    services.phone_code_send(actor=me(person), application=application, phone="13800138000", client_address=ADDRESS)
    code = last_code("13800138000")
    wrong = "000000" if code != "000000" else "111111"
    lefts = []
    for n in range(5):
        with pytest.raises(DomainError) as caught:
            services.phone_code_verify(actor=me(person), application=application, code=wrong,
                                       client_address=f"10.0.2.{n}")
        lefts.append((caught.value.code, caught.value.params.get("left")))
    assert lefts == [("phone_code_wrong", 4), ("phone_code_wrong", 3), ("phone_code_wrong", 2),
                     ("phone_code_wrong", 1), ("phone_code_dead", None)]
    assert code_of(services.phone_code_verify, actor=me(person), application=application, code=code,
                   client_address="10.0.3.1") == "phone_code_dead"  # even the right code
    application.refresh_from_db()
    assert application.phone_verified_at is None
    assert PhoneCode.objects.get().attempts == 5


@override_settings(SMS_ADDRESS_MAX_WRONG=3)
def test_wrong_guesses_per_client_address(institution):
    people = [applicant(institution, n) for n in range(1, 4)]
    with clock.frozen_at(NOW):
        drafts = []
        for n, person in enumerate(people):
            application = services.application_start(actor=me(person), person=person)
            services.phone_code_send(actor=me(person), application=application, phone=f"1390013900{n}",
                                     client_address=f"10.1.0.{n}")
            drafts.append((person, application))
        for person, application in drafts:  # one wrong guess on each number, all from one address
            assert code_of(services.phone_code_verify, actor=me(person), application=application,
                           code="xxxxxx", client_address=ADDRESS) == "phone_code_wrong"
        person, application = drafts[0]
        right = last_code("13900139000")
        with pytest.raises(DomainError) as caught:
            services.phone_code_verify(actor=me(person), application=application, code=right, client_address=ADDRESS)
        assert caught.value.code == "phone_code_locked" and caught.value.params["minutes"] == 60
        # from another address the right code still works
        services.phone_code_verify(actor=me(person), application=application, code=right, client_address="10.7.7.7")
    with clock.frozen_at(NOW + dt.timedelta(hours=1, seconds=1)):  # the lock has run out
        person, application = drafts[1]
        services.phone_code_send(actor=me(person), application=application, phone="13900139001",
                                 client_address="10.1.0.1")
        services.phone_code_verify(actor=me(person), application=application, code=last_code("13900139001"),
                                   client_address=ADDRESS)


def test_a_new_code_replaces_the_old_one(draft):
    person, application = draft
    with clock.frozen_at(NOW):
        services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                 client_address=ADDRESS)
    first = last_code("13800138000")
    with clock.frozen_at(NOW + dt.timedelta(seconds=61)):
        services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                 client_address=ADDRESS)
        second = last_code("13800138000")
        if first != second:
            assert code_of(services.phone_code_verify, actor=me(person), application=application, code=first,
                           client_address=ADDRESS) == "phone_code_wrong"
        services.phone_code_verify(actor=me(person), application=application, code=second, client_address=ADDRESS)


def test_a_failing_gateway_changes_nothing(draft, monkeypatch):
    person, application = draft

    class Broken:
        def send(self, *, phone, text):
            raise sms.SmsError("down")

    monkeypatch.setattr(sms, "provider", lambda: Broken())
    assert code_of(services.phone_code_send, actor=me(person), application=application, phone="13800138000",
                   client_address=ADDRESS) == "phone_sms_failed"
    assert not PhoneCode.objects.exists()
    application.refresh_from_db()
    assert application.phone == ""


def test_the_http_provider_posts_to_the_gateway(draft):
    """A real HTTP server on localhost stands for the gateway: the message arrives, a 500 is a failure."""
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received, answers = [], [200, 500]

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Authorization"], json.loads(body)))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    person, application = draft
    try:
        with override_settings(SMS_PROVIDER="http", SMS_HTTP_URL=f"http://127.0.0.1:{server.server_port}/send",
                               SMS_HTTP_TOKEN="t0ken", SMS_HTTP_SIGN="示范大学"):
            services.phone_code_send(actor=me(person), application=application, phone="13800138000",
                                     client_address=ADDRESS)
            assert code_of(services.phone_code_send, actor=me(person), application=application,
                           phone="13900139000", client_address=ADDRESS) == "phone_sms_failed"
    finally:
        server.shutdown()
    authorization, body = received[0]
    assert authorization == "Bearer t0ken" and body["phone"] == "13800138000" and body["sign"] == "示范大学"
    code = PhoneCode.objects.get(phone="13800138000")
    assert any(services._code_hash("13800138000", word) == code.code_hash
               for word in body["text"].replace(",", " ").replace("，", " ").split() if word.isdigit())
    assert not PhoneCode.objects.filter(phone="13900139000").exists()


# --- APP-2: documents -----------------------------------------------------------------------------------

@pytest.fixture
def international(institution):
    person = applicant(institution, 7, id_type=IdType.PASSPORT, id_number="E12345678")
    return person, services.application_start(actor=me(person), person=person)


@pytest.mark.parametrize(("id_type", "id_number"), [(IdType.PASSPORT, "E12345678"), (IdType.HKMO_PERMIT, "H12345678"),
                                                    (IdType.TW_PERMIT, "12345678")])
def test_hmt_and_international_students_upload_three_documents(institution, where, id_type, id_number):
    from campuscard.enrollment.selectors import missing

    person = applicant(institution, 7, id_type=id_type, id_number=id_number)
    application = filled(person, where["kiosk"], upload_documents=False)
    assert [m.code for m in missing(application=application)] == [
        "document:permit", "document:accommodation", "document:issc_letter"]
    assert code_of(services.application_submit, actor=me(person), application=application) == "application_incomplete"
    for kind in ("permit", "accommodation", "issc_letter"):
        services.document_upload(actor=me(person), application=application, kind=kind,
                                 upload=SimpleUploadedFile("x.pdf", b"%PDF-1.7\n" + b"x" * 100, "application/pdf"))
    assert services.application_submit(actor=me(person), application=application).state == Application.State.REVIEW


def test_mainland_students_upload_none(draft):
    person, application = draft
    assert code_of(services.document_upload, actor=me(person), application=application, kind="permit",
                   upload=SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg")) == "document_kind_invalid"


def test_the_type_is_sniffed_from_the_content_not_the_name(international):
    person, application = international
    refused = [SimpleUploadedFile("letter.pdf", b"<html>not a pdf</html>", "application/pdf"),
               SimpleUploadedFile("permit.jpg", b"GIF89a" + b"\0" * 50, "image/jpeg")]
    for upload in refused:
        assert code_of(services.document_upload, actor=me(person), application=application, kind="permit",
                       upload=upload) == "document_type_invalid"
    assert code_of(services.document_upload, actor=me(person), application=application, kind="permit",
                   upload=SimpleUploadedFile("e.jpg", b"", "image/jpeg")) == "document_empty"
    document = services.document_upload(actor=me(person), application=application, kind="permit",
                                        upload=SimpleUploadedFile("scan.txt", jpeg(), "text/plain"))
    assert document.content_type == "image/jpeg" and document.file.name.endswith(".jpg")


@override_settings(APPLICATION_DOCUMENT_MAX_BYTES=2000)
def test_the_size_limit(international):
    person, application = international
    services.document_upload(actor=me(person), application=application, kind="permit",
                             upload=SimpleUploadedFile("a.jpg", jpeg(2000), "image/jpeg"))
    assert code_of(services.document_upload, actor=me(person), application=application, kind="permit",
                   upload=SimpleUploadedFile("b.jpg", jpeg(2001), "image/jpeg")) == "document_too_large"
    assert Document.objects.get().size == 2000


def test_a_new_upload_replaces_the_old(international):
    person, application = international
    first = services.document_upload(actor=me(person), application=application, kind="permit",
                                     upload=SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg"))
    second = services.document_upload(actor=me(person), application=application, kind="permit",
                                      upload=SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"))
    assert list(Document.objects.values_list("pk", flat=True)) == [second.pk]
    assert first.pk != second.pk


def test_documents_are_served_only_to_the_holder_and_entitled_operators(international, institution,
                                                                       other_institution, make_operator):
    person, application = international
    document = services.document_upload(actor=me(person), application=application, kind="permit",
                                        upload=SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg"))
    url = reverse("portal:apply_document", args=[document.pk])
    assert url.startswith("/apply/")

    def status(user):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client.get(url).status_code

    holder = Client()
    holder.force_login(person.user)
    response = holder.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8\xff")
    assert "no-store" in response["Cache-Control"]
    assert status(applicant(institution, 8).user) == 404  # another holder
    assert status(None) == 302  # to the login
    assert status(make_operator(institution, "card_center_operator")) == 200
    assert status(make_operator(other_institution, "card_center_operator")) == 404
    assert status(make_operator(institution, "merchant_operator")) == 404
    # never under /media/: the photo view there does not know documents
    media = Client()
    media.force_login(person.user)
    assert media.get("/media/" + document.file.name).status_code == 404


# --- APP-4: package and collection place ---------------------------------------------------------------

def test_the_package_and_the_collection_place(draft, where):
    person, application = draft
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=["spa"],
                   collect="kiosk", collect_point=where["kiosk"]) == "application_addon_unknown"
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="kiosk", collect_point=where["far_kiosk"]) == "application_collect_invalid"
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="kiosk", collect_point=where["window"]) == "application_collect_invalid"
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="window", collect_point=None) == "application_collect_invalid"
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="home") == "application_collect_invalid"
    application.refresh_from_db()
    assert (application.addons, application.collect_point) == ([], None)
    services.application_package_set(actor=me(person), application=application, addons=["lab", "laundry", "lab"],
                                     collect="window", collect_point=where["window"])
    application.refresh_from_db()
    assert application.addons == ["lab", "laundry"] and application.collect_point == where["window"]
    services.application_package_set(actor=me(person), application=application, addons=[], collect="unit")
    application.refresh_from_db()
    assert application.collect == "unit" and application.collect_point is None


def test_the_unit_needs_a_department(institution, where):
    person = applicant(institution, department="")
    application = services.application_start(actor=me(person), person=person)
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="unit") == "application_collect_invalid"


def test_a_kiosk_of_another_institution_is_refused(draft, other_institution):
    from campuscard.core.models import Area, ServicePoint

    person, application = draft
    area = Area.objects.create(campus=other_institution.campuses.first(), code="x", name="x")
    foreign = ServicePoint.objects.create(area=area, code="k9", kind="kiosk", name="foreign")
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="kiosk", collect_point=foreign) == "application_collect_invalid"


# --- the flow and the states -----------------------------------------------------------------------------

def test_submit_needs_everything(draft, where):
    from campuscard.enrollment.selectors import missing

    person, application = draft
    assert [m.code for m in missing(application=application)] == [
        "id_document", "status_proof", "phone", "photo", "collect", "consent", "face"]
    with pytest.raises(DomainError) as caught:
        services.application_submit(actor=me(person), application=application)
    assert caught.value.code == "application_incomplete" and caught.value.details[0] == "id_document"
    application.refresh_from_db()
    assert application.state == Application.State.DRAFT


def test_submitted_with_the_face_passed_goes_to_review_all_checks_passed(institution, where):
    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    assert application.state == Application.State.REVIEW
    assert application.checks_passed is True and application.checks_failed == []
    titles = list(Notification.objects.filter(person=person, kind="application").values_list("link", flat=True))
    assert titles == ["/apply/", "/apply/"]  # submitted, waiting for review
    # materials can no longer change
    assert code_of(services.application_package_set, actor=me(person), application=application, addons=[],
                   collect="unit") == "application_state_invalid"


def test_a_failed_face_check_waits_for_a_person(institution, where):
    person = applicant(institution)
    application = in_review(person, where["kiosk"], face="failed")
    assert application.state == Application.State.REVIEW
    assert application.checks_passed is False and application.checks_failed == ["face"]


def test_while_the_face_check_runs_the_worker_settles(institution, where):
    person = applicant(institution)
    application = in_review(person, where["kiosk"], face="checking")
    assert application.state == Application.State.CHECKING
    # the face worker writes its result, then calls application_checks_settled
    Application.objects.filter(pk=application.pk).update(face_state="passed", face_distance=0.4)
    settled = services.application_checks_settled(application=application)
    assert settled.state == Application.State.REVIEW and settled.checks_passed
    again = services.application_checks_settled(application=application)  # a repeated call changes nothing
    assert again.state == Application.State.REVIEW
    assert AuditLog.objects.filter(action="application_checked").count() == 1


def test_settling_a_draft_does_nothing(draft):
    person, application = draft
    assert services.application_checks_settled(application=application).state == Application.State.DRAFT


def test_withdraw_while_open_and_frames_go(institution, where):
    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    FaceAttempt.objects.create(application=application, nonce="n1", actions=["blink"], created_at=clock.now(),
                               expires_at=clock.now(), frames=b"secret", frame_count=3)
    services.application_withdraw(actor=me(person), application=application)
    application.refresh_from_db()
    assert application.state == Application.State.WITHDRAWN
    assert FaceAttempt.objects.get().frames is None
    assert code_of(services.application_withdraw, actor=me(person), application=application) == \
        "application_state_invalid"
    # a new application may start
    assert services.application_start(actor=me(person), person=person).pk != application.pk


def test_one_open_application_per_person_in_the_database(institution):
    from django.db import IntegrityError, transaction

    person = applicant(institution)
    Application.objects.create(person=person)
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.create(person=person, state=Application.State.REVIEW)


# --- APP-5: review and activation ------------------------------------------------------------------------

def test_approval_issues_the_card_at_once_with_production_at_the_chosen_place(institution, where, reviewer):
    person = applicant(institution)
    application = in_review(person, where["window"], addons=("laundry", "lab"))
    FaceAttempt.objects.create(application=application, nonce="n2", actions=["nod"], created_at=clock.now(),
                               expires_at=clock.now(), frames=b"secret", frame_count=3)
    with clock.frozen_at(dt.datetime(2026, 9, 30, 10, 0, tzinfo=dt.UTC)):  # before the National Day holidays
        approved = services.application_approve(actor=Actor.by_user(reviewer), application=application)
    assert approved.state == Application.State.APPROVED and approved.decided_by == reviewer
    card = approved.card
    assert card.state == Card.State.ACTIVE and card.physical
    assert [view.card.pk for view in cards_of(person)] == [card.pk]  # in "My cards" at once
    production = Production.objects.get(card=card)
    assert production.collect_point == where["window"] and production.collect_unit == ""
    assert production.due_date > dt.date(2026, 10, 7)  # 3 working days after the holidays
    assert package_addons(person=person) == frozenset({"laundry", "lab"})
    assert Photo.objects.get(person=person).state == Photo.State.APPROVED
    assert FaceAttempt.objects.get().frames is None
    note = Notification.objects.filter(person=person).order_by("-pk").first()
    assert card.number in note.body and "一卡通服务中心" in note.body
    assert AuditLog.objects.filter(action="application_approved", object_id=str(application.pk)).exists()


def test_approval_for_the_unit(institution, where, reviewer):
    person = applicant(institution)
    application = filled(person, where["kiosk"])
    services.application_package_set(actor=me(person), application=application, addons=[], collect="unit")
    services.application_submit(actor=me(person), application=application)
    approved = services.application_approve(actor=Actor.by_user(reviewer), application=application)
    production = approved.card.production
    assert production.collect_point is None and production.collect_unit == "计算机学院"


def test_approving_twice_issues_one_card(institution, where, reviewer):
    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    first = services.application_approve(actor=Actor.by_user(reviewer), application=application)
    second = services.application_approve(actor=Actor.by_user(reviewer), application=application)
    assert first.card_id == second.card_id
    assert Card.objects.filter(person=person).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_approvals_issue_one_card(institution, where, reviewer):
    """Three reviewers press Approve at once: one card (the row lock and the state check)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL, where writers run at once")
    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    errors = []

    def approve():
        try:
            services.application_approve(actor=Actor.by_user(reviewer), application=application)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    start = threading.Barrier(3)

    def at_once():
        start.wait()
        approve()

    threads = [threading.Thread(target=at_once) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Card.objects.filter(person=person).count() == 1
    assert not [e for e in errors if not isinstance(e, DomainError)], errors


def test_only_an_operator_of_the_institution_decides(institution, other_institution, where, make_operator):
    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    for user in (make_operator(other_institution, "card_center_operator"), make_operator(institution, "auditor"),
                 person.user):
        assert code_of(services.application_approve, actor=Actor.by_user(user), application=application) == \
            "forbidden"
    application.refresh_from_db()
    assert application.state == Application.State.REVIEW and not Card.objects.exists()


def test_reject_needs_a_reason_and_tells_the_holder(institution, where, reviewer):
    person = applicant(institution)
    application = in_review(person, where["kiosk"], face="failed")
    assert code_of(services.application_reject, actor=Actor.by_user(reviewer), application=application,
                   reason="  ") == "application_reason_required"
    services.application_reject(actor=Actor.by_user(reviewer), application=application, reason="照片不符")
    application.refresh_from_db()
    assert application.state == Application.State.REJECTED and application.reason == "照片不符"
    assert "照片不符" in Notification.objects.filter(person=person).order_by("-pk").first().body
    assert not Card.objects.exists()
    assert code_of(services.application_approve, actor=Actor.by_user(reviewer), application=application) == \
        "application_state_invalid"


def test_bulk_approval_takes_only_the_fully_passed(institution, where, reviewer):
    good = [in_review(applicant(institution, n), where["kiosk"]) for n in (1, 2)]
    doubtful = in_review(applicant(institution, 3), where["kiosk"], face="manual")
    approved, refused = services.applications_approve_passed(actor=Actor.by_user(reviewer),
                                                             applications=[*good, doubtful])
    assert sorted(a.pk for a in approved) == sorted(a.pk for a in good)
    assert [(a.pk, e.code) for a, e in refused] == [(doubtful.pk, "application_not_all_checks_passed")]
    doubtful.refresh_from_db()
    assert doubtful.state == Application.State.REVIEW
    assert Card.objects.count() == 2


def test_a_holder_with_an_active_card_cannot_be_approved_twice(institution, where, reviewer):
    from campuscard.cards.services import card_issue

    person = applicant(institution)
    application = in_review(person, where["kiosk"])
    card_issue(actor=Actor.system("test"), person=person)  # issued at the window meanwhile
    assert code_of(services.application_approve, actor=Actor.by_user(reviewer), application=application) == \
        "card_kind_exists"
    application.refresh_from_db()
    assert application.state == Application.State.REVIEW


# --- the portal pages ------------------------------------------------------------------------------------

def test_the_portal_walk(institution, where):
    person = applicant(institution)
    client = Client()
    client.force_login(person.user)
    page = client.get(reverse("portal:apply")).content.decode()
    assert 'id="apply-start"' in page
    assert client.post(reverse("portal:apply_start")).url == reverse("portal:apply_materials")
    client.post(reverse("portal:apply_materials"), {"form": "id", "id_type": "resident", "id_number": person.id_number})
    client.post(reverse("portal:apply_materials"), {"form": "proof", "reference": f"XJ-UNI-2026-{person.number}"})
    client.post(reverse("portal:apply_materials"), {"form": "send", "phone": "13800138000"}, REMOTE_ADDR=ADDRESS)
    client.post(reverse("portal:apply_materials"), {"form": "verify", "code": last_code("13800138000")})
    photo(person)
    response = client.post(reverse("portal:apply_package"), {"addons": ["laundry"], "collect": "kiosk",
                                                              "point_kiosk": str(where["kiosk"].pk)})
    assert response.url == reverse("portal:apply_consent")
    client.post(reverse("portal:apply_consent"), {"agree": "yes"})
    application = Application.objects.get(person=person)
    assert application.biometric_consent_at and application.phone_verified_at and application.id_checked_at
    Application.objects.filter(pk=application.pk).update(face_state="passed")
    page = client.get(reverse("portal:apply")).content.decode()
    assert 'id="apply-submit"' in page and 'id="apply-missing"' not in page
    client.post(reverse("portal:apply_submit"))
    page = client.get(reverse("portal:apply")).content.decode()
    assert 'data-state="review"' in page and "图书馆自助机" in page


def test_the_portal_pages_say_what_is_missing(draft):
    person, application = draft
    client = Client()
    client.force_login(person.user)
    page = client.get(reverse("portal:apply")).content.decode()
    for code in ("id_document", "status_proof", "phone", "photo", "collect", "consent", "face"):
        assert f'data-missing="{code}"' in page
    assert 'id="apply-submit"' not in page


def test_home_and_my_cards_lead_to_the_application(draft):
    person, _application = draft
    client = Client()
    client.force_login(person.user)
    assert 'id="tile-apply"' in client.get(reverse("portal:home")).content.decode()
    assert 'id="apply-link"' in client.get(reverse("portal:cards")).content.decode()


def test_the_status_page_polls_while_checking_and_the_holder_withdraws(institution, where):
    person = applicant(institution)
    application = in_review(person, where["kiosk"], face="checking")
    client = Client()
    client.force_login(person.user)
    partial = client.get(reverse("portal:apply"), HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<section class="card" id="apply-status" data-state="checking"')
    assert 'hx-trigger="every 3s"' in partial and "<html" not in partial
    client.post(reverse("portal:apply_withdraw"))
    application.refresh_from_db()
    assert application.state == Application.State.WITHDRAWN
    page = client.get(reverse("portal:apply")).content.decode()
    assert 'id="apply-start"' in page and "hx-trigger" not in page  # may start again; nothing to poll
