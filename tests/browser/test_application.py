"""Getting a card, end to end in Chromium on a phone viewport (APP-1 … APP-5): eligibility, materials
with the SMS code (the console provider's outbox), the certificate photo, package and kiosk, consent,
the face check with the fake front camera (engineer faces' page and camera file, made from a test
portrait — tests/enrollment/facegen.py), submit, the reviewer's approval in the back office, and the
virtual card in "My cards" with the physical card due at the chosen kiosk. Screenshots: /tmp/shots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from campuscard.cards.models import Card, Production
from campuscard.core.actors import Actor
from campuscard.enrollment import registrar
from campuscard.enrollment.models import Application
from tests.browser.test_face_check import camera_file, camera_phone  # noqa: F401  (fixtures)
from tests.enrollment import facegen
from tests.enrollment.apply_helpers import applicant, last_code, places

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_apply_review_and_the_card_in_my_cards(live_server, camera_phone, institution, make_operator):  # noqa: F811
    where = places(institution)
    person = applicant(institution)
    registrar.registrar_photo_store(actor=Actor.system("test"), institution=institution, number=person.number,
                                    data=(facegen.FACES_DIR / "obama2.jpg").read_bytes())
    reviewer = make_operator(institution, "card_center_operator", "reviewer")
    page, base = camera_phone, live_server.url

    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", person.number)
    page.fill("input[name=password]", "Applicant-pass-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/**")

    # 1. eligibility
    page.goto(f"{base}/apply/")
    shot(page, "apply-1-eligibility")
    page.click("#apply-start")
    page.wait_for_url("**/apply/materials/")

    # 2. materials: ID, proof of student status, the SMS code
    page.fill("#id-number", person.id_number)
    page.click("#id-confirm")
    page.wait_for_selector("#id-ok")
    page.click("#proof-confirm")
    page.wait_for_selector("#proof-ok")
    page.fill("#phone", "13800138000")
    page.click("#phone-send")
    page.wait_for_selector("#phone-code")
    page.fill("#phone-code", last_code("13800138000"))
    page.click("#phone-verify")
    page.wait_for_selector("#phone-ok")
    shot(page, "apply-2-materials")

    # the certificate photo the physical card is printed with
    page.goto(f"{base}/cards/photo/")
    page.set_input_files("input[name=photo]", str(facegen.FACES_DIR / "obama.jpg"))
    page.click("#photo-form button[type=submit]")
    page.wait_for_load_state()

    # 3. package and where to collect
    page.goto(f"{base}/apply/package/")
    page.check("#addon-laundry input")
    page.check("input[name=collect][value=kiosk]")
    page.select_option("#point-kiosk", str(where["kiosk"].pk))
    shot(page, "apply-3-package")
    page.click("#package-save")
    page.wait_for_url("**/apply/consent/")

    # 4. consent, then the face check with the phone's camera
    page.check("#consent-agree")
    shot(page, "apply-4-consent")
    page.click("#consent-save")
    page.wait_for_url("**/apply/face/")
    page.click("#face-start")
    page.wait_for_selector("#face-result [data-result]", timeout=60_000)
    shot(page, "apply-5-face-result")
    assert page.locator("#face-result [data-result]").get_attribute("data-result") == "passed"
    page.click("#face-back")
    page.wait_for_url("**/apply/")

    # 5. submit and follow the status
    page.click("#apply-submit")
    page.wait_for_selector("#apply-status[data-state=review]")
    shot(page, "apply-6-waiting-for-review")
    application = Application.objects.get(person=person)
    assert application.checks_passed is True, application.checks_failed

    # 6. the reviewer approves from the application's page
    context = page.context.browser.new_context(viewport={"width": 1366, "height": 900})
    desk = context.new_page()
    desk.set_default_timeout(20_000)
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", reviewer.username)
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    desk.goto(f"{base}/backoffice/enrollment/application/")
    shot(desk, "apply-7-review-queue")
    desk.goto(f"{base}/backoffice/enrollment/application/{application.pk}/change/")
    shot(desk, "apply-8-review-detail")
    desk.click("#application-approve")
    desk.wait_for_url("**/enrollment/application/")
    context.close()

    # 7. the virtual card in My cards at once, the physical card due at the chosen kiosk
    page.goto(f"{base}/cards/")
    card = Card.objects.get(person=person)
    assert card.state == Card.State.ACTIVE
    page.wait_for_selector(f"#card-{card.number}")
    production = Production.objects.get(card=card)
    assert production.collect_point == where["kiosk"]
    assert "图书馆自助机" in page.locator(f"#production-{card.number}").inner_text()
    shot(page, "apply-9-my-cards")
    page.goto(f"{base}/apply/")
    page.wait_for_selector("#apply-approved")
    shot(page, "apply-10-approved")
