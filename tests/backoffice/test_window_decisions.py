"""Decisions at the window from a detail page (#17): a photo's Approve / Reject buttons (Save changes
nothing), the payment-password unlock on the person's page (audited, notified, effective)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.payments import pos
from campuscard.payments.models import DailyUsage
from campuscard.support.models import Notification

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (240, 320), (200, 210, 230)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def photo(student):
    return Photo.objects.create(person=student, uploaded_at=clock.now(),
                                image=SimpleUploadedFile("p.png", _png(), content_type="image/png"))


@pytest.fixture
def desk(institution, make_operator):
    client = Client()
    client.force_login(make_operator(institution, "card_center_operator", "cc-op"))
    return client


def _messages(response) -> list[tuple[str, str]]:
    """The messages the redirect's page showed (so they do not pile up into the next request)."""
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def _photo_row(photo):
    photo.refresh_from_db()
    return photo.state, photo.reason, photo.reviewed_at, photo.reviewed_by_id


# --- the photo's detail page (#17 item 4) ---


def test_the_photo_page_has_approve_and_reject_and_no_save(desk, photo):
    page = desk.get(reverse("admin:cards_photo_change", args=[photo.pk])).content.decode()
    assert 'id="photo-approve"' in page and 'id="photo-reject"' in page and 'id="photo-reject-reason"' in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page


def test_approve_from_the_page(desk, photo, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("campuscard.backoffice.cards_admin.terminal_face", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = desk.post(reverse("admin:cards_photo_approve", args=[photo.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:cards_photo_changelist")
    assert _photo_row(photo)[0] == Photo.State.APPROVED
    assert [level for level, _text in _messages(response)] == ["success"]
    assert queued == [photo.pk]  # the terminals' face copy, as the list action does (ID-7)
    assert AuditLog.objects.filter(action="photo_approved", object_id=str(photo.pk)).count() == 1
    page = desk.get(reverse("admin:cards_photo_change", args=[photo.pk])).content.decode()
    assert 'id="photo-approve"' not in page  # decided: no buttons any more


def test_reject_from_the_page_needs_a_reason(desk, photo):
    before = _photo_row(photo)
    response = desk.post(reverse("admin:cards_photo_reject", args=[photo.pk]), {"reason": "  "}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:cards_photo_change", args=[photo.pk])
    assert [level for level, _text in _messages(response)] == ["error"]
    assert _photo_row(photo) == before
    response = desk.post(reverse("admin:cards_photo_reject", args=[photo.pk]), {"reason": "脸部不清晰"}, follow=True)
    assert [level for level, _text in _messages(response)] == ["success"]
    assert _photo_row(photo)[:2] == (Photo.State.REJECTED, "脸部不清晰")
    note = Notification.objects.get(person=photo.person, kind=Notification.Kind.PHOTO)
    assert "脸部不清晰" in note.body


def test_save_changes_nothing_and_says_one_thing(desk, photo):
    before = _photo_row(photo)
    response = desk.post(reverse("admin:cards_photo_change", args=[photo.pk]), {"reason": "ignored", "_save": "1"},
                         follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:cards_photo_change", args=[photo.pk])
    assert _photo_row(photo) == before and before[0] == Photo.State.PENDING
    assert [level for level, _text in _messages(response)] == ["info"]


def test_a_get_or_another_institution_decides_nothing(photo, other_institution, make_operator, desk):
    before = _photo_row(photo)
    assert desk.get(reverse("admin:cards_photo_approve", args=[photo.pk])).status_code == 302
    other = Client()
    other.force_login(make_operator(other_institution, "card_center_operator", "other-op"))
    assert other.post(reverse("admin:cards_photo_approve", args=[photo.pk])).status_code == 404
    assert other.post(reverse("admin:cards_photo_reject", args=[photo.pk]), {"reason": "x"}).status_code == 404
    assert _photo_row(photo) == before


# --- the payment-password unlock at the window (#17 item 10) ---


def _lock(student, wrong: int = 5):
    DailyUsage.objects.update_or_create(person=student, day=clock.local_date(student.institution),
                                        defaults={"wrong_passwords": wrong})


def _wrong_today(student) -> int:
    usage = DailyUsage.objects.filter(person=student, day=clock.local_date(student.institution)).first()
    return usage.wrong_passwords if usage else 0


def test_the_person_page_shows_the_lock_and_unlocks_it(desk, student):
    url = reverse("admin:identity_person_change", args=[student.pk])
    assert 'id="unlock-payment-password"' not in desk.get(url).content.decode()
    _lock(student)
    page = desk.get(url).content.decode()
    assert 'id="unlock-payment-password"' in page
    response = desk.post(reverse("admin:identity_person_unlock_payment_password", args=[student.pk]), follow=True)
    assert response.redirect_chain[-1][0] == url and [level for level, _text in _messages(response)] == ["success"]
    assert _wrong_today(student) == 0
    row = AuditLog.objects.get(action="payment_password_unlocked")
    assert row.actor.username == "cc-op" and row.before == {"wrong_passwords": 5}
    assert Notification.objects.get(person=student, kind=Notification.Kind.SECURITY).link == "/security/"
    again = desk.post(reverse("admin:identity_person_unlock_payment_password", args=[student.pk]), follow=True)
    assert [level for level, _text in _messages(again)] == ["error"]  # payment_password_not_locked
    assert AuditLog.objects.filter(action="payment_password_unlocked").count() == 1


def test_only_the_card_operators_of_the_institution_unlock(student, institution, other_institution, make_operator):
    _lock(student)
    for user in (make_operator(institution, "merchant_operator"), make_operator(institution, "zone_manager")):
        with pytest.raises(DomainError, match="forbidden"):
            pos.payment_password_unlock(actor=Actor.by_user(user), person=student)
    other = Client()
    other.force_login(make_operator(other_institution, "card_center_operator", "other-op"))
    assert other.post(reverse("admin:identity_person_unlock_payment_password", args=[student.pk])).status_code == 404
    assert _wrong_today(student) == 5 and not AuditLog.objects.filter(action="payment_password_unlocked").exists()
    assert not Notification.objects.filter(person=student).exists()


def test_the_list_action_approves_several_photos(desk, photo, student):
    """Every selected row reaches the service under the same name (it used to be only the first)."""
    second = Photo.objects.create(person=student, uploaded_at=clock.now(),
                                  image=SimpleUploadedFile("q.png", _png(), content_type="image/png"))
    response = desk.post(reverse("admin:cards_photo_changelist"),
                         {"action": "approve", "_selected_action": [photo.pk, second.pk]}, follow=True)
    assert [level for level, _text in _messages(response)] == ["success"]
    assert {_photo_row(p)[0] for p in (photo, second)} == {Photo.State.APPROVED}
