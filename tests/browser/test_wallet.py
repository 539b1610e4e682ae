"""A holder recharges online through the sandbox gateway and reads the statement; an operator takes cash
at the window (TOP-1, LED-5) — in a real browser."""

import pytest

from campuscard.core.money import yuan
from campuscard.identity.services import holder_user_ensure
from campuscard.payments import selectors
from campuscard.payments.services import recharge_cash

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("card")]


@pytest.fixture
def holder(student):
    user = holder_user_ensure(person=student)
    user.set_password("Snow-Campus-2026")
    user.must_change_password = False
    user.save()
    return student


def login(page, base, number, password="Snow-Campus-2026"):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_online_recharge_then_statement(live_server, phone, screenshot, holder):
    recharge_cash(channel="window", person=holder, amount=yuan(20), key="seed-1")
    page = phone
    login(page, live_server.url, holder.number)
    page.goto(f"{live_server.url}/wallet/")
    assert page.locator("#available").inner_text() == "¥20.00"
    page.click("#recharge-link")
    page.wait_for_url("**/wallet/recharge/")
    page.click("button.chip >> text=¥50")
    screenshot(page, "portal-recharge-zh")
    page.click("#recharge-form button[type=submit]")
    page.wait_for_url("**/sandbox-gateway/pay/**")
    screenshot(page, "sandbox-gateway-pay")
    page.click("#sandbox-pay")
    page.wait_for_url("**/wallet/recharge/R*/")
    page.wait_for_selector('[data-state="paid"]')
    screenshot(page, "portal-recharge-paid-zh")
    page.goto(f"{live_server.url}/wallet/")
    assert page.locator("#available").inner_text() == "¥70.00"
    screenshot(page, "portal-wallet-zh")
    page.goto(f"{live_server.url}/wallet/statement/")
    assert page.locator("#closing").inner_text() == "¥70.00"
    screenshot(page, "portal-statement-zh")
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename.endswith(".csv")
    assert selectors.wallet_summary(holder).balances.available == yuan(70)


def test_operator_takes_cash_at_the_window(live_server, desktop, screenshot, institution, student, make_operator):
    make_operator(institution, "card_center_operator", "window-op")
    page = desktop
    page.goto(f"{live_server.url}/backoffice/login/")
    page.fill("input[name=username]", "window-op")
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/backoffice/payments/rechargeorder/")
    page.click("#window-recharge-link")
    page.fill("input[name=number]", student.number)
    page.fill("input[name=amount]", "100")
    screenshot(page, "backoffice-window-recharge")
    page.click("#window-recharge-form button[type=submit]")
    page.wait_for_selector("text=¥100.00")
    screenshot(page, "backoffice-window-recharge-done")
    assert selectors.wallet_summary(student).balances.available == yuan(100)
    page.goto(f"{live_server.url}/backoffice/payments/rechargeorder/")
    screenshot(page, "backoffice-recharges")
