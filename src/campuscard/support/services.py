"""Notify a holder (SUP-4): the one path every alert takes. The in-app message is written now (unless the holder
switched its kind off — never for security events); after the commit the worker sends it by e-mail and
to each bound channel's outbox, once per channel (``Delivery``), however often its job runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from campuscard.core import clock
from campuscard.identity.models import Person
from campuscard.support.messages import params_stored, render, source_text
from campuscard.support.models import AlertPreference, Notification

Kind = Notification.Kind
# What a holder may switch off in the portal; security events (logins, loss reports, bindings) always go out.
SWITCHABLE = [Kind.APPLICATION, Kind.CARD_READY, Kind.LOW_BALANCE, Kind.LOAN_DUE, Kind.APPEAL, Kind.PASSWORD_DUE,
              Kind.PHOTO]


def muted_kinds_of(*, person_id: int) -> set[str]:
    muted = AlertPreference.objects.filter(person_id=person_id).values_list("muted_kinds", flat=True).first()
    return {kind for kind in (muted or []) if kind in SWITCHABLE}


def notify(*, person: Person, kind: str, title, body="", params: dict | None = None,
           link: str = "", dedupe_key: str | None = None) -> Notification | None:
    """``title``/``body`` are lazy translations with ``%(name)s`` placeholders filled from ``params``.

    Stored as their source texts and parameters, so the portal and the API show them in the reader's
    language (``Notification.shown_title``/``shown_body``); the e-mail and the row's ``title``/``body`` are
    written in the holder's language (not the operator's). ``None`` when the holder switched ``kind`` off.
    With a ``dedupe_key`` an event found twice (a job run twice) is written once: the second call returns
    the first row and sends nothing."""
    if kind in muted_kinds_of(person_id=person.pk):
        return None
    if dedupe_key:
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    user = person.user if person.user_id else None
    language = user.language if user is not None and user.language else settings.LANGUAGE_CODE
    stored = params_stored(params)
    title_msgid, body_msgid = source_text(title), source_text(body)
    with translation.override(language):  # as written: the e-mail's words, in the holder's language
        title_text, body_text = render(title_msgid, stored, str(title)), render(body_msgid, stored, str(body))
    row = Notification(person=person, kind=kind, title=title_text[:150], body=body_text, title_msgid=title_msgid,
                       body_msgid=body_msgid, params=stored, link=link, created_at=clock.now(),
                       dedupe_key=dedupe_key or None)
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin's insert loses here, not the caller's work
            row.save(force_insert=True)
    except IntegrityError:
        if not dedupe_key:
            raise
        return Notification.objects.get(dedupe_key=dedupe_key)
    _deliver_after_commit([row.pk])
    return row


@dataclass(frozen=True)
class Recipient:
    """One holder of a bulk message: their language and e-mail (``""``: none) and the message's parameters."""

    person_id: int
    language: str
    email: str
    params: dict
    dedupe_key: str | None = None


def notify_many(*, kind: str, title, body="", link: str = "", recipients: Iterable[Recipient],
                batch_size: int = 5000) -> int:
    """The same message to many holders in one pass (a nightly reminder): inserted in bulk, each stored with its
    source text and parameters like ``notify`` (shown in the reader's language), written and e-mailed in the
    holder's. Holders who switched ``kind`` off are skipped; rows whose ``dedupe_key`` exists already are not
    written again (nor sent). Returns how many were written."""
    title_msgid, body_msgid = source_text(title), source_text(body)
    now, notes = clock.now(), []
    recipients = list(recipients)
    muted = _muted_among(kind, {one.person_id for one in recipients})
    for one in recipients:
        if one.person_id in muted:
            continue
        stored = params_stored(one.params)
        with translation.override(one.language or settings.LANGUAGE_CODE):
            title_text = render(title_msgid, stored, str(title))
            body_text = render(body_msgid, stored, str(body))
        notes.append(Notification(person_id=one.person_id, kind=kind, title=title_text[:150], body=body_text,
                                  title_msgid=title_msgid, body_msgid=body_msgid, params=stored, link=link,
                                  created_at=now, dedupe_key=one.dedupe_key or None))
    keyed = [note.dedupe_key for note in notes if note.dedupe_key]
    if keyed:
        taken = set()
        for start in range(0, len(keyed), 1000):
            taken |= set(Notification.objects.filter(dedupe_key__in=keyed[start:start + 1000])
                         .values_list("dedupe_key", flat=True))
        notes = [note for note in notes if note.dedupe_key not in taken]
    # ignore_conflicts: a concurrent run's rows win; only ours are delivered (looked up by creation time).
    Notification.objects.bulk_create(notes, batch_size=batch_size, ignore_conflicts=bool(keyed))
    ids = list(Notification.objects.filter(kind=kind, created_at=now, person_id__in={n.person_id for n in notes})
               .values_list("pk", flat=True))
    _deliver_after_commit(ids)
    return len(ids)


def _muted_among(kind: str, person_ids: set[int]) -> set[int]:
    if kind not in SWITCHABLE or not person_ids:
        return set()
    rows = AlertPreference.objects.filter(person_id__in=person_ids).values_list("person_id", "muted_kinds")
    return {person_id for person_id, muted in rows if kind in (muted or [])}


def _deliver_after_commit(ids: list[int]) -> None:
    """The worker sends them (e-mail, bound channels) once the rows are committed."""
    if not ids:
        return
    from campuscard.support.delivery import deliver_notifications

    for start in range(0, len(ids), 500):
        transaction.on_commit(partial(deliver_notifications, ids[start:start + 500]))


def notifications_mark_read(*, person: Person, kind: str = "") -> int:
    rows = Notification.objects.filter(person=person, read_at=None)
    return (rows.filter(kind=kind) if kind else rows).update(read_at=clock.now())



