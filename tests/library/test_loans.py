"""Library loans (SVC-3): the feed, borrowing rights (alumni keep them), the reminder 3 days before, once."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from campuscard.cards.models import Card
from campuscard.cards.services import card_issue
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.models import Person
from campuscard.identity.services import holder_user_ensure, token_issue
from campuscard.library import services
from campuscard.library.models import Loan
from campuscard.library.selectors import may_borrow
from campuscard.library.tasks import remind_loans_due
from campuscard.support.models import Notification
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.cards.conftest import make_person
from tests.helpers import csv_bytes
from tests.study.conftest import local

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 14)
MORNING = local(2026, 12, 14, 8, 0)


@pytest.fixture
def feeder(institution, make_operator):
    return make_operator(institution, "library_system")


@pytest.fixture
def reader(institution):
    person = make_person(institution)
    card_issue(actor=Actor.system("test"), person=person)
    return person


def loan(number, loan_id, due, **extra):
    return {"event": "loan", "loan_id": loan_id, "number": number, "barcode": f"B{loan_id}", "title": f"书 {loan_id}",
            "at": "2026-12-01T10:00:00+08:00", "due": due.isoformat(), **extra}


def feed(feeder, institution, *events):
    return services.loan_feed_apply(actor=Actor.by_user(feeder), institution=institution,
                                    events=list(enumerate(events, start=1)))


def test_feed_is_idempotent_and_records_returns_and_renewals(feeder, institution, reader):
    report = feed(feeder, institution, loan(reader.number, "L1", TODAY), loan(reader.number, "L2", TODAY))
    assert (report.loans, report.unchanged) == (2, 0)
    again = feed(feeder, institution, loan(reader.number, "L1", TODAY),
                 {"event": "return", "loan_id": "L2", "at": "2026-12-10T09:00:00+08:00"})
    assert (again.loans, again.returns, again.unchanged) == (0, 1, 1)
    assert Loan.objects.get(external_id="L2").returned_at == local(2026, 12, 10, 9, 0)
    Loan.objects.filter(external_id="L1").update(reminded_at=MORNING)
    renewed = feed(feeder, institution, loan(reader.number, "L1", TODAY + dt.timedelta(days=30)))
    assert renewed.loans == 1
    assert Loan.objects.get(external_id="L1").reminded_at is None  # a new due date earns a new reminder
    assert Loan.objects.count() == 2


def test_feed_all_or_nothing_with_lines(feeder, institution, reader):
    with pytest.raises(DomainError) as refused:
        feed(feeder, institution, loan(reader.number, "L1", TODAY), loan("NOBODY", "L2", TODAY),
             {"event": "return", "loan_id": "L1", "at": "yesterday"}, {"event": "lend", "loan_id": "L3", "at": ""})
    assert [(e["line"], e["column"]) for e in refused.value.details["errors"]] == [(2, "number"), (3, "at"), (4, "event")]
    assert not Loan.objects.exists()


def test_alumni_keep_borrowing_rights_visitors_have_none(feeder, institution):
    alumnus = make_person(institution, kind=Person.Kind.ALUMNUS)
    Person.objects.filter(pk=alumnus.pk).update(status=Person.Status.GRADUATED)
    card_issue(actor=Actor.system("test"), person=alumnus, kind=Card.Kind.ALUMNI)
    visitor = make_person(institution, kind=Person.Kind.VISITOR)
    card_issue(actor=Actor.system("test"), person=visitor, kind=Card.Kind.VISITOR)
    assert may_borrow(alumnus) and not may_borrow(visitor)
    feed(feeder, institution, loan(alumnus.number, "A1", TODAY))
    with pytest.raises(DomainError) as refused:
        feed(feeder, institution, loan(visitor.number, "V1", TODAY))
    assert refused.value.details["errors"][0]["column"] == "number"
    assert list(Loan.objects.values_list("external_id", flat=True)) == ["A1"]


@pytest.mark.parametrize(("days", "reminded"), [(4, False), (3, True), (0, True), (-1, False)])
def test_reminder_three_days_before_edges(feeder, institution, reader, days, reminded):
    feed(feeder, institution, loan(reader.number, "L1", TODAY + dt.timedelta(days=days)))
    with clock.frozen_at(MORNING):
        assert services.loan_reminders_send() == int(reminded)
    assert Notification.objects.filter(person=reader, kind="loan_due").count() == int(reminded)


def test_reminder_exactly_once_even_when_the_job_runs_twice(feeder, institution, reader):
    feed(feeder, institution, loan(reader.number, "L1", TODAY + dt.timedelta(days=3)),
         loan(reader.number, "L2", TODAY + dt.timedelta(days=3)), loan(reader.number, "L3", TODAY + dt.timedelta(days=2)))
    feed(feeder, institution, {"event": "return", "loan_id": "L3", "at": "2026-12-13T09:00:00+08:00"})
    with clock.frozen_at(MORNING):
        assert remind_loans_due.call_local() == 2
        assert remind_loans_due.call_local() == 0
    with clock.frozen_at(MORNING + dt.timedelta(days=1)):
        assert remind_loans_due.call_local() == 0  # the next night: already reminded
    notes = Notification.objects.filter(person=reader, kind="loan_due")
    assert notes.count() == 2 and all("2026-12-17" in n.title for n in notes)


def test_reminder_in_the_holders_language(feeder, institution, reader):
    english = make_person(institution)
    card_issue(actor=Actor.system("test"), person=english)
    user = holder_user_ensure(person=english)
    user.language = "en"
    user.save()
    feed(feeder, institution, loan(reader.number, "L1", TODAY + dt.timedelta(days=3)),
         loan(english.number, "L2", TODAY + dt.timedelta(days=3)))
    with clock.frozen_at(MORNING), translation.override("zh-hans"):
        services.loan_reminders_send()
    params = {"due": "2026-12-17", "title": "书 L1"}
    with translation.override("zh-hans"):
        chinese = str(services.REMINDER_TITLE) % params
    assert Notification.objects.get(person=reader).title == chinese
    assert Notification.objects.get(person=english).title == "Library loan due on 2026-12-17"
    assert "“书 L2” is due back on 2026-12-17" in Notification.objects.get(person=english).body
    # stored with its source text (support.notify_many), so a reader sees it in their language later
    assert Notification.objects.get(person=reader).title_msgid == "Library loan due on %(due)s"
    # the claim wrote a real date-time, comparable in the database on SQLite as on PostgreSQL
    assert Loan.objects.filter(reminded_at__lte=MORNING + dt.timedelta(seconds=1), external_id="L1").exists()


def test_feed_api_authorization(institution, other_institution, make_operator, reader):
    _t, secret = token_issue(user=make_operator(institution, "library_system"), name="library")
    foreign = make_operator(other_institution, "library_system", username="other-library")
    payload = json.dumps({"events": [loan(reader.number, "L9", TODAY)]})
    assert_authorization(
        lambda client: client.post("/api/v1/library/feed", payload, content_type="application/json"),
        anonymous=Expect(ANONYMOUS, 401), wrong_role=Expect(Principal.session(make_operator(institution, "integration")), 403),
        wrong_institution=Expect(Principal.session(foreign), 422), allowed=Expect(Principal.bearer(secret), 200),
        snapshot=lambda: tuple(Loan.objects.values_list("external_id", "person")), writes=True)


def test_feed_csv_in_the_back_office_and_holder_sees_loans(institution, feeder, reader):
    client = Client()
    client.force_login(feeder)
    lines = [["event", "loan_id", "number", "barcode", "title", "at", "due"],
             ["loan", "C1", reader.number, "B1", "三体", "2026-12-01 10:00", (TODAY + dt.timedelta(days=2)).isoformat()]]
    from django.core.files.uploadedfile import SimpleUploadedFile

    answer = client.post(reverse("admin:library_loan_feed"), {"file": SimpleUploadedFile("loans.csv", csv_bytes(lines))})
    assert answer.status_code == 302, answer.content[:500]
    user = holder_user_ensure(person=reader)
    user.must_change_password = False
    user.save()
    holder = Client()
    holder.force_login(user)
    with clock.frozen_at(MORNING):
        page = holder.get(reverse("portal:library")).content.decode()
        api = holder.get("/api/v1/me/loans").json()
    assert "三体" in page and 'id="borrowing-rights"' in page
    assert api[0]["title"] == "三体" and api[0]["days_left"] == 2 and api[0]["overdue"] is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_reminder_jobs_at_once_send_once(institution, make_operator):
    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL, which lets writers run at once")
    feeder = make_operator(institution, "library_system")
    readers = [make_person(institution) for _ in range(5)]
    for person in readers:
        card_issue(actor=Actor.system("test"), person=person)
    feed(feeder, institution, *[loan(p.number, f"L{n}", TODAY + dt.timedelta(days=3)) for n, p in enumerate(readers)])
    results, start = [], threading.Barrier(3)

    def run():
        try:
            start.wait()
            with clock.frozen_at(MORNING):
                results.append(services.loan_reminders_send())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 5]
    assert Notification.objects.filter(kind="loan_due").count() == 5
