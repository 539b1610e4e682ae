"""Taking a loss report back (#17 item 2): the holder's password, throttled guesses, a notice, a security
audit row; a refusal changes nothing. The window operator checks the ID in person instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from campuscard.cards import services
from campuscard.cards.models import Card, DenyListVersion
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.support.models import Notification
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db
LOGIN = "Snow-Campus-2026"


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password(LOGIN)
    user.must_change_password = False
    user.save()
    services.card_report_lost(actor=Actor.by_user(user), card=card, channel="portal")
    return user


def _snapshot(card):
    card.refresh_from_db()
    version = DenyListVersion.objects.filter(institution_id=card.institution_id).first()
    return (card.state, card.state_changed_at, version.version if version else 0,
            Notification.objects.filter(person=card.person).count(),
            AuditLog.objects.filter(action="card_unreported").count())


def _unreport(holder, card, password, channel="portal"):
    return services.card_unreport(actor=Actor.by_user(holder), card=card, channel=channel, password=password)


def test_the_login_password_takes_the_report_back_notified_and_audited(holder, card):
    before = DenyListVersion.objects.get(institution_id=card.institution_id).version
    found = _unreport(holder, card, LOGIN)
    assert found.state == Card.State.ACTIVE
    assert DenyListVersion.objects.get(institution_id=card.institution_id).version == before + 1
    note = Notification.objects.filter(person=card.person).order_by("-pk").first()
    assert note.kind == Notification.Kind.SECURITY and card.number in note.title and note.link == "/cards/"
    row = AuditLog.objects.get(action="card_unreported")
    assert row.actor_id == holder.pk and row.object_id == str(card.pk)
    assert row.after == {"state": "active", "channel": "portal", "verified_by": "login", "security": True}


def test_the_payment_password_also_proves_it(holder, card, student):
    payment_password_set(user=holder, login_password=LOGIN, new_payment_password="135790")
    assert _unreport(holder, card, "135790").state == Card.State.ACTIVE
    assert AuditLog.objects.get(action="card_unreported").after["verified_by"] == "payment"


@pytest.mark.parametrize("password, code", [("", "unreport_password_required"),
                                            ("wrong-one", "unreport_password_incorrect"),
                                            (ID_ALICE[-6:], "unreport_password_incorrect")])  # the old initial one
def test_a_wrong_or_missing_password_changes_nothing(holder, card, password, code):
    before = _snapshot(card)
    with pytest.raises(DomainError) as refused:
        _unreport(holder, card, password)
    assert refused.value.code == code
    assert _snapshot(card) == before and before[0] == Card.State.LOST


def test_wrong_guesses_are_throttled_even_for_the_right_password_then_released(holder, card, settings):
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCK_SECONDS = 3, 600
    for _attempt in range(3):
        with pytest.raises(DomainError, match="unreport_password_incorrect"):
            _unreport(holder, card, "guess")
    before = _snapshot(card)
    with pytest.raises(DomainError) as locked:
        _unreport(holder, card, LOGIN)  # the right one, but the thief's guesses locked it
    assert locked.value.code == "unreport_locked" and locked.value.params["minutes"] == 10
    assert _snapshot(card) == before
    with clock.frozen_at(clock.now() + timedelta(seconds=601)):
        assert _unreport(holder, card, LOGIN).state == Card.State.ACTIVE


def test_the_kiosk_takes_only_the_payment_password(holder, card):
    payment_password_set(user=holder, login_password=LOGIN, new_payment_password="135790")
    with pytest.raises(DomainError, match="unreport_password_incorrect"):
        _unreport(holder, card, LOGIN, channel="kiosk")
    assert _unreport(holder, card, "135790", channel="kiosk").state == Card.State.ACTIVE


def test_the_window_checks_the_id_in_person(holder, card, make_operator, institution):
    operator = make_operator(institution, "card_center_operator")
    found = services.card_unreport(actor=Actor.by_user(operator), card=card, channel="window")
    assert found.state == Card.State.ACTIVE
    assert AuditLog.objects.get(action="card_unreported").after["verified_by"] == "in_person"
    assert Notification.objects.filter(person=card.person, kind="security").count() == 2  # lost, then found


def test_an_unknown_channel_and_a_card_not_lost_are_refused(holder, card):
    with pytest.raises(DomainError, match="card_wrong_channel"):
        _unreport(holder, card, LOGIN, channel="sms")
    _unreport(holder, card, LOGIN)
    with pytest.raises(DomainError, match="card_not_lost"):
        _unreport(holder, card, LOGIN)


def test_the_portal_asks_for_the_password(holder, card):
    client = Client()
    client.force_login(holder)
    page = client.get("/cards/").content.decode()
    assert f'id="found-password-{card.number}"' in page
    wrong = client.post(f"/cards/{card.number}/found/", {"password": "nope"}, follow=True)
    assert "The password is wrong" in wrong.content.decode() or "密码错误" in wrong.content.decode()
    card.refresh_from_db()
    assert card.state == Card.State.LOST
    client.post(f"/cards/{card.number}/found/", {"password": LOGIN})
    card.refresh_from_db()
    assert card.state == Card.State.ACTIVE


def test_the_api_asks_for_the_password(holder, card):
    client = Client()
    client.force_login(holder)
    wrong = client.post(f"/api/v1/cards/{card.number}/found", {"password": "nope"}, content_type="application/json")
    assert wrong.status_code == 403 and wrong.json()["code"] == "unreport_password_incorrect"
    missing = client.post(f"/api/v1/cards/{card.number}/found", {}, content_type="application/json")
    assert missing.status_code == 422
    card.refresh_from_db()
    assert card.state == Card.State.LOST
    ok = client.post(f"/api/v1/cards/{card.number}/found", {"password": LOGIN}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["state"] == "active"
