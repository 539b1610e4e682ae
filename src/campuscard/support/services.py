"""Notify a holder: an in-app message now, an e-mail after the commit (SUP-4)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import translation

from campuscard.core import clock
from campuscard.identity.models import Person
from campuscard.support.models import Notification


def notify(*, person: Person, kind: str, title, body="", params: dict | None = None,
           link: str = "") -> Notification:
    """``title``/``body`` are lazy translations with ``%(name)s`` placeholders filled from ``params``,
    rendered in the holder's language (not the operator's)."""
    user = person.user if person.user_id else None
    language = user.language if user is not None and user.language else settings.LANGUAGE_CODE
    params = params or {}
    with translation.override(language):
        title, body = str(title) % params, str(body) % params
    note = Notification.objects.create(person=person, kind=kind, title=title, body=body, link=link,
                                       created_at=clock.now())
    if person.email:
        transaction.on_commit(lambda: _email(person.email, title, body))
    return note


def _email(address: str, title: str, body: str) -> None:
    from campuscard.support.tasks import send_email

    send_email(address, title, body)


def notifications_mark_read(*, person: Person) -> int:
    return Notification.objects.filter(person=person, read_at=None).update(read_at=clock.now())



