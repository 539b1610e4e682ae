"""Issue #17 in a real browser, on a desktop (the back office) and a phone (the holder's messages):

* item 5 — the operator's one person page: every card event of a busy day with who did it, the wallet in
  readable kinds, the access entries; reached from the person search and from the card page;
* item 8 — the admin theme's own words in Chinese, stored notifications shown in the reader's language, and
  the permit page's weekly slots as weekday names and times instead of JSON."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext

from campuscard.access import services as access
from campuscard.access.models import LabPermit
from campuscard.backoffice.person_selectors import ACTION_LABELS
from campuscard.cards import services as cards
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.selectors import KIND_LABELS
from campuscard.payments.services import recharge_cash
from tests.access.conftest import _forget_access_caches, gate, holder, local, place  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return gettext(text)


def backoffice_login(page, base, username):
    page.goto(f"{base}/backoffice/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def english(page, base):
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])


def test_person_page_shows_the_operators_day_with_who_did_it(live_server, desktop, screenshot,
                                                             institution, place, gate, make_operator):  # noqa: F811
    base = live_server.url
    window = make_operator(institution, "card_center_operator", "window-op")
    make_operator(institution, "institution_admin", "card-office-head")
    person, card, uid = holder(institution)
    person.name = "张晓雪"
    person.save(update_fields=["name"])
    recharge_cash(channel="window", person=person, amount=24_050, key="seed", operator=window)
    with clock.frozen_at(local(2026, 11, 30, 8, 5)):
        access.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid)
    by = Actor.by_user(window)
    cards.card_report_lost(actor=by, card=card, channel="window")
    cards.card_unreport(actor=by, card=card, channel="window")
    cards.card_report_lost(actor=by, card=card, channel="window")
    new = cards.card_replace(actor=by, card=card, physical=False, channel="window")

    page = desktop
    backoffice_login(page, base, "card-office-head")
    # from the person search to the page
    page.goto(f"{base}/backoffice/identity/person/?q={person.number}")
    page.click(f'[data-testid="person-page-{person.pk}"]')
    page.wait_for_selector("#person-page")
    timeline = page.locator(f'table.card-timeline[data-card="{card.number}"] [data-testid="card-event"]')
    events = timeline.all_inner_texts()
    for action in ("card_issued", "card_reported_lost", "card_unreported", "card_replaced", "balance_move_started"):
        assert any(zh(str(ACTION_LABELS[action])) in row for row in events), action
    assert sum("window-op" in row for row in events) >= 5  # who did it, on every window action
    kinds = page.locator('[data-testid="wallet-kind"]').all_inner_texts()
    assert zh(str(KIND_LABELS["balance_move"])) in kinds and zh(str(KIND_LABELS["recharge_window"])) in kinds
    assert not {"balance_move", "recharge_window", "fee"} & set(kinds)  # no raw codes
    assert page.locator('[data-testid="access-row"]').count() == 1
    assert page.locator(f'table.card-timeline[data-card="{new.number}"]').count() == 1
    screenshot(page, "backoffice-person-page-zh")

    # from the card's own page
    page.goto(f"{base}/backoffice/cards/card/{new.pk}/change/")
    page.click('[data-testid="person-page-link"]')
    page.wait_for_selector("#person-page")
    english(page, base)
    page.reload()
    events = page.locator(f'table.card-timeline[data-card="{card.number}"] [data-testid="card-event"]').all_inner_texts()
    assert any("loss report taken back" in row and "window-op" in row for row in events)
    assert "Balance moved" in page.locator('[data-testid="wallet-kind"]').all_inner_texts()
    screenshot(page, "backoffice-person-page-en")


def test_the_back_office_theme_speaks_chinese(live_server, desktop, screenshot, institution, student,
                                              card, make_operator):
    make_operator(institution, "card_center_operator", "window-op")
    page = desktop
    backoffice_login(page, live_server.url, "window-op")
    page.goto(f"{live_server.url}/backoffice/identity/person/?q=nobody-has-this-number")
    html = page.content()
    for msgid in ("Type to search", "Filters", "No results found"):
        assert zh(msgid) != msgid and zh(msgid) in html, msgid
    for english_text in ('placeholder="Type to search"', ">Filters<", "No results found"):
        assert english_text not in html
    screenshot(page, "backoffice-theme-no-results-zh")
    page.goto(f"{live_server.url}/backoffice/cards/card/")  # a list with actions
    assert page.locator("select[name=action]").count() == 1
    html = page.content()
    assert zh("Select action") != "Select action" and zh("Select action") in html and "Select action" not in html
    screenshot(page, "backoffice-theme-list-zh")
    english(page, live_server.url)  # and the English back office keeps the theme's own words
    page.goto(f"{live_server.url}/backoffice/identity/person/?q=nobody-has-this-number")
    assert 'placeholder="Type to search"' in page.content() and "No results found" in page.content()
    screenshot(page, "backoffice-theme-no-results-en")


def test_a_notification_reads_in_the_readers_language(live_server, phone, screenshot, student, card):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.language = "en"  # written while the holder read the portal in English …
    user.save()
    cards.card_report_lost(actor=Actor.system("t"), card=card, channel="window")
    user.language = "zh-hans"  # … read after switching to Chinese
    user.save()
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/notifications/")
    text = page.locator(".message").first.inner_text()
    assert zh("Card %(number)s reported lost") % {"number": card.number} in text
    assert "reported lost" not in text
    screenshot(page, "portal-notification-zh")
    english(page, live_server.url)
    page.reload()
    assert f"Card {card.number} reported lost" in page.locator(".message").first.inner_text()
    screenshot(page, "portal-notification-en")


def test_permit_slots_read_as_weekdays_and_times(live_server, desktop, screenshot, institution, place,  # noqa: F811
                                                 make_operator):
    make_operator(institution, "institution_admin", "card-office-head")
    person, _card, _uid = holder(institution)
    lab = place["zones"]["lab"]
    permit = LabPermit.objects.create(institution=institution, person=person, zone=lab, purpose="毕业设计",
                                      weekly_slots=[{"weekday": 2, "start": "08:00", "end": "10:00"},
                                                    {"weekday": 0, "start": "14:00", "end": "17:00"}],
                                      dated_slots=[{"date": "2026-12-06", "start": "09:00", "end": "12:00"}],
                                      valid_from=local(2026, 12, 1, 0, 0).date(), valid_to=local(2027, 1, 15, 0, 0).date(),
                                      requested_at=clock.now())
    page = desktop
    backoffice_login(page, live_server.url, "card-office-head")
    page.goto(f"{live_server.url}/backoffice/access/labpermit/{permit.pk}/change/")
    weekly = page.locator('[data-testid="weekly-slots"] li').all_inner_texts()
    with translation.override("zh-hans"):
        monday, wednesday, sunday = str(WEEKDAYS[0]), str(WEEKDAYS[2]), str(WEEKDAYS[6])
    assert weekly == [f"{monday} 14:00–17:00", f"{wednesday} 08:00–10:00"]  # Monday first, not "weekday": 0
    assert page.locator('[data-testid="dated-slots"] li').all_inner_texts() == [f"2026-12-06 {sunday} 09:00–12:00"]
    assert '"weekday"' not in page.content()
    screenshot(page, "backoffice-permit-slots-zh")
    english(page, live_server.url)
    page.reload()
    assert page.locator('[data-testid="weekly-slots"] li').first.inner_text() == "Monday 14:00–17:00"
    screenshot(page, "backoffice-permit-slots-en")
