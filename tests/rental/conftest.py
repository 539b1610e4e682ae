"""An equipment room (a merchant) with a deposit item and a rate item, a desk operator, and the student's
card funded with ¥500 and bound to a physical card."""

from __future__ import annotations

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core.actors import Actor
from campuscard.payments import pos
from campuscard.payments.services import recharge_cash
from campuscard.rental.models import Item

UID = "04:A1:B2:C3"


@pytest.fixture
def room(institution):
    return pos.merchant_open(actor=Actor.system("t"), institution=institution, code="sports-room", name="体育器材室",
                             category="other")


@pytest.fixture
def racket(institution, room):
    """¥30 deposit, free."""
    return Item.objects.create(institution=institution, code="racket-01", name="羽毛球拍", category=Item.Category.SPORTS,
                               merchant=room, deposit=3000, loan_hours=4)


@pytest.fixture
def scope(institution, room):
    """¥5 per started hour, no deposit."""
    return Item.objects.create(institution=institution, code="scope-01", name="显微镜", category=Item.Category.LAB,
                               merchant=room, rate_per_hour=500, loan_hours=24)


@pytest.fixture
def camera(institution, room):
    """¥20 deposit and ¥8 per started hour."""
    return Item.objects.create(institution=institution, code="camera-01", name="运动相机", category=Item.Category.SPORTS,
                               merchant=room, deposit=2000, rate_per_hour=800, loan_hours=2)


@pytest.fixture
def funded(student, card):
    recharge_cash(channel="window", person=student, amount=50_000, key="fund")
    nfc_bind(actor=Actor.system("t"), card=card, uid=UID)
    return card


@pytest.fixture
def desk_user(institution, make_operator):
    return make_operator(institution, "equipment_desk", "desk-1")


@pytest.fixture
def desk(desk_user):
    return Actor.by_user(desk_user)
