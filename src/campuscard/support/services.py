"""Notify a holder: an in-app message now, an e-mail after the commit (SUP-4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import translation

from campuscard.core import clock
from campuscard.identity.models import Person
from campuscard.support.messages import params_stored, render, source_text
from campuscard.support.models import Notification


def notify(*, person: Person, kind: str, title, body="", params: dict | None = None,
           link: str = "") -> Notification:
    """``title``/``body`` are lazy translations with ``%(name)s`` placeholders filled from ``params``.

    Stored as their source texts and parameters, so the portal and the API show them in the reader's
    language (``Notification.shown_title``/``shown_body``); the e-mail and the row's ``title``/``body`` are
    written in the holder's language (not the operator's)."""
    user = person.user if person.user_id else None
    language = user.language if user is not None and user.language else settings.LANGUAGE_CODE
    stored = params_stored(params)
    title_msgid, body_msgid = source_text(title), source_text(body)
    with translation.override(language):  # as written: the e-mail's words, in the holder's language
        title_text, body_text = render(title_msgid, stored, str(title)), render(body_msgid, stored, str(body))
    note = Notification.objects.create(person=person, kind=kind, title=title_text[:150], body=body_text,
                                       title_msgid=title_msgid, body_msgid=body_msgid, params=stored, link=link,
                                       created_at=clock.now())
    if person.email:
        transaction.on_commit(lambda: _email(person.email, title_text, body_text))
    return note


@dataclass(frozen=True)
class Recipient:
    """One holder of a bulk message: their language and e-mail (``""``: none) and the message's parameters."""

    person_id: int
    language: str
    email: str
    params: dict


def notify_many(*, kind: str, title, body="", link: str = "", recipients: Iterable[Recipient],
                batch_size: int = 5000) -> int:
    """The same message to many holders in one pass (a nightly reminder): inserted in bulk, each stored with its
    source text and parameters like ``notify`` (shown in the reader's language), written and e-mailed in the
    holder's."""
    title_msgid, body_msgid = source_text(title), source_text(body)
    now, notes, mails = clock.now(), [], []
    for one in recipients:
        stored = params_stored(one.params)
        with translation.override(one.language or settings.LANGUAGE_CODE):
            title_text = render(title_msgid, stored, str(title))
            body_text = render(body_msgid, stored, str(body))
        notes.append(Notification(person_id=one.person_id, kind=kind, title=title_text[:150], body=body_text,
                                  title_msgid=title_msgid, body_msgid=body_msgid, params=stored, link=link,
                                  created_at=now))
        if one.email:
            mails.append((one.email, title_text, body_text))
    Notification.objects.bulk_create(notes, batch_size=batch_size)
    if mails:
        transaction.on_commit(lambda: _email_all(mails))
    return len(notes)


def _email_all(mails: list[tuple[str, str, str]]) -> None:
    for mail in mails:
        _email(*mail)


def _email(address: str, title: str, body: str) -> None:
    from campuscard.support.tasks import send_email

    send_email(address, title, body)


def notifications_mark_read(*, person: Person) -> int:
    return Notification.objects.filter(person=person, read_at=None).update(read_at=clock.now())



