import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.models import Person
from campuscard.payments import pos
from campuscard.payments.models import Terminal
from campuscard.payments.services import recharge_cash
from tests.conftest import ID_BOB


@pytest.fixture
def staff(institution) -> Person:
    return Person.objects.create(institution=institution, number="T00001", name="李建国", kind=Person.Kind.STAFF,
                                 status=Person.Status.ACTIVE, id_number=ID_BOB)


@pytest.fixture
def kiosk(institution):
    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.KIOSK,
                                     code="kiosk-1", name="Kiosk 1")
    return device, secret


# --- a canteen with one POS terminal, and the student's card funded with ¥500 ---


@pytest.fixture
def canteen(institution):
    return pos.merchant_open(actor=Actor.system("t"), institution=institution, code="xueyuan", name="学苑餐厅", category="canteen")


@pytest.fixture
def terminal(institution, canteen):
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-1",
                                     name="Window 3")
    return Terminal.objects.create(device=device, merchant=canteen, counter="3号窗口"), secret


@pytest.fixture
def funded(student, card):
    """The student's card with ¥500 and a physical card (NFC) to tap: a QR code works once per 30 s."""
    recharge_cash(channel="window", person=student, amount=50_000, key="fund")
    nfc_bind(actor=Actor.system("t"), card=card, uid="04:A1:B2:C3")
    return card
