"""The Card Center issues a 2026 intake in bulk in the back office, prints the batch sheet, hands the batch
over to the unit and a student signs for their card; and issues one card at the window from a person page.
Screenshots: test-artifacts/screenshots and /tmp/shots/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campuscard.cards.models import IssueBatch, IssueRun, Photo
from campuscard.cards.services import photo_review
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.models import Person
from tests.cards.conftest import image_bytes, make_person

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/tmp/shots")


@pytest.fixture
def shot(screenshot):
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        shutil.copy(screenshot(page, name), SHOTS / f"{name}.png")

    return take


def _login(page, url, username):
    page.goto(f"{url}/backoffice/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")


def test_bulk_issue_print_sheet_handover_and_window_issue(live_server, desktop, shot, institution, make_operator,
                                                           settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    operator = make_operator(institution, "card_center_operator", "cc-op")
    people = []
    for i in range(6):
        person = make_person(institution, department="软件学院", enrollment_year=2026, title="2026级1班")
        if i < 4:
            photo = Photo.objects.create(person=person, uploaded_at=clock.now(),
                                         image=SimpleUploadedFile("p.png", image_bytes(), content_type="image/png"))
            photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)
        people.append(person)
    page = desktop
    _login(page, live_server.url, "cc-op")
    page.goto(f"{live_server.url}/backoffice/cards/issuerun/")
    page.click('a[href$="/backoffice/cards/issuerun/add/"]')  # 批量发卡
    page.fill("input[name=department]", "软件学院")
    page.fill("input[name=enrollment_year]", "2026")
    shot(page, "bulk-issue-form")
    page.click("#simple-form button[type=submit]")
    page.wait_for_load_state()
    run = IssueRun.objects.get()
    assert (run.state, run.issued, len(run.missing_photo)) == ("done", 4, 2)
    page.reload()
    content = page.content()
    assert people[5].number in content and "软件学院" in content
    shot(page, "bulk-issue-run")

    batch = IssueBatch.objects.get()
    page.goto(f"{live_server.url}/backoffice/cards/issuebatch/")
    assert page.locator("#batch-states [data-state=open] .count").inner_text() == "1"
    shot(page, "bulk-issue-batches")
    with page.expect_popup() as popup:
        page.click(f"#sheet-{batch.pk}")
    sheet = popup.value
    sheet.wait_for_load_state()
    rows = sheet.locator("#sheet-cards tbody tr")
    assert rows.count() == 4
    for production in batch.productions.select_related("card__person"):
        assert production.card.number in sheet.content() and production.card.person.name in sheet.content()
    assert sheet.locator("#sheet-unit").inner_text() == "软件学院"
    shot(sheet, "bulk-issue-batch-sheet")
    sheet.close()

    page.goto(f"{live_server.url}/backoffice/cards/issuebatch/{batch.pk}/change/")
    page.click("#mark-printed")
    page.fill("input[name=received_by]", "刘老师")
    shot(page, "bulk-issue-handover-form")
    page.click("#handover-unit")
    page.wait_for_selector("#handed-over")
    first = batch.productions.select_related("card__person").order_by("card__person__number").first().card
    page.fill(f"#row-{first.number} input[name=signed_by]", first.person.name)
    page.click(f"#sign-{first.number}")
    page.wait_for_selector(f"#row-{first.number}[data-state=collected]")
    shot(page, "bulk-issue-handover-signed")
    batch.refresh_from_db()
    assert (batch.state, batch.received_by) == ("handed_over", "刘老师")

    # one card at the window, from the person page: a temporary worker, virtual only
    worker = make_person(institution, Person.Kind.TEMPORARY, department="后勤集团")
    page.goto(f"{live_server.url}/backoffice/identity/person/{worker.pk}/change/")
    page.click("#issue-card")
    shot(page, "window-issue-form")
    page.click("#simple-form button[type=submit]")
    page.wait_for_load_state()
    card = worker.cards.get()
    assert card.kind == "temporary" and f"/cards/card/{card.pk}/change/" in page.url
    shot(page, "window-issue-done")


def test_holder_chooses_add_ons_on_the_package_page(live_server, phone, shot, student):
    from campuscard.cards.selectors import package_addons
    from campuscard.identity.services import holder_user_ensure

    user = holder_user_ensure(person=student)
    user.set_password("Snow-Campus-2026")
    user.must_change_password = False
    user.save()
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=password]", "Snow-Campus-2026")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/cards/")
    page.click("#package-link a")
    page.check("#addon-laundry input")
    page.check("#addon-lab input")
    page.click("#package-save")
    page.wait_for_selector("#addon-lab input:checked")
    assert package_addons(person=student) == {"laundry", "lab"}
    shot(page, "portal-package")
