"""The demo's study rooms, exam and loans (#19): something to show for each service, loaded once."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import Group

from campuscard.demo.study_demo import study_demo
from campuscard.identity.roles import ensure_role_groups
from campuscard.library.models import Loan
from campuscard.study import selectors
from campuscard.study.models import ExamEntry, SeatBooking, StudyRoom
from campuscard.support.models import Notification
from tests.study.conftest import holder

pytestmark = pytest.mark.django_db


def test_study_demo_fills_every_service_once(institution):
    ensure_role_groups()
    for n in range(45):
        holder(institution, f"04DE{n:04d}")
    logins = study_demo(institution, random.Random(1), lambda *a: a, "Operator-pass-1")
    assert {login[2] for login in logins} == {"uni-invigilator", "uni-study", "uni-library"}
    assert StudyRoom.objects.filter(institution=institution).count() == 2
    live = selectors.rooms_live(institution.pk)
    assert live[0].free < live[0].seats  # some seats in use now
    assert SeatBooking.objects.filter(state=SeatBooking.State.ENDED).exists()
    assert SeatBooking.objects.filter(state=SeatBooking.State.RELEASED).count() == 3
    assert ExamEntry.objects.count() == 40
    assert Loan.objects.exclude(returned_at=None).count() == 1 and Loan.objects.count() > 30
    assert Notification.objects.filter(kind="loan_due").exists()
    assert Group.objects.get(name="invigilator").user_set.filter(username="uni-invigilator").exists()
    assert study_demo(institution, random.Random(1), lambda *a: a, "Operator-pass-1") == []
