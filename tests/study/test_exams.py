"""Exam check-in (SVC-2): the roster, the door, the wrong room, the window, pay codes refused."""

from __future__ import annotations

import datetime as dt

import pytest

from campuscard.cards import codes as card_codes
from campuscard.cards.models import Card
from campuscard.cards.selectors import qr_credential
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.study import codes, selectors, services
from campuscard.study.models import ExamEntry
from tests.helpers import csv_bytes, xlsx_bytes
from tests.study.conftest import EXAM_END, EXAM_START, holder

pytestmark = pytest.mark.django_db


def check_in(exam, presented, room="A101", user=None):
    return services.exam_check_in(actor=Actor.by_user(user or exam["invigilator"]), room=exam["rooms"][room],
                                  presented=presented)


def test_card_checks_in_once_and_is_audited(exam):
    with clock.frozen_at(EXAM_START - dt.timedelta(minutes=5)):
        first = check_in(exam, "04:a1:b2:c3")
        again = check_in(exam, "04A1B2C3")
    assert not first.already and again.already
    entry = ExamEntry.objects.get(person=exam["alice"])
    assert entry.checked_in_at == EXAM_START - dt.timedelta(minutes=5)
    assert entry.method == ExamEntry.Method.CARD and entry.checked_in_by == exam["invigilator"]
    assert AuditLog.objects.filter(action="exam_checked_in").count() == 1


def test_wrong_room_names_the_right_one(exam):
    with clock.frozen_at(EXAM_START), pytest.raises(DomainError) as refused:
        check_in(exam, "04D4E5F6")  # Bob sits in A102
    assert refused.value.code == "exam_wrong_room"
    assert refused.value.details["room"] == "A102" and "A102" in refused.value.message
    assert ExamEntry.objects.get(person=exam["bob"]).checked_in_at is None


def test_not_on_the_roster(exam, institution):
    holder(institution, "04999999")
    with clock.frozen_at(EXAM_START), pytest.raises(DomainError) as refused:
        check_in(exam, "04999999")
    assert refused.value.code == "exam_not_on_roster"


@pytest.mark.parametrize(("moment", "code"), [
    (EXAM_START - dt.timedelta(minutes=60, seconds=1), "exam_checkin_not_open"),
    (EXAM_START - dt.timedelta(minutes=60), None),
    (EXAM_END - dt.timedelta(seconds=1), None),
    (EXAM_END, "exam_checkin_closed"),
])
def test_check_in_window_edges(exam, moment, code):
    with clock.frozen_at(moment):
        if code is None:
            assert not check_in(exam, "04A1B2C3").already
        else:
            with pytest.raises(DomainError) as refused:
                check_in(exam, "04A1B2C3")
            assert refused.value.code == code


def test_identify_code_checks_in_and_expires(exam, settings):
    with clock.frozen_at(EXAM_START):
        code = selectors.identify_code_of(exam["alice"])
    assert code.startswith("CI1.")
    with clock.frozen_at(EXAM_START + dt.timedelta(seconds=settings.EXAM_CODE_VALID_SECONDS)), \
            pytest.raises(DomainError) as expired:
        check_in(exam, code)
    assert expired.value.code == "exam_code_expired"
    with clock.frozen_at(EXAM_START + dt.timedelta(seconds=settings.EXAM_CODE_VALID_SECONDS - 1)):
        assert check_in(exam, code).entry.method == ExamEntry.Method.CODE
    forged = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    with clock.frozen_at(EXAM_START), pytest.raises(DomainError) as bad:
        check_in(exam, forged)
    assert bad.value.code == "exam_code_invalid"


def test_pay_code_refused_and_not_used_up(exam):
    """A scanner is never shown a pay code it could replay at a till: refused, and the code stays unused."""
    with clock.frozen_at(EXAM_START):
        pay = card_codes.current_code(qr_credential(exam["alice_card"]))
        for presented in (pay, card_codes.numeric(pay, qr_credential(exam["alice_card"]).pk)):
            with pytest.raises(DomainError) as refused:
                check_in(exam, presented)
            assert refused.value.code == "exam_pay_code_refused"
        assert not card_codes.code_was_used(credential=qr_credential(exam["alice_card"]), code=pay)
    assert ExamEntry.objects.get(person=exam["alice"]).checked_in_at is None


def test_identify_code_is_no_pay_code(exam):
    """The identify-only code is refused by the payment code check (so by every till and gate)."""
    with clock.frozen_at(EXAM_START):
        code = codes.identify_code(exam["alice_card"].number)
        with pytest.raises(DomainError) as refused:
            card_codes.code_accept(institution_id=exam["alice"].institution_id, code=code)
    assert refused.value.code == "qr_invalid"


def test_lost_card_refused(exam):
    Card.objects.filter(pk=exam["alice_card"].pk).update(state=Card.State.LOST)
    with clock.frozen_at(EXAM_START), pytest.raises(DomainError) as refused:
        check_in(exam, "04A1B2C3")
    assert refused.value.code == "card_lost"


def test_invigilator_only_at_their_rooms(exam, institution, make_operator, other_institution):
    with clock.frozen_at(EXAM_START):
        with pytest.raises(DomainError) as refused:
            check_in(exam, "04D4E5F6", room="A102")  # not named for A102
        assert refused.value.code == "exam_not_invigilator"
        outsider = make_operator(other_institution, "invigilator", username="other-inv")
        exam["rooms"]["A101"].invigilators.add(outsider)
        with pytest.raises(DomainError) as foreign:
            check_in(exam, "04A1B2C3", user=outsider)
        assert foreign.value.code == "forbidden"
        office = make_operator(institution, "study_admin")
        assert not check_in(exam, "04D4E5F6", room="A102", user=office).already  # the exam office: any room
    assert list(ExamEntry.objects.exclude(checked_in_at=None).values_list("person", flat=True)) == [exam["bob"].pk]


def test_missing_list_and_export(exam):
    with clock.frozen_at(EXAM_START):
        check_in(exam, "04A1B2C3")
    status = selectors.room_status(exam["rooms"]["A102"])
    assert [e.person for e in status.missing] == [exam["bob"]] and status.present == 0
    text = selectors.attendance_csv(exam["session"])
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == ",".join(selectors.ATTENDANCE_COLUMNS)
    assert any(exam["alice"].number in line and ",1,2026-12-14 09:00:00,card," in line for line in lines)
    assert any(exam["bob"].number in line and ",0,," in line for line in lines)


def test_roster_import_all_or_nothing(exam, institution, make_operator):
    office = make_operator(institution, "study_admin")
    carol, _card = holder(institution, "04CAFE01")
    good = [["学号", "考场", "座位"], [carol.number, "B201", "7"], [exam["bob"].number, "A101", "4"]]
    bad = [*good, ["NOPE", "B201", "1"], [carol.number, "B201", "8"]]
    with pytest.raises(DomainError) as refused:
        services.exam_roster_import_file(actor=Actor.by_user(office), session=exam["session"], name="r.csv",
                                         stream=__import__("io").BytesIO(csv_bytes(bad)))
    errors = refused.value.details["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(4, "number"), (5, "number")]
    assert not ExamEntry.objects.filter(person=carol).exists()
    report = services.exam_roster_import_file(actor=Actor.by_user(office), session=exam["session"], name="r.xlsx",
                                              stream=__import__("io").BytesIO(xlsx_bytes(good)))
    assert (report.created, report.updated, report.rooms_created) == (1, 1, 1)
    assert ExamEntry.objects.get(person=exam["bob"]).room.code == "A101"
    assert ExamEntry.objects.get(person=carol).seat == "7"
