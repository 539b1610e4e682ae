"""Bulk issuing racing itself and the window on PostgreSQL: still one live card per person and kind."""

from __future__ import annotations

import pytest
from django.db import connection

from campuscard.cards import issuing
from campuscard.cards.models import Card, IssueRun, Production
from campuscard.core.actors import Actor
from tests.access.test_concurrency import at_once
from tests.cards.conftest import make_person

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("races need a database that lets writers run at once")


def test_the_same_selection_started_twice_at_once_issues_each_card_once(institution, approve_photo, monkeypatch):
    monkeypatch.setattr(issuing, "CHUNK", 4)
    people = [make_person(institution, department="数学学院", enrollment_year=2027) for _ in range(10)]
    for person in people:
        approve_photo(person)
    runs, errors = at_once(3, lambda _n: issuing.issue_batch_create(
        actor=Actor.system("t"), institution=institution, enrollment_year=2027).pk)
    assert not errors, errors
    assert Card.objects.filter(person__in=people).count() == 10
    assert sum(IssueRun.objects.filter(pk__in=runs).values_list("issued", flat=True)) == 10
    assert set(IssueRun.objects.filter(pk__in=runs).values_list("state", flat=True)) == {"done"}
    assert Production.objects.filter(card__person__in=people).count() == 10


def test_a_window_issue_racing_the_run_leaves_one_card(institution, approve_photo, operator):
    people = [make_person(institution, department="物理学院", enrollment_year=2027) for _ in range(6)]
    for person in people:
        approve_photo(person)

    def work(n):
        if n == 0:
            return issuing.issue_batch_create(actor=Actor.system("t"), institution=institution,
                                              enrollment_year=2027).issued
        try:
            return issuing.card_window_issue(actor=Actor.by_user(operator), person=people[n]).number
        except Exception as error:  # noqa: BLE001 - the run got there first: the window is refused
            return getattr(error, "code", repr(error))

    results, errors = at_once(4, work)
    assert not errors, errors
    for person in people:
        assert Card.objects.filter(person=person).count() == 1
    assert all(isinstance(r, int) or r == "card_kind_exists" or r.isdigit() for r in results)
