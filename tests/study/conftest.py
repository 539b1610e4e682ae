"""An exam session with two rooms and a roster; a study room with seats; holders with physical cards."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core.actors import Actor
from campuscard.identity.models import Person
from campuscard.study.models import ExamEntry, ExamRoom, ExamSession, Seat, StudyRoom
from tests.cards.conftest import make_person

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


EXAM_START = local(2026, 12, 14, 9, 0)
EXAM_END = local(2026, 12, 14, 11, 0)


def holder(institution, uid: str, kind: str = Person.Kind.UNDERGRADUATE):
    person = make_person(institution, kind=kind)
    card = card_issue(actor=Actor.system("test"), person=person)
    nfc_bind(actor=Actor.system("test"), card=card, uid=uid)
    return person, card


@pytest.fixture
def exam(institution, make_operator):
    session = ExamSession.objects.create(institution=institution, code="calc-1", title="高等数学",
                                         starts_at=EXAM_START, ends_at=EXAM_END)
    rooms = {code: ExamRoom.objects.create(session=session, code=code) for code in ("A101", "A102")}
    invigilator = make_operator(institution, "invigilator")
    rooms["A101"].invigilators.add(invigilator)
    alice, alice_card = holder(institution, "04A1B2C3")
    bob, bob_card = holder(institution, "04D4E5F6")
    ExamEntry.objects.create(session=session, room=rooms["A101"], person=alice, seat="12")
    ExamEntry.objects.create(session=session, room=rooms["A102"], person=bob, seat="3")
    return {"session": session, "rooms": rooms, "invigilator": invigilator, "alice": alice, "alice_card": alice_card,
            "bob": bob, "bob_card": bob_card}


@pytest.fixture
def study_room(institution):
    room = StudyRoom.objects.create(institution=institution, code="reading-1", name="第一阅览室")
    seats = [Seat.objects.create(room=room, label=f"A{n}") for n in range(1, 4)]
    return room, seats
