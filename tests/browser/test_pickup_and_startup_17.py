"""#17 items 7, 9 and 10: one pickup place per card, honoured by the kiosk; the newcomer's start-up on another
port; a lost card holding less than the replacement fee is replaced all the same (cash at the window or the
kiosk, or the new card's first recharge). Phone viewport for the portal and the kiosk, desktop for the back
office."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campuscard.core import clock
from campuscard.core.money import yuan
from campuscard.payments.models import RechargeOrder
from campuscard.payments.services import recharge_cash

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots_ux_desk"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# --- item 9: order numbers in the institution's time zone ------------------------------------------------

@pytest.mark.django_db
def test_recharge_order_numbers_read_in_the_institutions_time_zone(student, card):
    """17:30 UTC is 01:30 the next day in Harbin (Asia/Shanghai): the number carries the local date and time."""
    with clock.frozen_at(dt.datetime(2026, 9, 1, 17, 30, 5, tzinfo=dt.UTC)):
        order = recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(10), key="tz-1")
    assert re.fullmatch(r"R20260902013005[0-9A-F]{8}", order.order_no), order.order_no


# --- item 9: `./dev up` on another port, the newcomer's path --------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")),
                    reason="the embedded default (SQLite) is what `up` starts: the SQLite run covers it once")
def test_up_on_another_port_credits_a_sandbox_recharge_and_keeps_the_logins_last(tmp_path, phone):
    """``PORT=<free> campuscard up`` (what ``./dev up`` runs) with no SITE_URL: the sandbox gateway's callback
    reaches this port, so the recharge is credited; the worker's output (demo e-mails) stays out of the
    terminal, whose last lines are the logins."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "DATABASE_URL", "REDIS_URL",
                                                            "DJANGO_SETTINGS_MODULE", "HUEY_IMMEDIATE")}
    env.update(PORT=str(port), CAMPUSCARD_DATA_DIR=str(tmp_path / "var"), WEB_WORKERS="1")
    terminal = tmp_path / "terminal.txt"
    with terminal.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "campuscard.cli", "up"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while "Press Ctrl+C to stop." not in terminal.read_text("utf-8", "replace"):
            assert up.poll() is None, terminal.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "campuscard up did not start"
            time.sleep(1)
        text = terminal.read_text("utf-8")
        base = f"http://127.0.0.1:{port}"
        assert f"Public URL          {base} " in text
        number, password = re.search(r"student \(first login: initial password\)\s+hdut\s+(\S+)\s+(\S+)",
                                     text).groups()

        page = phone
        page.goto(f"{base}/login/")
        page.select_option("select[name=institution]", "hdut")
        page.fill("input[name=number]", number)
        page.fill("input[name=password]", password)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/password/**")
        page.fill("input[name=old_password]", password)
        page.fill("input[name=new_password]", "Harbin-Snow-2026")
        page.fill("input[name=new_password_again]", "Harbin-Snow-2026")
        page.click("#password-form button[type=submit]")
        page.goto(f"{base}/wallet/recharge/")
        page.click("button.chip >> text=¥50")
        page.click("#recharge-form button[type=submit]")
        page.wait_for_url("**/sandbox-gateway/pay/**")
        page.click("#sandbox-pay")
        page.wait_for_url("**/wallet/recharge/R*/")
        page.wait_for_selector('[data-state="paid"]', timeout=30_000)  # the gateway's callback reached this port
        shot(page, "17-9-up-on-another-port-recharge-credited")

        worker_log = tmp_path / "var" / "worker.log"
        deadline = time.monotonic() + 60  # the worker sends what the demo and the recharge queued …
        while "Subject:" not in worker_log.read_text("utf-8", "replace") and time.monotonic() < deadline:
            time.sleep(1)
        assert "Subject:" in worker_log.read_text("utf-8", "replace")  # … into its log (console e-mail)
        after = terminal.read_text("utf-8")
        assert "Subject:" not in after and "huey" not in after, after[-3000:]  # not over the logins
        running = after[after.index("CampusCard is running."):]
        # the logins come last: after them only the note on initial passwords, then "Press Ctrl+C" (the web
        # server's own request log may follow as the browser uses it)
        block = running[running.index("Demo logins:"):running.index("Press Ctrl+C to stop.")].splitlines()[1:]
        assert all(line.startswith("  ") or not line.strip() for line in block), block
        assert number in running[running.index("Demo logins:"):]
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)


# --- items 7 and 10 in the browser -------------------------------------------------------------------------

@pytest.fixture
def world(student, card, institution, make_operator, settings, tmp_path):
    """The holder (logged-in password set), two kiosk sites and a window, a Card Center operator."""
    from campuscard.core.models import Area, ServicePoint
    from campuscard.identity.services import holder_user_ensure

    settings.MEDIA_ROOT = tmp_path / "media"
    user = holder_user_ensure(person=student)
    user.set_password("Snow-Campus-2026")
    user.must_change_password = False
    user.save()
    area = Area.objects.get(campus__institution=institution, code="area1")
    library = ServicePoint.objects.create(area=area, code="k-lib", kind="kiosk", name="图书馆自助机",
                                          location="图书馆一楼")
    canteen = ServicePoint.objects.create(area=area, code="k-can", kind="kiosk", name="学苑餐厅自助机",
                                          location="学苑餐厅一楼")
    window = ServicePoint.objects.create(area=area, code="w22", kind="window", name="卡务中心22号窗口",
                                         location="行政楼一楼")
    operator = make_operator(institution, "card_center_operator", username="desk-op")
    return {"library": library, "canteen": canteen, "window": window, "operator": operator}


def _holder_login(page, base, number):
    page.goto(f"{base}/login/")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", "Snow-Campus-2026")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def _operator_login(page, base):
    page.goto(f"{base}/backoffice/login/")
    page.fill("input[name=username]", "desk-op")
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=60_000)  # the dashboard is slow on a busy host


def _kiosk(page, base, institution, point, code):
    """Enrol this browser as the kiosk standing at ``point`` and identify the holder (ID + query password)."""
    from campuscard.core.actors import Actor
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from tests.conftest import ID_ALICE

    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.KIOSK,
                                     code=code, name=point.name, service_point=point)
    page.goto(f"{base}/devices/enrol/kiosk/")
    page.fill("input[name=code]", device.code)
    page.fill("input[name=secret]", secret)
    page.click("#enrol-form button")
    page.wait_for_url(f"{base}/devices/kiosk/")
    page.fill("input[name=id_number]", ID_ALICE)
    page.fill("input[name=query_password]", ID_ALICE[-6:])
    page.click("button.primary")
    page.wait_for_selector("#kiosk-done")
    return device, secret


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_one_pickup_place_everywhere_and_the_kiosk_elsewhere_refuses(live_server, phone, desktop, world, student,
                                                                      card, institution):
    """Item 7: the holder chooses the pickup place when replacing; the portal, the notification, the production
    queue and the kiosks all name it; a kiosk at another site refuses with a coded error naming the place, the
    chosen kiosk hands the card out."""
    from campuscard.cards.models import Card, Production
    from campuscard.cards.services import photo_review, photo_upload, production_advance
    from campuscard.core.actors import Actor
    from campuscard.support.models import Notification
    from tests.cards.conftest import fund, image_bytes, upload

    base = live_server.url
    operator = Actor.by_user(world["operator"])
    photo_review(actor=operator, photo=photo_upload(actor=operator, person=student, upload=upload(image_bytes())),
                 approve=True)
    fund(card, yuan(80))
    page = phone
    _holder_login(page, base, student.number)
    page.goto(f"{base}/cards/{card.number}/replace/")
    page.check("#form-physical")
    page.select_option("#collect-point", str(world["library"].pk))
    page.check("#confirm")
    shot(page, "17-7-portal-replace-choose-place-zh")
    page.click("#replace-form button[type=submit]")
    page.wait_for_url(f"{base}/cards/")
    new = Card.objects.get(replaces=card)
    production = Production.objects.get(card=new)
    where = "图书馆自助机 · 图书馆一楼"
    assert production.collect_point == world["library"] and production.collect_where == where
    for target in (Production.State.PRINTED, Production.State.AT_KIOSK):
        production = production_advance(actor=operator, production=production, target=target)
    page.goto(f"{base}/cards/")
    assert where in page.locator(f"#production-{new.number}").inner_text()
    shot(page, "17-7-portal-card-ready-at-zh")
    assert where in Notification.objects.filter(person=student, kind="card_ready").latest("pk").body
    page.goto(f"{base}/notifications/")
    assert where in page.content()

    office = desktop
    _operator_login(office, base)
    office.goto(f"{base}/backoffice/cards/production/")
    assert where in office.locator("#result_list").inner_text()
    shot(office, "17-7-backoffice-production-queue-zh")

    kiosk = phone.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        _kiosk(kiosk, base, institution, world["canteen"], "k-can-1")
        elsewhere = kiosk.locator(f"#kiosk-elsewhere-{new.number}")
        assert where in elsewhere.inner_text() and kiosk.locator("#kiosk-collect").count() == 0
        # a forged "collect" at the wrong kiosk: refused with its code, the place named, nothing handed out
        kiosk.evaluate("""number => { const f = document.querySelector('form[action$="/kiosk/action/"]');
            f.querySelector('[name=card]').value = number;
            const a = document.createElement('input'); a.type = 'hidden'; a.name = 'action'; a.value = 'collect';
            f.appendChild(a); f.submit(); }""", new.number)
        kiosk.wait_for_selector('[data-code="collect_elsewhere"]')
        assert where in kiosk.locator('[data-code="collect_elsewhere"]').inner_text()
        shot(kiosk, "17-7-kiosk-elsewhere-refuses-zh")
        assert Production.objects.get(pk=production.pk).state == Production.State.AT_KIOSK
    finally:
        kiosk.context.close()
    right = phone.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    try:
        _kiosk(right, base, institution, world["library"], "k-lib-1")
        right.click("#kiosk-collect")
        right.wait_for_selector(".flash.success")
        shot(right, "17-7-kiosk-right-site-hands-out-zh")
        assert Production.objects.get(pk=production.pk).state == Production.State.COLLECTED
    finally:
        right.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_lost_card_short_of_the_fee_is_replaced_fee_from_the_first_recharge(live_server, phone, world, student,
                                                                                card, settings):
    """Item 10 in the portal: ¥5 on a lost card, fee ¥20 — the confirm page says the fee comes from the new
    card's first recharge; the replacement goes through at once; the first recharge (sandbox) pays it."""
    from campuscard.cards.models import Card, ReplacementFee
    from campuscard.cards.services import card_report_lost
    from campuscard.core.actors import Actor
    from tests.cards.conftest import balance, fund

    settings.GATEWAY_SANDBOX_DELIVERY = "inprocess"
    fund(card, yuan(5))
    card_report_lost(actor=Actor.system("test"), card=card, channel="portal")
    base = live_server.url
    page = phone
    _holder_login(page, base, student.number)
    page.goto(f"{base}/cards/{card.number}/replace/")
    assert page.locator("#fee-paid").get_attribute("data-fee-paid") == "first_recharge"
    assert page.locator("#fee-later").is_visible() and page.locator("#moves-now").inner_text() == "¥5.00"
    shot(page, "17-10-portal-replace-fee-from-first-recharge-zh")
    page.click("#replace-form button[type=submit]")
    page.wait_for_url(f"{base}/cards/")
    new = Card.objects.get(replaces=card)
    assert page.locator(f"#fee-due-{new.number}").is_visible()
    shot(page, "17-10-portal-cards-fee-due-zh")
    page.goto(f"{base}/wallet/recharge/")
    page.click("button.chip >> text=¥50")
    page.click("#recharge-form button[type=submit]")
    page.wait_for_url("**/sandbox-gateway/pay/**")
    page.click("#sandbox-pay")
    page.wait_for_url("**/wallet/recharge/R*/")
    page.wait_for_selector('[data-state="paid"]')
    shot(page, "17-10-portal-first-recharge-pays-the-fee-zh")
    assert ReplacementFee.objects.get(old_card=card).state == "paid" and balance(new) == yuan(35)
    page.goto(f"{base}/cards/")
    assert page.locator(f"#fee-due-{new.number}").count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_fee_in_cash_at_the_window_and_at_a_kiosk(live_server, phone, desktop, world, student, card, institution):
    """Item 10 at the window (desktop back office: cash received) and at a kiosk (the acceptor's signed request,
    then the replacement on the kiosk's screen)."""
    import json

    from django.test import Client

    from campuscard.cards.models import Card, ReplacementFee
    from campuscard.cards.services import card_report_lost
    from campuscard.core.actors import Actor
    from campuscard.devices.signing import sign_headers
    from tests.cards.conftest import balance, fund

    fund(card, yuan(5))
    card_report_lost(actor=Actor.system("test"), card=card, channel="portal")
    base = live_server.url
    office = desktop
    _operator_login(office, base)
    office.goto(f"{base}/backoffice/cards/card/{card.pk}/change/")
    office.click("#window-replace-link")
    office.wait_for_selector("#simple-form")
    office.select_option("select[name=fee_payment]", "cash")
    shot(office, "17-10-window-replace-fee-in-cash-zh")
    office.click("#simple-form button[type=submit]")
    office.wait_for_url("**/backoffice/cards/card/*/change/")
    window_new = Card.objects.get(replaces=card)
    fee = ReplacementFee.objects.get(old_card=card)
    assert (fee.method, fee.state, balance(window_new)) == ("cash_window", "paid", yuan(5))

    # the kiosk: the new card is lost too (¥5 on it); the acceptor takes the ¥20, then the screen replaces it
    card_report_lost(actor=Actor.system("test"), card=window_new, channel="portal")
    kiosk = phone
    device, secret = _kiosk(kiosk, base, institution, world["canteen"], "k-can-1")
    assert kiosk.locator(f"#kiosk-fee-{window_new.number}").get_attribute("data-fee-paid") == "cash"
    shot(kiosk, "17-10-kiosk-fee-short-offers-cash-zh")
    raw = json.dumps({"card": window_new.number, "amount": yuan(20)}).encode()
    path = "/api/v1/devices/kiosk/replacement-fees"
    response = Client().post(path, data=raw, content_type="application/json", headers={
        **sign_headers(device_code=device.code, secret=secret, method="POST", path=path, body=raw),
        "Idempotency-Key": "acceptor-1"})
    assert response.status_code == 201, response.content
    kiosk.goto(f"{base}/devices/kiosk/")
    assert kiosk.locator(f"#kiosk-fee-{window_new.number}").get_attribute("data-fee-paid") == "paid"
    kiosk.click("#kiosk-replace-virtual")
    kiosk.wait_for_selector(".flash.success")
    shot(kiosk, "17-10-kiosk-replaced-after-cash-zh")
    kiosk_new = Card.objects.get(replaces=window_new)
    assert ReplacementFee.objects.get(old_card=window_new).new_card == kiosk_new and balance(kiosk_new) == yuan(5)
