import pytest

from campuscard.cards.services import card_issue, nfc_bind, package_addon_grant
from campuscard.core.actors import Actor
from campuscard.core.models import Area, Building
from campuscard.dorm import services
from campuscard.dorm.models import Machine, Room
from campuscard.payments import pos
from campuscard.payments.services import recharge_cash

ACTOR = Actor.system("test")


@pytest.fixture
def dorm(institution):
    building = Building.objects.create(area=Area.objects.get(campus__institution=institution), code="d1",
                                       name="1号宿舍楼", kind=Building.Kind.DORMITORY)
    power = pos.merchant_open(actor=ACTOR, institution=institution, code="dorm-power", name="宿舍电费",
                              category="other")
    laundry = pos.merchant_open(actor=ACTOR, institution=institution, code="dorm-laundry", name="1号楼洗衣房",
                                category="laundry")
    return services.dorm_building_open(actor=ACTOR, building=building, electricity_merchant=power,
                                       laundry_merchant=laundry)


@pytest.fixture
def room(dorm, student):
    room = Room.objects.create(institution=dorm.institution, dorm=dorm, number="301", meter="M-301", price=60)
    room.residents.add(student)
    return room


@pytest.fixture
def resident(student, card, room):
    """The student lives in room 301, has both add-ons, ¥500 in the wallet and a physical card."""
    recharge_cash(channel="window", person=student, amount=50_000, key="fund")
    nfc_bind(actor=ACTOR, card=card, uid="04:A1:B2:C3")
    package_addon_grant(actor=ACTOR, person=student, addon="dorm_electricity")
    package_addon_grant(actor=ACTOR, person=student, addon="laundry")
    return student


@pytest.fixture
def neighbour(institution, staff_member, room):
    """Another resident of room 301 with the laundry add-on and ¥100."""
    card = card_issue(actor=ACTOR, person=staff_member)
    nfc_bind(actor=ACTOR, card=card, uid="04:D4:E5:F6")
    recharge_cash(channel="window", person=staff_member, amount=10_000, key="fund-n")
    package_addon_grant(actor=ACTOR, person=staff_member, addon="laundry")
    room.residents.add(staff_member)
    return staff_member


@pytest.fixture
def machine(dorm):
    return Machine.objects.create(institution=dorm.institution, dorm=dorm, code="w1", name="1号洗衣机",
                                  price=400, slot_minutes=60)
