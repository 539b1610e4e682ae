"""Library writes (SVC-3): the library system's feed of loans and returns, and the due-date reminders.

The feed is idempotent per loan (``external_id``): a loan sent twice is stored once, a return sent again
changes nothing. A batch is all-or-nothing; each bad event is reported with its line.

Reminders: one UPDATE claims every open loan due within ``LIBRARY_REMINDER_DAYS`` that was not reminded
(``reminded_at``) and returns it, so a loan is reminded exactly once however often the job runs, even
two runs at once. The messages are rendered once per language and written in bulk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.identity.models import Person
from campuscard.identity.roster import read_rows
from campuscard.library.models import Loan
from campuscard.library.selectors import may_borrow
from campuscard.support.models import Notification
from campuscard.support.services import Recipient, notify_many

REMINDER_TITLE = gettext_lazy("Library loan due on %(due)s")
REMINDER_BODY = gettext_lazy("“%(title)s” is due back on %(due)s. Return or renew it at the library.")


@dataclass
class FeedReport:
    events: int = 0
    loans: int = 0
    returns: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "loans": self.loans, "returns": self.returns, "unchanged": self.unchanged,
                "errors": self.errors}


def _when(value: str, institution: Institution) -> dt.datetime | None:
    moment = parse_datetime(value or "")
    if moment is None:
        day = parse_date(value or "")
        if day is None:
            return None
        moment = dt.datetime.combine(day, dt.time(12))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.zone(institution.time_zone))
    return moment


def loan_feed_apply(*, actor: Actor, institution: Institution, events: Iterable[tuple[int, dict[str, Any]]]
                    ) -> FeedReport:
    """Apply the library's events: ``{"event": "loan", "loan_id", "number", "barcode", "title", "at",
    "due"}`` or ``{"event": "return", "loan_id", "at"}`` (a renewal is a loan event with a new due date)."""
    authorize(actor.user, "library.add_loan", institution.pk)
    report = FeedReport()
    parsed: list[tuple[int, dict[str, Any]]] = []
    for line, raw in events:
        report.events += 1
        row = {k: ("" if v is None else str(v).strip()) for k, v in raw.items()}
        kind, loan_id = row.get("event", "loan") or "loan", row.get("loan_id", "")
        problem = None
        if kind not in ("loan", "return"):
            problem = ("event", _("must be loan or return"))
        elif not loan_id or len(loan_id) > 64:
            problem = ("loan_id", _("missing"))
        elif _when(row.get("at", ""), institution) is None:
            problem = ("at", _("not a date and time"))
        elif kind == "loan" and (not row.get("number") or not row.get("barcode") or not row.get("title")):
            problem = ("number", _("a loan needs number, barcode and title"))
        elif kind == "loan" and parse_date(row.get("due", "")) is None:
            problem = ("due", _("not a date"))
        if problem:
            report.errors.append({"line": line, "column": problem[0], "message": problem[1]})
        else:
            parsed.append((line, {**row, "event": kind}))
    numbers = {row["number"] for _line, row in parsed if row["event"] == "loan"}
    people = {p.number: p for p in Person.objects.filter(institution=institution, number__in=numbers)}
    for line, row in parsed:
        if row["event"] == "loan":
            person = people.get(row["number"])
            if person is None:
                report.errors.append({"line": line, "column": "number", "message": _("no such person")})
            elif not may_borrow(person):
                report.errors.append({"line": line, "column": "number",
                                      "message": _("no borrowing rights (no active student, staff or alumni card)")})
    if report.errors:
        report.errors.sort(key=lambda e: e["line"])
        raise DomainError("library_feed_invalid", details=report.as_dict())
    with transaction.atomic():
        for line, row in parsed:
            at = _when(row["at"], institution)
            if row["event"] == "loan":
                due = parse_date(row["due"])
                loan, created = Loan.objects.get_or_create(
                    institution=institution, external_id=row["loan_id"],
                    defaults={"person": people[row["number"]], "barcode": row["barcode"], "title": row["title"][:300],
                              "loaned_at": at, "due_on": due})
                if created:
                    report.loans += 1
                elif loan.due_on != due and loan.returned_at is None:
                    # a renewal: a new due date earns a new reminder
                    Loan.objects.filter(pk=loan.pk).update(due_on=due, reminded_at=None)
                    report.loans += 1
                else:
                    report.unchanged += 1
            else:
                done = Loan.objects.filter(institution=institution, external_id=row["loan_id"], returned_at=None
                                           ).update(returned_at=at)
                if done:
                    report.returns += 1
                elif Loan.objects.filter(institution=institution, external_id=row["loan_id"]).exists():
                    report.unchanged += 1
                else:
                    raise DomainError("library_feed_invalid", details={**report.as_dict(), "errors": [
                        {"line": line, "column": "loan_id", "message": _("no such loan")}]})
        audit_record(actor=actor, action="library_feed_applied", object_type="library.loan", object_id="feed",
                     institution_id=institution.pk,
                     after={"loans": report.loans, "returns": report.returns, "unchanged": report.unchanged})
    return report


def loan_feed_apply_file(*, actor: Actor, institution: Institution, name: str, stream: IO[bytes]) -> FeedReport:
    """The same feed as a CSV/XLSX file: columns event, loan_id, number, barcode, title, at, due."""
    authorize(actor.user, "library.add_loan", institution.pk)  # before reading a stranger's file (#18 item 5)
    try:
        rows = list(read_rows(name=name, stream=stream))
    except DomainError as error:
        raise DomainError("library_feed_unreadable", reason=error.params.get("reason", error.message))
    return loan_feed_apply(actor=actor, institution=institution, events=rows)


def loan_reminders_send(*, today: dt.date | None = None, institution: Institution | None = None) -> int:
    """SVC-3: remind each open loan due within the next ``LIBRARY_REMINDER_DAYS`` days, once.

    Set-based: one UPDATE … RETURNING claims the loans (per institution, whose day it is), then the
    notifications are inserted in bulk, in each holder's language. A loan renewed to a new due date is
    reminded again (the feed clears ``reminded_at``)."""
    sent = 0
    for inst in ([institution] if institution else Institution.objects.all()):
        day = today or clock.local_date(inst)
        sent += _remind(inst, day)
    return sent


def _remind(institution: Institution, today: dt.date) -> int:
    now = clock.now()
    last = today + dt.timedelta(days=settings.LIBRARY_REMINDER_DAYS)
    table = Loan._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            # One statement claims the loans (a second run at once finds none left to claim).
            cursor.execute(
                f"UPDATE {table} SET reminded_at = %s WHERE institution_id = %s AND returned_at IS NULL "  # noqa: S608
                f"AND reminded_at IS NULL AND due_on >= %s AND due_on <= %s RETURNING person_id, title, due_on",
                [connection.ops.adapt_datetimefield_value(now), institution.pk, today, last])
            claimed = cursor.fetchall()
        if not claimed:
            return 0
        people = _recipients({row[0] for row in claimed})
        return notify_many(kind=Notification.Kind.LOAN_DUE, title=REMINDER_TITLE, body=REMINDER_BODY, link="/library/",
                           recipients=(Recipient(person_id=person_id, language=people[person_id][0],
                                                 email=people[person_id][1],
                                                 params={"title": title, "due": _day(due)})
                                       for person_id, title, due in claimed))


def _day(due: Any) -> str:
    return due.isoformat() if isinstance(due, dt.date) else str(due)


def _recipients(person_ids: set[int]) -> dict[int, tuple[str, str]]:
    """person id → (language, e-mail): the holder's saved language, else the site's (as support.notify)."""
    found: dict[int, tuple[str, str]] = {}
    ids = list(person_ids)
    for start in range(0, len(ids), 20000):
        for pk, language, email in Person.objects.filter(pk__in=ids[start:start + 20000]).values_list(
                "pk", "user__language", "email"):
            found[pk] = (language or settings.LANGUAGE_CODE, email or "")
    return found


