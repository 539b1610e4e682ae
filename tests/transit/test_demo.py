import random
from collections import namedtuple

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.identity.roles import ensure_role_groups
from campuscard.ledger.checks import ledger_check
from campuscard.transit.models import Binding, Operator, Tap
from campuscard.transit.selectors import clearing
from tests.transit.conftest import SYSTEM

pytestmark = pytest.mark.django_db
Login = namedtuple("Login", "who institution username password")


def test_demo_binds_the_student_and_rides(institution, student, card):
    from campuscard.demo.transit_demo import transit_demo

    ensure_role_groups()
    nfc_bind(actor=SYSTEM, card=card, uid="04A1B2C3")
    logins = transit_demo(institution, random.Random(1), Login, "Operator-pass-1")
    assert [login.username for login in logins] == ["uni-bus-k1-01", "uni-bus"]
    assert Binding.objects.get(card=card).state == "active"
    assert Tap.objects.filter(card=card, state="charged").count() >= 2
    assert ledger_check().ok and clearing(Operator.objects.get()).reconciled
    assert transit_demo(institution, random.Random(1), Login, "Operator-pass-1") == logins  # twice: the same
