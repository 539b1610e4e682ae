"""The dorm part of the demo (demo/dorm_demo.py) on a small institution: every service has something to show."""

import datetime as dt
import random

import pytest
from django.contrib.auth.models import Group

from campuscard.access.models import DormResidence
from campuscard.cards.services import card_issue
from campuscard.core import clock
from campuscard.core.models import Area, Building
from campuscard.demo.data import DemoLogin
from campuscard.demo.dorm_demo import dorm_demo
from campuscard.dorm.models import Booking, DormBuilding, Reading, Reconciliation, Room, TopUp
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from campuscard.identity.roles import ensure_role_groups
from campuscard.ledger.checks import ledger_check
from campuscard.payments.services import recharge_cash
from campuscard.support.models import Notification
from tests.dorm.conftest import ACTOR

pytestmark = pytest.mark.django_db


def test_dorm_demo_fills_every_service_and_runs_again_unchanged(institution):
    ensure_role_groups()
    assert Group.objects.filter(name="laundry_operator").exists()
    building = Building.objects.create(area=Area.objects.get(campus__institution=institution), code="d1",
                                       name="1号宿舍楼", kind=Building.Kind.DORMITORY)
    today = clock.local_date(institution)
    for i in range(8):
        person = Person.objects.create(institution=institution, number=f"2024{i:06d}", name=f"学生{i}",
                                       kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                                       id_type=IdType.PASSPORT, id_number=f"E{i:08d}")
        card_issue(actor=ACTOR, person=person)
        if i % 2:  # half of them have money; the demo recharges the others at the window
            with clock.frozen_at(clock.now() - dt.timedelta(days=20)):
                recharge_cash(channel="window", person=person, amount=30_000, key=f"f{i}")
        DormResidence.objects.create(person=person, building=building, room=f"{300 + i // 2}",
                                     valid_from=today - dt.timedelta(days=90))
    before = clock.now()
    logins = dorm_demo(institution, random.Random(1), DemoLogin, "pw")
    assert {login.who.split(" (")[0] for login in logins} >= {"dormitory electricity operator", "laundry operator",
                                                               "meter system", "laundry machine"}
    assert DormBuilding.objects.count() == 1 and Room.objects.count() == 4
    from campuscard.dorm.models import DormStaff
    assert DormStaff.objects.get().dorms.count() == 1
    assert TopUp.objects.filter(state="delivered").count() >= 8 and TopUp.objects.filter(state="paid").count() == 1
    assert Reading.objects.count() == 4 and Notification.objects.filter(kind="low_balance").exists()
    assert Reconciliation.objects.filter(day=today - dt.timedelta(days=1)).exists()
    states = set(Booking.objects.values_list("state", flat=True))
    assert {"done", "booked"} <= states
    first = Person.objects.order_by("number").first()
    assert Booking.objects.filter(person=first, state="booked", starts_at__gt=before).exists()
    # nothing of the history lies ahead of the clock
    assert not TopUp.objects.filter(created_at__gt=clock.now()).exists()
    assert not Booking.objects.filter(created_at__gt=clock.now()).exists()
    assert ledger_check().ok
    counts = (TopUp.objects.count(), Booking.objects.count(), Room.objects.count())
    assert dorm_demo(institution, random.Random(1), DemoLogin, "pw") == []
    assert (TopUp.objects.count(), Booking.objects.count(), Room.objects.count()) == counts
