"""Health records in a real browser (SVC-6): a clinician opens a holder's records in the back office (desktop),
and the holder sees them on the phone together with "who read my data" — the clinician, when, what, why."""

from __future__ import annotations

from pathlib import Path

import pytest

from campuscard.core.actors import Actor
from campuscard.health import services
from campuscard.health.models import RecordRead
from campuscard.identity.services import holder_user_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
SHOTS = Path("/tmp/shots_rental")


def shot(page, name: str, screenshot) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_clinician_reads_and_the_holder_sees_who_read(live_server, browser, phone, screenshot, institution, student,
                                                      make_operator, other_institution):
    base = live_server.url
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    clinician = make_operator(institution, "clinician", "dr-wang")
    clinician.first_name = "王医生"
    clinician.save()
    feed = Actor.by_user(clinician)
    services.records_receive(actor=feed, institution=institution, kind="examinations", rows=[
        (2, {"number": student.number, "external_id": "TJ2026-00001", "examined_on": "2026-09-03", "height_cm": "168.5",
             "weight_kg": "55.0", "systolic": "112", "diastolic": "72", "heart_rate": "68", "vision_left": "4.9",
             "vision_right": "5.0", "conclusion": "合格"})])
    services.records_receive(actor=feed, institution=institution, kind="vaccinations", rows=[
        (2, {"number": student.number, "external_id": "YM-1", "vaccine": "乙肝疫苗", "dose": "1", "given_on": "2025-03-05"})])

    # the clinician, on a desktop: look the holder up, say why, open the records (logged)
    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", "dr-wang")
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    desk.goto(f"{base}/backoffice/health/examination/")
    desk.fill("input[name=number]", student.number)
    desk.fill("input[name=purpose]", "入学体检复核")
    shot(desk, "health-backoffice-lookup", screenshot)
    desk.click("#health-open")
    desk.wait_for_selector("#health-logged")
    assert desk.locator('#health-exams [data-exam="TJ2026-00001"]').count() == 1
    shot(desk, "health-backoffice-records", screenshot)
    assert RecordRead.objects.filter(reader=clinician, purpose="入学体检复核").count() == 1

    # a clinician of another institution: the holder's number is unknown there, nothing logged
    make_operator(other_institution, "clinician", "dr-far")
    far = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    far.goto(f"{base}/backoffice/login/")
    far.fill("input[name=username]", "dr-far")
    far.fill("input[name=password]", "Operator-pass-1")
    far.click("button[type=submit]")
    far.wait_for_load_state()
    far.goto(f"{base}/backoffice/health/examination/")
    far.fill("input[name=number]", student.number)
    far.click("#health-open")
    far.wait_for_selector('[data-error="number"]')
    shot(far, "health-backoffice-other-institution-refused", screenshot)
    assert RecordRead.objects.count() == 1

    # the holder, on the phone: the records and who read them
    phone.goto(f"{base}/login/")
    phone.select_option("select[name=institution]", "uni")
    phone.fill("input[name=number]", student.number)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url(f"{base}/")
    phone.click("#tile-health")
    phone.wait_for_selector("#health-reads")
    assert phone.locator('#health-exams [data-exam="TJ2026-00001"]').count() == 1
    reads = phone.locator("#read-log tbody tr[data-read]")
    assert reads.count() == 1 and "王医生" in reads.first.inner_text() and "入学体检复核" in reads.first.inner_text()
    shot(phone, "health-portal-zh", screenshot)
    phone.click('button[data-lang="en"]')
    phone.wait_for_selector("#health-reads")
    assert "Who read my data" in phone.inner_text("#health-reads")
    shot(phone, "health-portal-en", screenshot)
