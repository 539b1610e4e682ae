import datetime as dt

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.ledger.selectors import account_balances
from campuscard.payments.services import recharge_cash
from campuscard.transit import services
from campuscard.transit.models import Route

SYSTEM = Actor.system("test")
UID = "04A1B2C3"


@pytest.fixture
def operator(institution):
    return services.operator_create(actor=SYSTEM, institution=institution, code="citybus", name="市公交")


@pytest.fixture
def route(operator):
    return Route.objects.create(operator=operator, code="K1", name="一号线", fare=200)


@pytest.fixture
def route2(operator):
    return Route.objects.create(operator=operator, code="K2", name="二号线", fare=200, stage_fare=100, max_stages=3)


@pytest.fixture
def validator(route):
    validator, _secret = services.validator_register(actor=SYSTEM, route=route, code="bus-k1-01")
    return validator


@pytest.fixture
def validator2(route2):
    validator, _secret = services.validator_register(actor=SYSTEM, route=route2, code="bus-k2-01")
    return validator


@pytest.fixture
def bound(student, card):
    """The student's card with a physical card (NFC), ¥10 and bound to the buses."""
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    return card


def taps(*counters, uid=UID, start=None, minutes=1, stages=1):
    start = start or clock.now() - dt.timedelta(hours=1)
    return [{"counter": c, "uid": uid, "tapped_at": (start + dt.timedelta(minutes=minutes * i)).isoformat(),
             "stages": stages} for i, c in enumerate(counters)]


def available(card) -> int:
    return account_balances(account_id=card.wallet_account_id).available
