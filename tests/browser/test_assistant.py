"""The assistant and the service points on a phone (SUP-1, SUP-2): from the home, ask in Chinese (and report
the card lost from the answer, with the confirmation), switch to English and ask again, follow the answer's
source to its entry, ask something it does not know, follow the hand-off to the service points and find the
nearest one open at 21:30 on the drawn plan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campuscard.assistant import services
from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.models import Area, Building, ServicePoint
from campuscard.identity.services import holder_user_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
SHOTS = Path("/tmp/shots_assistant")
EVENING = dt.datetime(2026, 12, 7, 21, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday


def shot(page, name: str, screenshot) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def places(institution):
    institution.hotline, institution.hotline_hours = "0451-86413000", "08:30-21:00"
    institution.save()
    area = Area.objects.get(campus__institution=institution, code="area1")
    area.plan_x, area.plan_y, area.plan_w, area.plan_h = 4, 6, 92, 58
    area.save()
    library = Building.objects.create(area=area, code="library", name="图书馆", name_en="Library",
                                      kind=Building.Kind.LIBRARY, plan_x=70, plan_y=40)
    canteen = Building.objects.create(area=area, code="xueyuan", name="学苑餐厅", name_en="Xueyuan Restaurant",
                                      kind=Building.Kind.CANTEEN, plan_x=20, plan_y=20)
    ServicePoint.objects.create(area=area, building=library, code="desk-library", kind=ServicePoint.Kind.DESK,
                                name="图书馆一楼人工服务点", name_en="Library help desk", location="图书馆一楼",
                                location_en="Library, first floor", hours="08:30-21:00", closed_on_holidays=True,
                                phone="0451-86413000", does_loss=True, plan_x=70, plan_y=43)
    ServicePoint.objects.create(area=area, building=library, code="kiosk-library", kind=ServicePoint.Kind.KIOSK,
                                name="图书馆自助机", name_en="Library kiosk", location="图书馆一楼",
                                location_en="Library, first floor", hours="07:00-21:00", does_recharge=True,
                                does_loss=True, does_collection=True, does_replacement=True, plan_x=73, plan_y=40)
    ServicePoint.objects.create(area=area, building=canteen, code="kiosk-xueyuan", kind=ServicePoint.Kind.KIOSK,
                                name="学苑餐厅自助机", name_en="Xueyuan Restaurant kiosk", location="学苑餐厅一楼",
                                location_en="Xueyuan Restaurant, first floor", hours="24h", does_recharge=True,
                                does_loss=True, does_collection=True, does_replacement=True, plan_x=22, plan_y=22)
    services.knowledge_base_seed(institution=institution)
    return library


def test_ask_in_both_languages_follow_the_source_find_the_nearest_open_point(live_server, phone, desktop, screenshot,
                                                                              places, student, card, make_operator):
    base = live_server.url
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    phone.goto(f"{base}/login/")
    phone.select_option("select[name=institution]", "uni")
    phone.fill("input[name=number]", student.number)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url(f"{base}/")
    phone.click("#tile-assistant")
    phone.wait_for_url(f"{base}/assistant/")

    # Chinese: the answer cites its entry and offers the loss report, which needs the box ticked
    phone.fill("#assistant-question", "卡丢了怎么挂失")
    phone.click("#assistant-send")
    answer = phone.locator('[data-role="answer"]').last
    answer.wait_for()
    assert answer.get_attribute("data-confident") == "1"
    assert "挂失" in answer.locator('[data-testid="assistant-source"]').inner_text()
    answer.locator('[data-testid="assistant-confirm"]').check()
    answer.locator('button[data-intent="report_lost"]').click()
    phone.locator("#assistant-reported").wait_for()
    card.refresh_from_db()
    assert card.state == Card.State.LOST
    shot(phone, "assistant-zh", screenshot)

    # English: the answer and its source page in English
    phone.click('button[data-lang="en"]')
    phone.fill("#assistant-question", "How can I put money on my card?")
    phone.click("#assistant-send")
    phone.locator('[data-role="answer"]').nth(1).wait_for()
    source = phone.locator('[data-testid="assistant-source"]').last
    assert "top up" in source.inner_text()
    shot(phone, "assistant-en", screenshot)
    source.click()
    phone.wait_for_url("**/help/recharge/?lang=en")
    assert "cash at a campus kiosk" in phone.locator("#help-entry").inner_text()
    shot(phone, "assistant-source-entry", screenshot)

    # something it does not know, at 21:30: it says so and hands over; the nearest point open is found
    with clock.frozen_at(EVENING):
        phone.goto(f"{base}/assistant/")
        phone.fill("#assistant-question", "Which bank gives students the best savings rate?")
        phone.click("#assistant-send")
        unsure = phone.locator('[data-role="answer"][data-confident="0"]').last
        unsure.wait_for()
        assert "Library help desk" in unsure.inner_text() and "closed now" in unsure.inner_text()
        shot(phone, "assistant-unsure", screenshot)
        unsure.locator('[data-testid="assistant-handoff"] a').click()
        phone.wait_for_url("**/service-points/")
        phone.select_option("#near-select", str(places.pk))
        phone.click("#near-submit")
        nearest = phone.locator('[data-testid="nearest-name"]')
        nearest.wait_for()
        # the library's own kiosk and desk closed at 21:00: the restaurant's 24-hour kiosk is the nearest open
        assert nearest.get_attribute("data-code") == "kiosk-xueyuan"
        assert phone.locator('[data-point="desk-library"]').get_attribute("data-open") == "0"
        shot(phone, "service-points-nearest", screenshot)

    # the Card Center sees the question it was unsure about, to improve the knowledge base
    make_operator(places.area.campus.institution, "card_center_operator", "cc-1")
    desktop.goto(f"{base}/backoffice/login/")
    desktop.fill("input[name=username]", "cc-1")
    desktop.fill("input[name=password]", "Operator-pass-1")
    desktop.click("button[type=submit]")
    desktop.goto(f"{base}/backoffice/assistant/question/?to_improve=yes")
    assert "best savings rate" in desktop.locator("#result_list").inner_text()
    assert "How can I put money" not in desktop.locator("#result_list").inner_text()
    shot(desktop, "backoffice-questions-to-improve", screenshot)
