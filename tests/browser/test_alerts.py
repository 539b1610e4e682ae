"""SUP-4 on a phone: the holder sets their alerts, a POS payment takes the balance under their threshold,
the header badge counts it and the notification centre shows it — in a real browser."""

import json
import urllib.request
from pathlib import Path

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core.actors import Actor
from campuscard.core.money import yuan
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.identity.services import holder_user_ensure
from campuscard.payments import pos
from campuscard.payments.models import Terminal
from campuscard.payments.services import recharge_cash
from campuscard.support.models import Notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots_alerts")


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password("Snow-Campus-2026")
    user.must_change_password = False
    user.save()
    recharge_cash(channel="window", person=student, amount=yuan(60), key="seed")
    nfc_bind(actor=Actor.system("t"), card=card, uid="04:A1:B2:C3")
    return student


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def pos_pay(base: str, institution, txn_id: str, amount: int) -> dict:
    """A canteen terminal charges the tapped card through the signed POS API (PAY-1)."""
    if not Terminal.objects.filter(device__code="pos-alerts").exists():
        canteen = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="xy", name="学苑餐厅",
                                    category="canteen")
        device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS,
                                         code="pos-alerts", name="POS")
        Terminal.objects.create(device=device, merchant=canteen)
        pos_pay.secret = secret
    raw = json.dumps({"txn_id": txn_id, "amount": amount, "nfc_uid": "04A1B2C3"}).encode()
    path = "/api/v1/pos/payments"
    headers = sign_headers(device_code="pos-alerts", secret=pos_pay.secret, method="POST", path=path, body=raw)
    request = urllib.request.Request(base + path, data=raw, method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (the live test server)
        return json.loads(response.read())


def test_low_balance_alert_on_a_phone(live_server, phone, holder, institution):
    page, base = phone, live_server.url
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", holder.number)
    page.fill("input[name=password]", "Snow-Campus-2026")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator('[data-testid="unread-count"]').count() == 0
    # the alert settings: switch loan reminders off, alert below ¥50
    page.click('[data-testid="alerts-badge"]')
    page.wait_for_url("**/notifications/")
    page.click('[data-testid="alert-settings-link"]')
    page.wait_for_url("**/notifications/settings/")
    assert page.locator("#kind-security").is_disabled() and page.locator("#kind-security").is_checked()
    page.uncheck("#kind-loan_due")
    page.fill("#low_balance_threshold", "50")
    shot(page, "01-alert-settings-zh")
    page.click("#alert-settings-save")
    page.wait_for_url("**/notifications/settings/")
    assert page.locator("#low_balance_threshold").input_value() == "50.00"
    assert not page.locator("#kind-loan_due").is_checked()
    # lunch: ¥60 → ¥45 crosses ¥50 (the worker sends it once); the next payment stays below: no second alert
    assert pos_pay(base, institution, "lunch-1", yuan(15))["balance_after"] == yuan(45)
    assert pos_pay(base, institution, "lunch-2", yuan(5))["balance_after"] == yuan(40)
    assert Notification.objects.filter(person=holder, kind=Notification.Kind.LOW_BALANCE).count() == 1
    page.goto(f"{base}/")
    badge = page.locator('[data-testid="unread-count"]')
    assert badge.inner_text() == "1"
    shot(page, "02-home-badge-zh")
    page.click('[data-testid="alerts-badge"]')
    page.wait_for_url("**/notifications/")
    alert = page.locator('[data-testid="notification"][data-kind="low_balance"]')
    assert alert.count() == 1 and "¥40.00" not in alert.inner_text() and "¥45.00" in alert.inner_text()
    shot(page, "03-notification-centre-zh")
    page.click('button[data-lang="en"]')
    page.wait_for_load_state()
    assert "balance is low" in page.locator('[data-testid="notification"]').first.inner_text()
    shot(page, "04-notification-centre-en")
    assert page.locator('[data-testid="unread-count"]').count() == 0  # read
