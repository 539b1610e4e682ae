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
from tests.helpers import qr_texts

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
    assert "Main Campus" in page.locator("#home-hero").inner_text()
    screenshot(page, "portal-17-home-en")


def test_every_registered_service_is_reachable(client, holder, student, card):
    client.force_login(holder)
    home = client.get("/").content.decode()
    for service in SERVICES:
        if service.visible(student):
            assert f'id="tile-{service.key}"' in home
            assert client.get(service.url.split("#")[0]).status_code == 200, service.key
    assert "/api/v1/docs" not in home
    assert 'id="tile-apply"' not in home  # a holder with a card and no open application: not a service they use


def test_home_without_a_card_leads_to_the_application(live_server, phone, screenshot, student):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    login(phone, live_server.url, student.number)
    assert phone.locator("#home-pay-code").count() == 0
    assert phone.locator("#home-no-card").is_visible()
    assert phone.locator("#tile-apply").is_visible()
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


# --- item 11: the smaller things ----------------------------------------------------------------------------


def test_wallet_labels_are_readable(live_server, phone, screenshot, holder, student):
    """The labels on the blue balance card pass WCAG AA contrast (axe-core's color-contrast rule)."""
    from axe_playwright_python.sync_playwright import Axe

    recharge_cash(channel="window", person=student, amount=5000, key="labels")
    login(phone, live_server.url, student.number)
    for path, region in (("/wallet/", ".balance"), ("/", "#home-hero")):
        phone.goto(f"{live_server.url}{path}")
        results = Axe().run(phone, context=region, options={"runOnly": ["color-contrast"]})
        assert results.response["violations"] == [], results.generate_report()
    phone.goto(f"{live_server.url}/wallet/")
    # axe cannot judge text on a gradient (it reports it as "incomplete"): the label colours are checked here,
    # near-white on the card's darkest-to-lightest blue (#0a4f96 … #1463b4) is ≥ 5.9:1
    colours = phone.locator(".balance small, .balance .muted").evaluate_all(
        "nodes => nodes.map(n => getComputedStyle(n).color)")
    assert len(colours) >= 4 and all(colour == "rgb(242, 247, 253)" for colour in colours), colours
    screenshot(phone, "portal-17-wallet-labels-zh")
    phone.click("button[data-lang=en]")
    phone.wait_for_selector("#available")
    screenshot(phone, "portal-17-wallet-labels-en")


def test_offline_codes_count_what_works_and_lead_back_to_the_online_code(live_server, phone, screenshot, holder,
                                                                          student, card):
    from campuscard.cards import codes

    page = phone
    login(page, live_server.url, student.number)
    page.click("#home-pay-code")
    page.wait_for_selector("#live-code svg")
    page.wait_for_function("() => document.getElementById('offline-count').textContent === '15'")
    assert page.locator("#offline-until").is_visible()  # how long they work
    screenshot(page, "portal-17-offline-counter-zh")
    page.click("#show-offline")
    assert page.locator("#offline-code .qr svg").is_visible() and not page.locator("#online-code").is_visible()
    shot = screenshot(page, "portal-17-offline-code-zh")
    [decoded] = qr_texts(shot)
    assert codes.code_accept(institution_id=card.institution_id, code=decoded).offline
    assert page.evaluate("document.activeElement.id") == "back-online"
    page.click("#back-online")
    page.wait_for_selector("#live-code svg")
    assert not page.locator("#offline-code").is_visible() and page.locator("#online-code").is_visible()
    assert page.locator("#offline-count").inner_text() == "14"  # the one shown is gone: it works once
    screenshot(page, "portal-17-back-online-zh")
    # a batch past its time counts nothing: the page drops it and fetches a new batch
    page.evaluate(f"""() => {{ const key = 'cc-offline-{card.number}'; const batch = JSON.parse(localStorage.getItem(key));
                     batch.expires = Date.now() - 1000; localStorage.setItem(key, JSON.stringify(batch)); }}""")
    page.reload()
    page.wait_for_function("() => document.getElementById('offline-count').textContent === '15'")
    page.click("button[data-lang=en]")
    page.wait_for_selector("#show-offline")
    page.click("#show-offline")
    assert "Back to the online code" in page.locator("#back-online").inner_text()
    screenshot(page, "portal-17-offline-code-en")


def test_visitor_pass_can_be_shared(live_server, browser, screenshot, holder, student, institution):
    import datetime as dt

    from campuscard.access.models import Zone
    from campuscard.access.services import visitor_pass_create
    from campuscard.core import clock

    gate = Zone.objects.create(institution=institution, campus=student.campus, code="south-gate", name="南门",
                               level=Zone.Level.CAMPUS_GATE)
    start = clock.now() + dt.timedelta(minutes=5)
    visitor_pass, code = visitor_pass_create(actor=Actor.system("t"), host=student, visitor_name="王访客",
                                             visitor_phone="13800000000", zones=[gate], valid_from=start,
                                             valid_to=start + dt.timedelta(hours=2))
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        login(page, live_server.url, student.number)
        page.goto(f"{live_server.url}/access/visitors/{visitor_pass.pk}/")
        page.click("#visitor-copy")
        page.wait_for_function("() => document.getElementById('visitor-share-status').textContent !== ''")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "王访客" in copied and "南门" in copied
        screenshot(page, "portal-17-visitor-share-zh")
        with page.expect_download() as download:
            page.click("#visitor-save")
        path = download.value.path()
        assert download.value.suggested_filename == f"visitor-pass-{visitor_pass.pk}.png"
        assert qr_texts(path) == [code]
        page.click("button[data-lang=en]")
        page.wait_for_selector("#visitor-share")
        page.click("#visitor-share")  # no share sheet in a headless browser: copies and saves instead
        page.wait_for_function("() => document.getElementById('visitor-share-status').textContent.includes('Copied')")
        assert "Visitor pass for 王访客" in page.evaluate("navigator.clipboard.readText()")
        screenshot(page, "portal-17-visitor-share-en")
    finally:
        context.close()


def test_canteen_today_is_never_below_the_last_ten_minutes(live_server, phone, screenshot, holder, student, card,
                                                           institution):
    import datetime as dt
    import uuid

    from campuscard.cards.services import nfc_bind
    from campuscard.core import clock
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.payments import pos
    from campuscard.payments.models import Terminal

    canteen = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="xueyuan", name="学苑餐厅",
                                name_en="Xueyuan Canteen", category="canteen")
    device, _ = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS,
                                code="pos-late", name="late")
    terminal = Terminal.objects.create(device=device, merchant=canteen)
    nfc_bind(actor=Actor.system("t"), card=card, uid="04:AA:BB:CD")
    recharge_cash(channel="window", person=student, amount=5000, key="late")
    zone = clock.zone(institution.time_zone)
    tomorrow = clock.now().astimezone(zone).date() + dt.timedelta(days=1)  # both payments after the card's issue
    night = dt.datetime.combine(tomorrow, dt.time(22, 35), tzinfo=zone)
    for moment in (night.replace(hour=5, minute=40), night.replace(minute=31)):  # before 06:00, after 22:00
        with clock.frozen_at(moment):
            pos.payment_authorize(terminal=terminal, txn_id=uuid.uuid4().hex, amount=300, nfc_uid="04AABBCD")
    with clock.frozen_at(night):
        login(phone, live_server.url, student.number)
        phone.click("#tile-canteens")
        phone.wait_for_selector("#canteen-xueyuan")
        assert phone.locator("#canteen-xueyuan .now-count").inner_text() == "1"
        assert phone.locator("#canteen-xueyuan .today-count").inner_text() == "2"
        screenshot(phone, "portal-17-canteen-late-zh")
        phone.click("button[data-lang=en]")
        phone.wait_for_selector("#canteen-xueyuan .today-count")
        screenshot(phone, "portal-17-canteen-late-en")
