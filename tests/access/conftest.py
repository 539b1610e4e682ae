"""A campus with one zone of every level, a gate guarding them all, and holders with physical cards."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from campuscard.access import services
from campuscard.access.models import DormResidence, Zone
from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import Area, Building
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.identity.models import Person
from tests.cards.conftest import make_person
from tests.helpers import served_post

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


# Monday 30 November 2026, institution time.
MONDAY = dt.date(2026, 11, 30)
NOON = local(2026, 11, 30, 12, 0)


@pytest.fixture(autouse=True)
def _forget_access_caches():
    services.caches_forget()
    yield
    services.caches_forget()


@pytest.fixture
def place(institution):
    area = Area.objects.get(campus__institution=institution, code="area1")
    campus = area.campus

    def building(code, kind):
        return Building.objects.create(area=area, code=code, name=code, kind=kind)

    dorm_a, dorm_b = building("dorm-a", Building.Kind.DORMITORY), building("dorm-b", Building.Kind.DORMITORY)
    zones = {
        "gate": Zone.objects.create(institution=institution, campus=campus, code="south-gate", name="南门",
                                    level=Zone.Level.CAMPUS_GATE),
        "teaching": Zone.objects.create(institution=institution, campus=campus, code="teach-1", name="第一教学楼",
                                        level=Zone.Level.TEACHING,
                                        building=building("teach-1", Building.Kind.TEACHING)),
        "dorm": Zone.objects.create(institution=institution, campus=campus, code="dorm-a", name="A 栋",
                                    level=Zone.Level.DORMITORY, building=dorm_a),
        "dorm_b": Zone.objects.create(institution=institution, campus=campus, code="dorm-b", name="B 栋",
                                      level=Zone.Level.DORMITORY, building=dorm_b),
        "lab": Zone.objects.create(institution=institution, campus=campus, code="lab-1", name="化学实验室",
                                   level=Zone.Level.LABORATORY, building=building("lab-1", Building.Kind.LABORATORY)),
        "library": Zone.objects.create(institution=institution, campus=campus, code="library", name="图书馆",
                                       level=Zone.Level.LIBRARY, building=building("lib", Building.Kind.LIBRARY)),
    }
    return {"area": area, "campus": campus, "dorm_a": dorm_a, "dorm_b": dorm_b, "zones": zones}


@pytest.fixture
def gate(institution, place):
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.GATE, code="gate-1",
                                     name="Turnstile 1")
    for zone in place["zones"].values():
        zone.gates.add(device)
    return device, secret


_uid = iter(range(0x10, 0xFFFF))


def holder(institution, kind=Person.Kind.UNDERGRADUATE, **fields):
    """A person with an active card and a physical card (NFC UID) bound to it: (person, card, uid)."""
    person = make_person(institution, kind, **fields)
    card = card_issue(actor=Actor.system("t"), person=person)
    uid = f"04A1{next(_uid):04X}"
    nfc_bind(actor=Actor.system("t"), card=card, uid=uid)
    return person, card, uid


def resident(person, building, valid_from=dt.date(2026, 9, 1), valid_to=None):
    return DormResidence.objects.create(person=person, building=building, valid_from=valid_from, valid_to=valid_to)


def signed_post(device, secret, path, body, *, secret_override=None, served=False):
    """Through Django's test client, or with ``served`` through the production WSGI stack (device lane)."""
    raw = json.dumps(body).encode()
    headers = sign_headers(device_code=device.code, secret=secret_override or secret, method="POST", path=path,
                           body=raw, timestamp=int(clock.now().timestamp()))
    if served:
        return served_post(path, raw, headers)
    return Client().post(path, data=raw, content_type="application/json", headers=headers)


def signed_get(device, secret, path):
    headers = sign_headers(device_code=device.code, secret=secret, method="GET", path=path,
                           timestamp=int(clock.now().timestamp()))
    return Client().get(path, headers=headers)
