"""Two institutions, a holder with a login, clinicians and the hospital's feed token."""

from __future__ import annotations

import pytest
from django.test import Client

from campuscard.core.actors import Actor
from campuscard.health import services
from campuscard.identity.services import holder_user_ensure, token_issue

PASSWORD = "Snow-Campus-2026"


@pytest.fixture
def holder(student):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return student


@pytest.fixture
def holder_client(holder):
    client = Client()
    client.force_login(holder.user)
    return client


@pytest.fixture
def clinician(institution, make_operator):
    user = make_operator(institution, "clinician", "dr-wang")
    user.first_name = "王医生"
    user.save()
    return user


@pytest.fixture
def foreign_clinician(other_institution, make_operator):
    return make_operator(other_institution, "clinician", "dr-other")


@pytest.fixture
def feed_token(institution, make_operator):
    user = make_operator(institution, "hospital_feed", "hospital")
    return token_issue(user=user, name="hospital")[1]


@pytest.fixture
def records(holder, clinician):
    """One examination and two vaccinations, received through the feed's service."""
    actor = Actor.by_user(clinician)
    services.records_receive(actor=actor, institution=holder.institution, kind="examinations", rows=[
        (2, {"number": holder.number, "external_id": "E-2026-001", "examined_on": "2026-09-03", "height_cm": "168.5",
             "weight_kg": "55", "systolic": "112", "diastolic": "72", "heart_rate": "68", "vision_left": "4.9",
             "vision_right": "5.0", "conclusion": "合格"})])
    services.records_receive(actor=actor, institution=holder.institution, kind="vaccinations", rows=[
        (2, {"number": holder.number, "external_id": "V-1", "vaccine": "乙肝疫苗", "dose": "1", "given_on": "2026-09-05"}),
        (3, {"number": holder.number, "external_id": "V-2", "vaccine": "流感疫苗", "dose": "1", "given_on": "2026-10-10"})])
    return holder
