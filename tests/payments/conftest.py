import pytest

from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.models import Person
from tests.conftest import ID_BOB


@pytest.fixture
def staff(institution) -> Person:
    return Person.objects.create(institution=institution, number="T00001", name="李建国", kind=Person.Kind.STAFF,
                                 status=Person.Status.ACTIVE, id_number=ID_BOB)


@pytest.fixture
def kiosk(institution):
    device, secret = device_register(actor="test", institution=institution, kind=Device.Kind.KIOSK,
                                     code="kiosk-1", name="Kiosk 1")
    return device, secret
