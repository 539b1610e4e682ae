"""The back office's review queue (APP-5): scoped to the operator's institution, the evidence on the
application's page, approve / reject buttons, bulk approval of the fully passed."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.enrollment import services
from campuscard.enrollment.models import Application, FaceAttempt
from campuscard.identity.documents import IdType
from tests.enrollment.apply_helpers import applicant, filled, in_review, jpeg, places

pytestmark = pytest.mark.django_db


@pytest.fixture
def where(institution):
    return places(institution)


@pytest.fixture
def operator(make_operator, institution):
    client = Client()
    client.force_login(make_operator(institution, "card_center_operator", "reviewer"))
    return client


def test_the_queue_is_scoped_and_shows_the_evidence(institution, other_institution, where, operator, make_operator):
    person = applicant(institution, 7, id_type=IdType.PASSPORT, id_number="E12345678")
    application = filled(person, where["kiosk"], face="manual")
    document = application.documents.first()
    from campuscard.enrollment import crypto

    FaceAttempt.objects.create(application=application, nonce="n1", actions=["blink", "nod"], created_at=clock.now(),
                               expires_at=clock.now(), frames=crypto.encrypt(crypto.pack([jpeg(), jpeg()])),
                               frame_count=2, reason="no_match")
    Application.objects.filter(pk=application.pk).update(face_reason="照片不符", face_distance=0.71)
    services.application_submit(actor=Actor.by_user(person.user), application=application)
    listing = operator.get(reverse("admin:enrollment_application_changelist")).content.decode()
    assert person.number in listing
    page = operator.get(reverse("admin:enrollment_application_change", args=[application.pk])).content.decode()
    assert 'id="application-approve"' in page and 'id="application-reject"' in page
    assert reverse("portal:apply_document", args=[document.pk]) in page
    assert "照片不符" in page and "0.71" in page
    assert page.count("data:image/jpeg;base64,") == 2  # the frames while undecided
    assert 'name="_save"' not in page  # no Save that does something else
    assert 'id="photo-pending"' in page  # the pending certificate photo is approved with it
    # another institution's operator sees nothing of it
    foreign = Client()
    foreign.force_login(make_operator(other_institution, "card_center_operator", "foreign"))
    assert person.number not in foreign.get(reverse("admin:enrollment_application_changelist")).content.decode()
    assert foreign.post(reverse("admin:enrollment_application_approve", args=[application.pk])).status_code == 404
    assert not Card.objects.exists()


def test_approve_and_reject_buttons(institution, where, operator):
    first = in_review(applicant(institution, 1), where["kiosk"])
    second = in_review(applicant(institution, 2), where["kiosk"], face="failed")
    assert operator.get(reverse("admin:enrollment_application_approve", args=[first.pk])).status_code == 405
    response = operator.post(reverse("admin:enrollment_application_approve", args=[first.pk]))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.state == Application.State.APPROVED and first.card.state == Card.State.ACTIVE
    operator.post(reverse("admin:enrollment_application_reject", args=[second.pk]), {"reason": ""})
    second.refresh_from_db()
    assert second.state == Application.State.REVIEW  # a reason is required
    operator.post(reverse("admin:enrollment_application_reject", args=[second.pk]), {"reason": "照片不符，请联系教务处"})
    second.refresh_from_db()
    assert second.state == Application.State.REJECTED and second.reason == "照片不符，请联系教务处"
    page = operator.get(reverse("admin:enrollment_application_change", args=[second.pk])).content.decode()
    assert 'id="application-approve"' not in page  # decided: no buttons


def test_bulk_approve_button_and_action(institution, where, operator):
    passed = [in_review(applicant(institution, n), where["kiosk"]) for n in (1, 2)]
    manual = in_review(applicant(institution, 3), where["kiosk"], face="manual")
    listing = operator.get(reverse("admin:enrollment_application_changelist")).content.decode()
    assert 'id="approve-passed"' in listing
    operator.post(reverse("admin:enrollment_application_approve_passed"))
    states = dict(Application.objects.values_list("pk", "state"))
    assert [states[a.pk] for a in passed] == ["approved", "approved"] and states[manual.pk] == "review"
    # the admin action refuses the one that did not pass every check, by its message
    response = operator.post(reverse("admin:enrollment_application_changelist"),
                             {"action": "approve_passed", "_selected_action": [manual.pk]}, follow=True)
    assert any("automatic check" in str(m) or "自动" in str(m) for m in response.context["messages"])
    assert Application.objects.get(pk=manual.pk).state == "review"
    assert Card.objects.count() == 2


def test_a_role_that_may_not_review_cannot(institution, where, make_operator):
    application = in_review(applicant(institution), where["kiosk"])
    client = Client()
    client.force_login(make_operator(institution, "auditor", "auditor"))
    assert client.post(reverse("admin:enrollment_application_approve", args=[application.pk])).status_code in (403, 404)
    assert Application.objects.get().state == "review"


def test_documents_upload_through_the_portal_page(institution, where):
    person = applicant(institution, 7, id_type=IdType.PASSPORT, id_number="E12345678")
    client = Client()
    client.force_login(person.user)
    client.post(reverse("portal:apply_start"))
    client.post(reverse("portal:apply_materials"), {"form": "document", "kind": "permit",
                                                    "file": SimpleUploadedFile("p.pdf", b"%PDF-1.4 x", "application/pdf")})
    page = client.get(reverse("portal:apply_materials")).content.decode()
    assert 'id="doc-permit-view"' in page
