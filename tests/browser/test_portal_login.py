"""A student's first login in a real browser (ID-3, ID-5, issue 2)."""

import pytest

from campuscard.identity.models import Person
from tests.conftest import ID_ALICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_first_login_changes_password_and_switches_language(live_server, phone, screenshot, student):
    page = phone
    page.goto(f"{live_server.url}/login/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"  # Chinese by default
    screenshot(page, "portal-login-zh")

    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=password]", ID_ALICE[-6:])  # initial password: last six, X upper-case
    page.click("#login-form button[type=submit]")

    page.wait_for_url("**/password/")
    screenshot(page, "portal-forced-password-change-zh")
    page.goto(f"{live_server.url}/")  # every other page sends the holder back to the change page
    page.wait_for_url("**/password/")

    page.fill("input[name=old_password]", ID_ALICE[-6:])
    page.fill("input[name=new_password]", "Snow-Campus-2026")
    page.fill("input[name=new_password_again]", "Snow-Campus-2026")
    page.click("#password-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#holder-name").inner_text() == student.name
    screenshot(page, "portal-home-zh")

    page.click("button[data-lang=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Payment password" in page.content()
    screenshot(page, "portal-home-en")

    person = Person.objects.select_related("user").get(pk=student.pk)
    assert not person.user.must_change_password
    assert person.user.language == "en"
    assert person.user.check_password("Snow-Campus-2026")


def test_wrong_password_shows_error_and_logs_nobody_in(live_server, phone, screenshot, student):
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=password]", "000000")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(".error")
    screenshot(page, "portal-login-wrong-password")
    assert "/login/" in page.url
