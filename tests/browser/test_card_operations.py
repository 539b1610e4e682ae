"""Back-office and holder journeys of issue 4 in a real browser: photo upload (ID-7), staff
department change with free re-issue (CARD-8), graduation list (CARD-9), old meal-card import (CARD-7)."""


import pytest
from PIL import Image

from campuscard.cards.models import Card, LegacyMealCard, Photo
from campuscard.cards.services import card_issue
from campuscard.core.actors import Actor
from campuscard.identity.models import Person
from campuscard.identity.services import holder_user_ensure
from campuscard.support.models import Notification
from tests.conftest import ID_BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def operator_login(page, base, username):
    page.goto(f"{base}/backoffice/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")


def test_holder_uploads_a_photo(live_server, phone, screenshot, student, card, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    user = holder_user_ensure(person=student)
    user.set_password("Snow-Campus-2026")
    user.must_change_password = False
    user.save()
    photo = tmp_path / "me.png"
    Image.new("RGB", (240, 320), (180, 200, 230)).save(photo, "PNG")
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=password]", "Snow-Campus-2026")
    page.click("#login-form button[type=submit]")
    page.goto(f"{live_server.url}/cards/photo/")
    page.set_input_files("input[name=photo]", str(photo))
    page.click("#photo-form button[type=submit]")
    page.wait_for_selector('[data-state="pending"]')
    screenshot(page, "portal-photo-uploaded-zh")
    assert Photo.objects.get(person=student).state == "pending"


def test_staff_department_change_graduation_and_legacy_import(live_server, desktop, screenshot, institution,
                                                              student, card, make_operator, tmp_path):
    make_operator(institution, "card_center_operator", "window-op")
    staff = Person.objects.create(institution=institution, number="T00009", name="李建国", kind="staff",
                                  status="active", id_number=ID_BOB)
    staff_card = card_issue(actor=Actor.system("t"), person=staff)
    page = desktop
    operator_login(page, live_server.url, "window-op")

    page.goto(f"{live_server.url}/backoffice/cards/card/{staff_card.pk}/department/")
    page.fill("input[name=department]", "计算机学院")
    page.check("input[name=reissue]")
    screenshot(page, "backoffice-department-change")
    page.click("#simple-form button[type=submit]")
    page.wait_for_load_state()
    assert Card.objects.get(pk=staff_card.pk).state == "replaced"
    assert Person.objects.get(pk=staff.pk).department == "计算机学院"
    assert Notification.objects.filter(person=staff, kind="security").exists()  # the transit-purse notice

    legacy = tmp_path / "old.csv"
    legacy.write_text(f"old_number,number,balance\nM001,{student.number},34.80\n", encoding="utf-8")
    page.goto(f"{live_server.url}/backoffice/cards/legacymealcard/import/")
    page.set_input_files("input[name=file]", str(legacy))
    page.click("#simple-form button[type=submit]")
    page.wait_for_url("**/legacymealcard/")
    assert LegacyMealCard.objects.get().balance == 3_480

    graduates = tmp_path / "graduates.csv"
    graduates.write_text(f"number\n{student.number}\n", encoding="utf-8")
    page.goto(f"{live_server.url}/backoffice/cards/legacymealcard/graduation/")
    page.set_input_files("input[name=file]", str(graduates))
    screenshot(page, "backoffice-graduation-list")
    page.click("#simple-form button[type=submit]")
    page.wait_for_url("**/legacymealcard/")
    screenshot(page, "backoffice-graduation-done")
    assert Card.objects.get(pk=card.pk).kind == "alumni"
    assert Person.objects.get(pk=student.pk).kind == "alumnus"



