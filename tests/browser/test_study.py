"""Study services and library in a real browser, the holder on a phone (#19 items 1–3, SVC-1 … SVC-3):

* exam: the holder opens My exams and shows the check-in code; the invigilator's scanner page reads that
  very code (decoded from the phone's screen), shows the photo and records it; a holder at the wrong door
  is told their room;
* seats: the study-room admin prints the room's QR sheet; the holder's phone opens a seat's QR (decoded
  from the sheet), takes the seat, sees the free seats drop, books another slot ahead; the admin's
  occupancy chart;
* library: loans fed by the library system appear on the phone; the reminder arrives in the messages.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from campuscard.library.services import loan_feed_apply, loan_reminders_send
from campuscard.study.models import ExamEntry, SeatBooking
from tests.cards.conftest import image_bytes
from tests.helpers import qr_texts
from tests.study.conftest import EXAM_START, exam, holder, local, study_room  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
SHOTS = Path("/tmp/shots_study")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def portal_holder(institution, uid: str, name: str):
    person, card = holder(institution, uid)
    person.name = name
    person.save(update_fields=["name"])
    user = holder_user_ensure(person=person)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return person, card


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def backoffice(browser, base, username, viewport=(1366, 900)):
    desk = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", username)
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    return desk


def decode(png: bytes) -> str:
    found = qr_texts(io.BytesIO(png))
    assert found, "no QR code found on the screen"
    return found[0]


def test_exam_check_in_with_the_code_on_the_phone(live_server, browser, phone, institution, exam, settings,  # noqa: F811
                                                  tmp_path):
    settings.MEDIA_ROOT = tmp_path
    base = live_server.url
    alice = exam["alice"]
    user = holder_user_ensure(person=alice)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    photo = Photo(person=alice, state=Photo.State.APPROVED, uploaded_at=EXAM_START, reviewed_at=EXAM_START)
    photo.image.save("alice.png", ContentFile(image_bytes(size=(120, 160))), save=True)
    exam["invigilator"].set_password("Operator-pass-1")
    exam["invigilator"].save()
    with clock.frozen_at(EXAM_START - dt.timedelta(minutes=20)):
        login(phone, base, alice.number)
        phone.click("#tile-exams")
        phone.wait_for_selector('.exam-entry[data-room="A101"]')
        shot(phone, "exam-portal-zh")
        code = decode(phone.locator("#exam-code .qr").screenshot())
        assert code.startswith("CI1.")

        door = backoffice(browser, base, exam["invigilator"].username, viewport=(1024, 768))
        door.goto(f"{base}/devices/exam/")
        door.click('.exam-room-link[data-room="A101"]')
        door.wait_for_selector("#exam-input")
        door.fill("#exam-input", code)
        door.press("#exam-input", "Enter")
        door.wait_for_selector('#exam-verdict[data-outcome="checked_in"]')
        assert door.locator("#exam-photo").count() == 1
        assert alice.name in door.inner_text("#exam-name")
        shot(door, "exam-scanner-checked-in-zh")
        door.fill("#exam-input", "04:D4:E5:F6")  # Bob's card: he sits in A102
        door.press("#exam-input", "Enter")
        door.wait_for_selector('#exam-verdict[data-outcome="exam_wrong_room"]')
        assert "A102" in door.inner_text("#exam-right-room")
        shot(door, "exam-scanner-wrong-room-zh")
        door.click("#exam-language")
        door.wait_for_selector("#exam-missing")
        shot(door, "exam-scanner-en")
    entry = ExamEntry.objects.get(person=alice)
    assert entry.method == ExamEntry.Method.CODE and entry.checked_in_by == exam["invigilator"]
    assert ExamEntry.objects.get(person=exam["bob"]).checked_in_at is None


def test_seat_taken_from_its_printed_qr_and_booked_ahead(live_server, browser, phone, institution, study_room,  # noqa: F811
                                                         make_operator):
    base = live_server.url
    room, seats = study_room
    make_operator(institution, "study_admin", "study-boss")
    person, _card = portal_holder(institution, "04AB0001", "张晓雪")
    morning = local(2026, 12, 14, 9, 0)
    with clock.frozen_at(morning):
        desk = backoffice(browser, base, "study-boss")
        desk.goto(f"{base}/backoffice/study/studyroom/{room.pk}/qr-sheet/")
        desk.wait_for_selector("#qr-sheet")
        shot(desk, "seats-qr-sheet")
        link = decode(desk.locator('.label[data-seat="A2"] svg').screenshot())
        assert link.endswith(f"/s/{seats[1].token}/")

        login(phone, base, person.number)
        phone.click("#tile-study")
        phone.wait_for_selector('.study-room[data-free="3"]')
        phone.goto(link)
        phone.wait_for_selector('#seat-page[data-free="1"]')
        shot(phone, "seats-scan-zh")
        phone.click("#seat-use")
        phone.wait_for_selector('.seat-booking[data-state="in_use"]')
        assert phone.locator('.study-room[data-free="2"]').count() == 1
        shot(phone, "seats-in-use-zh")

        # book another seat for tomorrow afternoon
        phone.click('.study-room[data-room="reading-1"]')
        phone.wait_for_selector('#seat-grid .seat.taken[data-seat="A2"]')
        phone.select_option("#book-seat", str(seats[2].pk))
        phone.fill("#book-day", "2026-12-15")
        phone.fill("#book-start", "14:00")
        phone.fill("#book-end", "16:00")
        phone.click("#book-submit")
        phone.wait_for_selector('.seat-booking[data-state="booked"]')
        shot(phone, "seats-booked-ahead-zh")
        desk.goto(f"{base}/backoffice/study/studyroom/{room.pk}/occupancy/")
        desk.wait_for_selector("#occupancy-kpis")
        shot(desk, "seats-occupancy")
    assert SeatBooking.objects.get(seat=seats[1]).state == SeatBooking.State.IN_USE
    assert SeatBooking.objects.get(seat=seats[2]).starts_at == local(2026, 12, 15, 14, 0)


def test_library_loans_and_the_reminder_on_the_phone(live_server, phone, institution, make_operator):
    base = live_server.url
    person, _card = portal_holder(institution, "04AB0002", "李明")
    feeder = make_operator(institution, "library_system", "library")
    today = dt.date(2026, 12, 14)
    events = [{"event": "loan", "loan_id": f"L{n}", "number": person.number, "barcode": f"TSG{n}", "title": title,
               "at": "2026-11-20T10:00:00+08:00", "due": (today + dt.timedelta(days=days)).isoformat()}
              for n, (title, days) in enumerate([("三体", 3), ("算法导论", 12), ("红楼梦", -2)])]
    loan_feed_apply(actor=Actor.by_user(feeder), institution=institution, events=list(enumerate(events, start=1)))
    with clock.frozen_at(local(2026, 12, 14, 8, 0)):
        assert loan_reminders_send() == 1
        login(phone, base, person.number)
        phone.click("#tile-library")
        phone.wait_for_selector('.loan[data-barcode="TSG0"]')
        assert phone.locator(".loan.overdue").count() == 1
        shot(phone, "library-loans-zh")
        phone.goto(f"{base}/notifications/")
        phone.wait_for_selector("text=2026-12-17")
        shot(phone, "library-reminder-zh")
