"""Issue #17 item 6 and the rest of item 11 in a real browser: the holder's home (balance and the pay code
first, then the services from portal/services.py, no developer links), the operator's dashboard of waiting
work, and the smaller fixes (wallet labels, offline codes, visitor pass sharing). Phone for the portal,
desktop for the back office; screenshots in both languages."""

from __future__ import annotations

import pytest

from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.services import recharge_cash
from campuscard.portal.services import SERVICES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return user


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_home_puts_balance_and_pay_code_first(live_server, phone, screenshot, holder, student, card):
    recharge_cash(channel="window", person=student, amount=8850, key="home-17")
    page = phone
    login(page, live_server.url, student.number)
    hero = page.locator("#home-hero")
    assert "88.50" in page.locator("#home-balance").inner_text()
    pay = page.locator("#home-pay-code")
    box, first_service = pay.bounding_box(), page.locator("#home-services").bounding_box()
    assert box["y"] + box["height"] < 844 and box["y"] < first_service["y"]  # above the fold, before services
    assert box["width"] > 300 and box["height"] >= 64  # big
    assert hero.locator("#home-pay-code").count() == 1
    # no developer links and no emoji: icons are inline SVG
    assert page.locator('a[href*="/api/"]').count() == 0
    tiles = page.locator("#home-services .svc")
    assert tiles.count() >= 6
    for i in range(tiles.count()):
        assert tiles.nth(i).locator("svg").count() == 1
    assert not any(ord(ch) > 0x2500 and not ("\u4e00" <= ch <= "\u9fff") and not ("\u3000" <= ch <= "\u303f")
                   and not ("\uff00" <= ch <= "\uffef") for ch in page.locator("main").inner_text())
    screenshot(page, "portal-17-home-zh")
    page.click("#home-pay-code")
    page.wait_for_url(f"**/cards/{card.number}/code/")
    page.go_back()
    page.click("button[data-lang=en]")
    page.wait_for_selector("#home-pay-code")
    assert "Pay code" in page.locator("#home-pay-code").inner_text()
    screenshot(page, "portal-17-home-en")


def test_every_registered_service_is_reachable(client, holder, student, card):
    client.force_login(holder)
    home = client.get("/").content.decode()
    for service in SERVICES:
        if service.visible(student):
            assert f'id="tile-{service.key}"' in home
            assert client.get(service.url.split("#")[0]).status_code == 200, service.key
    assert "/api/v1/docs" not in home


def test_home_without_a_card_leads_to_the_application(live_server, phone, screenshot, student):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    login(phone, live_server.url, student.number)
    assert phone.locator("#home-pay-code").count() == 0
    assert phone.locator("#home-no-card").is_visible()
    phone.click("#home-apply")
    phone.wait_for_url("**/apply/")
    screenshot(phone, "portal-17-home-no-card-zh")


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (240, 320), (190, 205, 230)).save(buffer, "PNG")
    return buffer.getvalue()


def session_login(page, base, user):
    """The browser carries a session made for ``user`` (the login pages have their own tests)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": base,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])


def test_dashboard_shows_the_work_waiting_with_links(live_server, desktop, screenshot, institution, student,
                                                     staff_member, make_operator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campuscard.access.services import campus_entry_apply, campus_entry_decide
    from campuscard.cards.models import Photo
    from campuscard.core import clock

    system = Actor.system("test")
    photos = [Photo.objects.create(person=student, uploaded_at=clock.now(),
                                   image=SimpleUploadedFile(f"p{i}.png", _png(), content_type="image/png"))
              for i in range(3)]
    Photo.objects.filter(pk=photos[2].pk).update(state=Photo.State.APPROVED)  # done: not waiting
    campus_entry_apply(actor=system, person=student, reason="实习")
    decided = campus_entry_apply(actor=system, person=staff_member, reason="回校")
    admin_user = make_operator(institution, None, "uni-admin")
    campus_entry_decide(actor=Actor.by_user(admin_user), approval=decided, approve=True)
    page = desktop
    session_login(page, live_server.url, admin_user)
    page.goto(f"{live_server.url}/backoffice/")
    work = page.locator("#work-waiting")
    assert work.is_visible()
    assert page.locator("#work-photos").get_attribute("data-count") == "2"
    assert page.locator("#work-campus_entry").get_attribute("data-count") == "1"
    assert page.locator("#work-applications").get_attribute("data-count") == "0"
    for key in ("applications", "photos", "appeals", "production", "collection", "handovers", "permits",
                "campus_entry"):
        assert page.locator(f"#work-{key} svg").count() == 1
    screenshot(page, "backoffice-17-dashboard-zh")
    page.click("#work-photos")
    page.wait_for_url("**/backoffice/cards/photo/?state__exact=pending")
    assert page.locator("#result_list tbody tr").count() == 2
    screenshot(page, "backoffice-17-dashboard-photos-list-zh")
    page.goto(f"{live_server.url}/backoffice/")
    page.click("#work-campus_entry")
    page.wait_for_url("**/backoffice/access/campusentryapproval/?state__exact=requested")
    assert page.locator("#result_list tbody tr").count() == 1
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(f"{live_server.url}/backoffice/")
    assert "Work waiting" in page.locator("#work-title").inner_text()
    screenshot(page, "backoffice-17-dashboard-en")


def test_dashboard_counts_only_the_operators_institution_and_permissions(institution, other_institution,
                                                                         student, make_operator):
    from django.test import RequestFactory

    from campuscard.access.services import campus_entry_apply
    from campuscard.backoffice.dashboard import work_waiting

    campus_entry_apply(actor=Actor.system("test"), person=student)

    def work(user):
        request = RequestFactory().get("/backoffice/")
        request.user = user
        return {row["key"]: row["count"] for row in work_waiting(request)}

    mine = work(make_operator(institution, "card_center_operator"))
    assert mine["campus_entry"] == 1 and "permits" not in mine
    assert work(make_operator(other_institution, "card_center_operator"))["campus_entry"] == 0
    zones = work(make_operator(institution, "zone_manager"))
    assert "permits" in zones and "photos" not in zones and "campus_entry" not in zones
