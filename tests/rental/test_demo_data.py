"""The demo's rental and health data (demo/rental_health_demo.py) on a small institution: every service has
something to show, nothing lies ahead of the clock, and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from campuscard.cards.services import card_issue
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.demo.data import DemoLogin
from campuscard.demo.rental_health_demo import rental_health_demo
from campuscard.health.models import Examination, RecordRead, Vaccination
from campuscard.identity.models import Person
from campuscard.identity.roles import ensure_role_groups
from campuscard.payments.models import Hold, Payment
from campuscard.payments.services import recharge_cash
from campuscard.rental.models import Item, Rental
from tests.helpers import resident_id

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Harbin, as the demo test loads it


def test_rental_and_health_demo(institution):
    ensure_role_groups()
    campus = institution.campuses.get(code="main")
    for n in range(6):
        person = Person.objects.create(institution=institution, number=f"2025{n:06d}", name=f"学生{n}",
                                       kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                                       id_number=resident_id(n), campus=campus)
        card_issue(actor=Actor.system("t"), person=person)
        recharge_cash(channel="window", person=person, amount=50_000, key=f"fund-{n}")
    with clock.frozen_at(NOW):
        logins = rental_health_demo(institution, random.Random(1), DemoLogin, "Demo-pass-2026")
    assert {login.login for login in logins} == {"uni-clinician", "uni-desk"}
    assert Examination.objects.count() == 6 and Vaccination.objects.count() == 12
    assert RecordRead.objects.filter(person__number="2025000000").count() == 2
    assert Item.objects.count() == 12
    assert Rental.objects.exclude(returned_at=None).count() > 10 and Payment.objects.filter(method="desk").exists()
    out = Rental.objects.filter(returned_at=None)
    assert out.count() == 2 and out.exclude(overdue_at=None).count() == 1
    assert Hold.objects.filter(state="held").count() == 2
    for model, field in ((Rental, "out_at"), (Rental, "returned_at"), (Rental, "settled_at"), (Rental, "overdue_at"),
                         (RecordRead, "read_at"), (Examination, "received_at")):
        assert not model.objects.filter(**{f"{field}__gt": NOW}).exists(), (model, field)
    assert not Examination.objects.filter(examined_on__gt=NOW.date()).exists()
    counts = (Rental.objects.count(), Payment.objects.count(), RecordRead.objects.count())
    with clock.frozen_at(NOW + dt.timedelta(days=1)):
        assert rental_health_demo(institution, random.Random(1), DemoLogin, "Demo-pass-2026") == []
    assert (Rental.objects.count(), Payment.objects.count(), RecordRead.objects.count()) == counts
