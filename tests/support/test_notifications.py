"""Stored notifications are shown in the reader's language, not the one they were written in (#17 item 8,
SUP-4): the source text and its parameters are stored and translated when shown."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy

from campuscard.cards.services import card_report_lost
from campuscard.core.actors import Actor
from campuscard.core.clock import now
from campuscard.identity.services import holder_user_ensure
from campuscard.support.models import Notification
from campuscard.support.services import notify

pytestmark = pytest.mark.django_db


def in_(language: str, text) -> str:
    with translation.override(language):
        return str(text)


def test_a_notification_is_shown_in_the_readers_language(student, card):
    user = holder_user_ensure(person=student)
    user.language = "en"
    user.save()
    card_report_lost(actor=Actor.system("t"), card=card, channel="window")
    note = Notification.objects.get(person=student)
    # written in the holder's language (the e-mail's words) …
    assert note.title == f"Card {card.number} reported lost"
    # … shown in whoever reads it: Chinese for a Chinese page, English for an English one
    with translation.override("zh-hans"):
        chinese = note.shown_title
        assert chinese == gettext("Card %(number)s reported lost") % {"number": card.number}
        assert chinese != note.title and card.number in chinese
        assert note.shown_body == gettext("All payments and door access with this card are stopped. If you find "
                                          "it, you can take the report back in My cards.")
    with translation.override("en"):
        assert note.shown_title == note.title


def test_translatable_parameters_are_translated_too(student):
    note = notify(person=student, kind=Notification.Kind.APPLICATION, title=gettext_lazy("Approved: %(what)s"),
                  body=gettext_lazy("Your application for %(what)s was approved. %(note)s"),
                  params={"what": gettext_lazy("a lab permit"), "note": "实验室 301", "scopes": [gettext_lazy("Payment")]})
    note.refresh_from_db()
    assert note.params["what"] == {"msgid": "a lab permit"} and note.params["scopes"] == {"msgids": ["Payment"]}
    with translation.override("en"):
        assert note.shown_title == "Approved: a lab permit"
    with translation.override("zh-hans"):
        assert note.shown_title == gettext("Approved: %(what)s") % {"what": gettext("a lab permit")}
        assert "a lab permit" not in note.shown_title and "实验室 301" in note.shown_body


def test_the_portal_shows_the_readers_language(client, student, card):
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    card_report_lost(actor=Actor.system("t"), card=card, channel="window")  # written in Chinese (the default)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    page = client.get("/notifications/")
    assert page.status_code == 200
    assert f"Card {card.number} reported lost" in page.content.decode()
    assert Notification.objects.get(person=student).title != f"Card {card.number} reported lost"  # written in Chinese


def test_older_rows_are_recognised_or_kept_as_written(student):
    """The migration fills in the source text of rows written before, when the catalogue recognises them."""
    migration = importlib.import_module("campuscard.support.migrations.0002_notification_source_texts")
    written = in_("zh-hans", gettext_lazy("Approved: %(what)s")) % {"what": in_("zh-hans", gettext_lazy("a lab permit"))}
    old = Notification.objects.create(person=student, kind="application", title=written, body="",
                                      created_at=now())
    plain = Notification.objects.create(person=student, kind="photo", title=in_("zh-hans", gettext_lazy("Photo review")),
                                        created_at=now())
    unknown = Notification.objects.create(person=student, kind="security", title="某条手写的消息", created_at=now())
    migration.source_texts(apps, None)
    for row in (old, plain, unknown):
        row.refresh_from_db()
    assert old.title_msgid == "Approved: %(what)s" and "msgid" in old.params["what"]  # a catalogue message
    assert plain.title_msgid == "Photo review"
    with translation.override("zh-hans"):
        assert old.shown_title == written  # the same words for a Chinese reader …
    with translation.override("en"):  # … and English for an English one (the parameter too)
        assert old.shown_title.startswith("Approved: ") and old.shown_title.isascii()
        assert plain.shown_title == "Photo review"
        assert unknown.title_msgid == "" and unknown.shown_title == "某条手写的消息"


def test_the_api_answers_in_the_requests_language(client, student, card):
    """The channel API honours Accept-Language: the same stored message in English and in Chinese."""
    from tests.identity.test_channels import ALL_SCOPES, _bearer, _token

    token = _token(client, scopes=ALL_SCOPES)
    card_report_lost(actor=Actor.system("t"), card=card, channel="window")
    lost = f"Card {card.number} reported lost"

    def titles(language: str) -> list[str]:
        response = client.get("/api/v1/me/notifications", HTTP_ACCEPT_LANGUAGE=language, **_bearer(token))
        assert response.status_code == 200
        return [note["title"] for note in response.json()]

    assert lost in titles("en")
    assert in_("zh-hans", gettext_lazy("Card %(number)s reported lost")) % {"number": card.number} in titles("zh-CN")
    assert lost not in titles("zh-CN")


def test_notify_many_stores_source_texts_like_notify(student, staff_member, django_capture_on_commit_callbacks):
    from campuscard.support.services import Recipient, notify_many

    staff_member.email = "li@example.edu"
    staff_member.save()
    with django_capture_on_commit_callbacks(execute=False) as mails:
        count = notify_many(kind=Notification.Kind.PHOTO, title=gettext_lazy("Card %(number)s reported lost"),
                            recipients=[Recipient(student.pk, "zh-hans", "", {"number": "001"}),
                                        Recipient(staff_member.pk, "en", staff_member.email, {"number": "002"})])
    assert count == 2 and len(mails) == 1  # one e-mail, for the holder who has an address
    chinese, english = (Notification.objects.get(person=p) for p in (student, staff_member))
    assert english.title == "Card 002 reported lost" and chinese.title == in_(
        "zh-hans", gettext_lazy("Card %(number)s reported lost")) % {"number": "001"}
    with translation.override("en"):
        assert chinese.shown_title == "Card 001 reported lost"  # read in English, whatever it was written in
