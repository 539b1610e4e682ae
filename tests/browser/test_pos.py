"""The browser POS and the holder's side of payments in a real browser (PAY-1 … PAY-4, issue 5 items 5–6):
a cashier enrols a tablet, keys amounts, scans pay codes (keyboard wedge and camera), asks for the
payment password, is refused, refunds; the holder appeals from the phone and sees how busy the canteens are.

The server's clock is frozen (for every thread) at noon today so each sale gets a fresh one-time QR code.
"""

import datetime as dt
import uuid

import pytest

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.payments import pos
from campuscard.payments.models import Appeal, Payment, Terminal
from campuscard.payments.services import recharge_cash

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
PAY_PASSWORD = "135790"


def noon(days: int = 0) -> dt.datetime:
    zone = clock.zone("Asia/Shanghai")
    day = clock.now().astimezone(zone).date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=zone)


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    recharge_cash(channel="window", person=student, amount=50_000, key="seed")
    return student


@pytest.fixture
def counter(institution):
    """A canteen window with its POS terminal: (terminal, device secret)."""
    canteen = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="xueyuan", name="学苑餐厅",
                                name_en="Xueyuan Canteen", category="canteen")
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-3",
                                     name="3号窗口收银机")
    return Terminal.objects.create(device=device, merchant=canteen, counter="3号窗口"), secret


@pytest.fixture
def tablet(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def enrol(page, base, terminal, secret):
    page.goto(f"{base}/devices/pos/")
    page.wait_for_url("**/devices/enrol/pos/")
    page.fill("input[name=code]", terminal.device.code)
    page.fill("input[name=secret]", secret)
    page.click("#enrol-form button")
    page.wait_for_url(f"{base}/devices/pos/")
    page.wait_for_selector("#keypad")


def key_amount(page, text: str):
    page.click('#keypad button[data-key="clear"]')
    for key in text:
        page.click(f'#keypad button[data-key="{key}"]')


def scan(page, code: str):
    """A keyboard-wedge scanner types into whatever has the focus: it must be the scan field."""
    # the page hands the focus back after each key press; give it the moment a scanner would
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'scan'", timeout=2_000)
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def code_of(card) -> str:
    return codes.current_code(qr_credential(card))


def test_pos_sale_password_refusals_refund_and_retry(live_server, tablet, screenshot, holder, card, counter):
    terminal, secret = counter
    page = tablet
    base = live_server.url
    with clock.frozen_at(noon()):
        payment_password_set(user=holder.user, login_password=PASSWORD, new_payment_password=PAY_PASSWORD)
        page.goto(f"{base}/devices/pos/")
        screenshot(page, "pos-enrol-zh")
        enrol(page, base, terminal, secret)
        key_amount(page, "12.50")
        assert page.locator("#amount").inner_text() == "12.50"
        screenshot(page, "pos-amount-zh")
        scan(page, code_of(card))
        receipt = page.wait_for_selector("#pos-receipt")
        text = receipt.inner_text()
        assert "¥12.50" in text and "张**" in text and f"****{card.number[-4:]}" in text and "¥487.50" in text
        assert page.locator("#amount").inner_text() == "0.00"  # ready for the next sale
        page.wait_for_selector("#total-count >> text=1")
        screenshot(page, "pos-paid-zh")

    with clock.frozen_at(noon() + dt.timedelta(seconds=35)):  # the next 30-second code
        key_amount(page, "60")
        scan(page, code_of(card))
        page.wait_for_selector("#pos-password")
        assert "¥50.00" in page.locator("#password-message").inner_text()
        screenshot(page, "pos-password-zh")
        for digit in "000000":  # the holder mistypes on the keypad
            page.click(f'#keypad button[data-key="{digit}"]')
        page.click("#password-ok")
        page.wait_for_selector("#password-message.reason")
        assert "4" in page.locator("#password-message").inner_text()
        page.fill("#pos-password", PAY_PASSWORD)
        page.click("#password-ok")
        page.wait_for_selector("#pos-receipt")
        assert "¥60.00" in page.locator("#pos-receipt").inner_text()
        assert Payment.objects.filter(person=holder).count() == 2

    with clock.frozen_at(noon() + dt.timedelta(seconds=70)):
        pos.daily_limit_set(actor=Actor.system("t"), person=holder, limit=8_000)  # ¥72.50 spent: ¥7.50 left
        key_amount(page, "10")
        scan(page, code_of(card))
        page.wait_for_selector("[data-outcome=refused]")
        assert "¥7.50" in page.locator("#refusal").inner_text()
        screenshot(page, "pos-refused-limit-zh")

    with clock.frozen_at(noon() + dt.timedelta(seconds=100)):
        page.click("#pos-language")  # the cashier switches the page to English
        page.wait_for_selector("#keypad")
        key_amount(page, "5")
        scan(page, code_of(card))
        page.wait_for_selector("#pos-receipt")
        assert "¥5.00 paid" in page.locator("#pos-receipt").inner_text()
        screenshot(page, "pos-paid-en")

        first = Payment.objects.get(person=holder, amount=1_250)
        row = page.locator(f"#today-{first.txn_id}")
        row.locator("input[name=amount]").fill("2.50")
        row.locator("button").click()
        page.wait_for_selector("#today-notice")
        assert "Refunded ¥2.50" in page.locator("#today-notice").inner_text()
        assert Payment.objects.get(pk=first.pk).refunded == 250
        page.locator(f"#today-{first.txn_id} button").click()  # the rest
        page.wait_for_selector(f"#today-{first.txn_id} .refunded >> text=¥12.50")
        assert Payment.objects.get(pk=first.pk).refunded == 1_250
        assert page.locator("#total-refunds").inner_text() == "¥12.50"
        screenshot(page, "pos-refund-en")

    with clock.frozen_at(noon() + dt.timedelta(seconds=130)):
        # the first answer is lost on the way back: the page retries with the same transaction id
        sent = []

        def lose_first_answer(route):
            sent.append(route.request.post_data)
            if len(sent) == 1:
                route.fetch()  # the server authorises the payment …
                route.abort("connectionreset")  # … but the answer never reaches the tablet
            else:
                route.continue_()

        pos.daily_limit_set(actor=Actor.system("t"), person=holder, limit=20_000)
        page.route("**/devices/pos/pay/", lose_first_answer)
        key_amount(page, "3")
        scan(page, code_of(card))
        page.wait_for_selector("#pos-receipt")
        page.unroute("**/devices/pos/pay/")
        assert len(sent) == 2 and sent[0] == sent[1]  # same txn id, same code, same amount
        assert Payment.objects.filter(person=holder, amount=300).count() == 1

    with clock.frozen_at(noon() + dt.timedelta(seconds=160)):
        card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
        key_amount(page, "1")
        scan(page, code_of(card))
        page.wait_for_selector("[data-outcome=refused]")
        assert page.locator("[data-outcome=refused]").get_attribute("data-code") == "card_lost"
        screenshot(page, "pos-refused-lost-en")
    assert Payment.objects.filter(person=holder).count() == 4


def test_pos_reads_the_code_with_the_camera(live_server, browser, screenshot, holder, card, counter):
    """Where the browser has a BarcodeDetector (Android, ChromeOS, macOS) the camera reads the code.
    Debian's chromium has none: a stand-in detector and a canvas camera play their parts."""
    terminal, secret = counter
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_init_script("""
      window.BarcodeDetector = class {
        static async getSupportedFormats() { return ["qr_code"]; }
        async detect() { return window.__shownCode ? [{ rawValue: window.__shownCode, format: "qr_code" }] : []; }
      };
      navigator.mediaDevices.getUserMedia = async () => {
        const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 240 });
        const paint = canvas.getContext("2d"); paint.fillStyle = "#456"; paint.fillRect(0, 0, 320, 240);
        return canvas.captureStream(5);
      };
    """)
    page = context.new_page()
    page.set_default_timeout(10_000)
    with clock.frozen_at(noon()):
        enrol(page, live_server.url, terminal, secret)
        page.click("#camera-button")
        page.wait_for_selector("#camera:not([hidden])")
        key_amount(page, "8.80")
        page.evaluate("code => { window.__shownCode = code; }", code_of(card))
        page.wait_for_selector("#pos-receipt")
        assert "¥8.80" in page.locator("#pos-receipt").inner_text()
        screenshot(page, "pos-camera-zh")
        page.wait_for_timeout(600)  # the code stays in view: it is not sent twice
    assert Payment.objects.filter(person=holder).count() == 1
    context.close()


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_holder_appeals_a_payment_from_the_phone(live_server, phone, screenshot, holder, card, counter,
                                                 make_operator, institution):
    terminal, _secret = counter
    with clock.frozen_at(noon(-1)):
        pos.payment_authorize(terminal=terminal, txn_id=str(uuid.uuid4()), amount=1_600, code=code_of(card))
    with clock.frozen_at(noon(-1) + dt.timedelta(minutes=1)):
        wrong = pos.payment_authorize(terminal=terminal, txn_id=str(uuid.uuid4()), amount=1_600, code=code_of(card))
    with clock.frozen_at(noon(-5)):
        old = pos.payment_authorize(terminal=terminal, txn_id=str(uuid.uuid4()), amount=900, code=code_of(card))
    page = phone
    login(page, live_server.url, holder.number)
    screenshot(page, "portal-payments-home-zh")
    page.click("#tile-payments")
    page.wait_for_selector(f"#appeal-{wrong.payment_id}")
    assert not page.locator(f"#appeal-{old.payment_id}").count()  # five days old: no appeal any more
    screenshot(page, "portal-payments-zh")
    page.click(f"#appeal-{wrong.payment_id}")
    page.wait_for_selector("#appeal-form")
    page.click("#appeal-form .chip >> nth=0")
    assert page.locator("#appeal-reason").input_value()
    screenshot(page, "portal-payments-appeal-zh")
    page.click("#appeal-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/payments/")
    page.wait_for_selector(f'#payment-{wrong.payment_id}[data-appeal="open"]')
    screenshot(page, "portal-payments-appealed-zh")
    appeal = Appeal.objects.get(payment_id=wrong.payment_id)
    pos.appeal_decide(actor=Actor.by_user(make_operator(institution, "card_center_operator")), appeal=appeal, accept=True)
    page.click("button[data-lang=en]")
    page.wait_for_selector(f'#payment-{wrong.payment_id}[data-appeal="accepted"]')
    assert "refunded ¥16.00" in page.locator(f"#payment-{wrong.payment_id}").inner_text()
    page.click(f"#payment-{wrong.payment_id} summary")
    screenshot(page, "portal-payments-accepted-en")

    page.click("#limits-link")
    page.wait_for_selector("#limit-form")
    page.fill("input[name=daily_limit]", "1200")
    page.click("#limit-form button[type=submit]")
    page.wait_for_selector("#limit-form .error")
    assert "¥1,000.00" in page.locator("#limit-form .error").first.inner_text()
    page.fill("input[name=daily_limit]", "150")
    page.click("#limit-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.locator("#limit").inner_text() == "¥150.00"
    screenshot(page, "portal-payments-limits-en")


def test_canteens_page_quietest_first(live_server, phone, screenshot, holder, card, counter, institution):
    """Synthetic payments over the last four weeks and today; the page is read at 12:10."""
    busy_terminal, _secret = counter
    quiet = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="taoli", name="桃李餐厅",
                              name_en="Taoli Canteen", category="canteen")
    device, _ = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-t", name="t")
    quiet_terminal = Terminal.objects.create(device=device, merchant=quiet)
    from campuscard.cards.services import nfc_bind

    nfc_bind(actor=Actor.system("t"), card=card, uid="04:AA:BB:CC")
    now = noon() + dt.timedelta(minutes=10)
    working = {True: [], False: []}
    from campuscard.cards.workdays import is_working_day

    for back in range(1, 29):
        day = now - dt.timedelta(days=back)
        working[is_working_day("CN", day.date())].append(day)
    same = working[is_working_day("CN", now.date())][-3:]

    def tap(terminal, moment):
        with clock.frozen_at(moment):
            pos.payment_authorize(terminal=terminal, txn_id=uuid.uuid4().hex, amount=100, nfc_uid="04AABBCC")

    def times(day, first: str, last: str, every_s: int):
        start, end = (dt.datetime.combine(day.date(), dt.time.fromisoformat(t), tzinfo=day.tzinfo) for t in (first, last))
        return [start + dt.timedelta(seconds=s) for s in range(0, int((end - start).total_seconds()) + 1, every_s)]

    for day in same:  # usual days: breakfast and lunch at both, more at Xueyuan
        for moment in times(day, "07:10", "08:20", 600) + times(day, "11:20", "13:00", 300):
            tap(busy_terminal, moment)
        for moment in times(day, "07:30", "08:00", 600) + times(day, "11:30", "12:20", 300):
            tap(quiet_terminal, moment + dt.timedelta(seconds=20))
    today = now.replace(hour=0, minute=0)
    for moment in times(today, "07:10", "08:20", 600) + times(today, "11:20", "11:58", 120) + \
            times(today, "12:00:30", "12:09:30", 60):  # a rush now at Xueyuan
        tap(busy_terminal, moment)
    for moment in times(today, "07:30", "08:00", 600) + times(today, "11:30", "11:50", 600):  # nobody since
        tap(quiet_terminal, moment)
    page = phone
    with clock.frozen_at(now):
        login(page, live_server.url, holder.number)
        page.click("#tile-canteens")
        page.wait_for_selector(".canteen")
        levels = page.locator(".canteen").evaluate_all("nodes => nodes.map(n => [n.id, n.dataset.level])")
        assert levels == [["canteen-taoli", "quiet"], ["canteen-xueyuan", "very_busy"]]
        screenshot(page, "portal-canteens-zh")
        page.click("button[data-lang=en]")
        page.wait_for_selector(".canteen >> text=Taoli Canteen")
        screenshot(page, "portal-canteens-en")


def test_the_phone_sees_its_code_used_shows_the_payment_then_the_next_code(
        live_server, browser, tablet, screenshot, holder, card, counter):
    """#17 item 3: the cashier types the digits under the QR; the phone learns the code was used, shows the
    payment as the big wallets do, then a new code (a reload used to show the used one again)."""
    terminal, secret = counter
    base = live_server.url
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.set_default_timeout(10_000)
    phone.goto(f"{base}/login/")
    phone.select_option("select[name=institution]", "uni")
    phone.fill("input[name=number]", holder.number)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url(f"{base}/")
    phone.goto(f"{base}/cards/{card.number}/code/")
    shown = phone.locator("#live-code").get_attribute("data-code")
    typed = phone.locator("#live-code .digits").inner_text()
    assert typed.replace(" ", "").startswith("8") and len(typed.replace(" ", "")) == 18
    screenshot(phone, "portal-pay-code-digits-zh")

    enrol(tablet, base, terminal, secret)
    key_amount(tablet, "12.5")
    scan(tablet, typed.replace(" ", ""))
    tablet.wait_for_selector('.pos-result[data-outcome="paid"]')

    phone.wait_for_selector("#paid:not([hidden])")
    assert phone.locator("#paid .paid-amount").inner_text() == "¥12.50"
    assert phone.locator("#paid .paid-merchant").inner_text() == "学苑餐厅"
    assert phone.locator("#paid .paid-balance").inner_text() == "¥487.50"
    screenshot(phone, "portal-pay-code-paid-zh")
    phone.click("#next-code")
    phone.wait_for_function(f"() => document.getElementById('live-code')?.dataset.code !== {shown!r}")
    fresh = phone.locator("#live-code").get_attribute("data-code")
    assert fresh != shown
    phone.reload()
    assert phone.locator("#live-code").get_attribute("data-code") not in (shown, None)
    assert Payment.objects.filter(card=card).count() == 1
    phone.context.close()
