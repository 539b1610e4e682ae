"""#17 item 12: every portal and device page passes axe-core in Chromium (no serious or critical
violation) and works by keyboard.

axe-core comes inside the `axe-playwright-python` wheel (nothing is fetched at run time). Each page is
one entry of PORTAL_PAGES or DEVICE_PAGES below: a new page is one more `A11yPage(...)` line (its path
may use the `world` built by `world()`: the holder's card, a visitor pass, the devices). Portal pages
are checked on a phone as the holder, device pages on a tablet after enrolling that device, both in the
default language (zh) and a sample in English.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from campuscard.access.models import Zone
from campuscard.access.services import visitor_pass_create
from campuscard.cards.services import nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.services import holder_user_ensure
from campuscard.payments import pos
from campuscard.payments.models import Terminal
from campuscard.payments.services import recharge_cash

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class A11yPage:
    name: str
    path: str | Callable[[dict], str]  # a path, or world → path
    device: str = ""  # "" = the portal as the holder; "anonymous" = logged out; else the device kind to enrol
    wait_for: str = "main, body"
    act: Callable | None = None  # (page, world) → None: brings the page to the state checked (after a sale …)

    def url(self, world: dict) -> str:
        return self.path(world) if callable(self.path) else self.path


PORTAL_PAGES = [
    A11yPage("login", "/login/", device="anonymous", wait_for="#login-form"),
    A11yPage("visit", lambda w: f"/visit/{w['invite'].token}/", device="anonymous"),  # the visitor's own pages
    A11yPage("visit-status", lambda w: f"/visit/status/{w['visitor_request'].token}/", device="anonymous"),
    A11yPage("home", "/", wait_for="#home-pay-code"),
    A11yPage("cards", "/cards/"),
    A11yPage("pay-code", lambda w: f"/cards/{w['card'].number}/code/", wait_for="#live-code svg"),
    A11yPage("replace", lambda w: f"/cards/{w['card'].number}/replace/"),
    A11yPage("photo", "/cards/photo/"),
    A11yPage("package", "/cards/package/"),
    A11yPage("notifications", "/notifications/"),
    A11yPage("alert-settings", "/notifications/settings/", wait_for="#alert-settings"),
    A11yPage("apply", "/apply/"),
    A11yPage("wallet", "/wallet/"),
    A11yPage("statement", "/wallet/statement/"),
    A11yPage("spending", "/wallet/spending/"),
    A11yPage("recharge", "/wallet/recharge/"),
    A11yPage("payments", "/payments/"),
    A11yPage("appeal", lambda w: f"/payments/{w['payment_id']}/appeal/"),
    A11yPage("limits", "/payments/limits/"),
    A11yPage("canteens", "/canteens/"),
    A11yPage("access", "/access/"),
    A11yPage("access-log", "/access/log/"),
    A11yPage("permits", "/access/permits/"),
    A11yPage("visitors", "/access/visitors/"),
    A11yPage("visitor-pass", lambda w: f"/access/visitors/{w['visitor_pass'].pk}/", wait_for="#visitor-qr svg"),
    A11yPage("security", "/security/"),
    A11yPage("password", "/password/"),
    # wave 2: the campus services (a holder without residence, bookings or loans sees their empty states)
    A11yPage("transit", "/transit/"),
    A11yPage("study", "/study/"),
    A11yPage("exams", "/exams/"),
    A11yPage("library", "/library/"),
    A11yPage("rentals", "/rentals/"),
    A11yPage("health", "/health/"),
    A11yPage("dorm", "/dorm/"),
    A11yPage("laundry", "/laundry/"),
    # the assistant (with a question asked, so an answer bubble and its hand-off are checked) and service points
    A11yPage("assistant", "/assistant/", act=lambda page, world: _ask(page)),
    A11yPage("assistant-anonymous", "/assistant/", device="anonymous"),
    A11yPage("help", "/help/"),
    A11yPage("service-points", "/service-points/"),
]


def _ask(page):
    page.fill("#assistant-question", "卡丢了怎么挂失")
    page.click("#assistant-send")
    page.wait_for_selector('[data-role="answer"]')

def _pay_code(world) -> str:
    from campuscard.cards import codes
    from campuscard.cards.selectors import qr_credential

    return codes.current_code(qr_credential(world["card"]))


def _sell(page, world):
    for key in "12":
        page.click(f'#keypad button[data-key="{key}"]')
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'scan'", timeout=2_000)
    page.keyboard.type(_pay_code(world))
    page.keyboard.press("Enter")
    page.wait_for_selector(".verdict")


def _identify(page, world):
    page.fill("#identify-form input[name=id_number]", world["person"].id_number)
    page.fill("#identify-form input[name=query_password]", world["person"].id_number[-6:])
    page.click("#identify-form button")
    page.wait_for_selector("#identify-form", state="detached")


def _pass_gate(page, world):
    page.fill("#gate-input", _pay_code(world))
    page.keyboard.press("Enter")
    page.wait_for_selector("#gate-result .verdict")


DEVICE_PAGES = [
    A11yPage("enrol-pos", "/devices/enrol/pos/", device="anonymous", wait_for="#enrol-form"),
    A11yPage("pos", "/devices/pos/", device="pos", wait_for="#keypad"),
    A11yPage("pos-sale", "/devices/pos/", device="pos", wait_for="#keypad", act=_sell),
    A11yPage("kiosk", "/devices/kiosk/", device="kiosk", wait_for="#identify-form"),
    A11yPage("kiosk-holder", "/devices/kiosk/", device="kiosk", wait_for="#identify-form", act=_identify),
    A11yPage("gate", "/devices/gate/", device="gate", wait_for="#gate-input"),
    A11yPage("gate-decision", "/devices/gate/", device="gate", wait_for="#gate-input", act=_pass_gate),
    A11yPage("validator-unregistered", "/devices/validator/", device="validator"),  # transit: add a registered one
    A11yPage("exam-rooms", "/devices/exam/", device="operator:invigilator"),
    A11yPage("rental-desk", "/devices/desk/", device="operator:equipment_desk"),
]


@pytest.fixture
def world(institution, student, card, make_operator):
    """A holder with money, a payment, a visitor pass, and one device of each kind (with their secrets)."""
    system = Actor.system("a11y")
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    recharge_cash(channel="window", person=student, amount=20_000, key="a11y-seed")
    nfc_bind(actor=system, card=card, uid="04:A1:1A:11")
    canteen = pos.merchant_open(actor=system, institution=institution, code="xueyuan", name="学苑餐厅",
                                name_en="Xueyuan Canteen", category="canteen")
    devices = {}
    for kind in (Device.Kind.POS, Device.Kind.KIOSK, Device.Kind.GATE, Device.Kind.VALIDATOR):
        devices[kind] = device_register(actor=system, institution=institution, kind=kind, code=f"a11y-{kind}",
                                        name=f"{kind} 1")
    terminal = Terminal.objects.create(device=devices[Device.Kind.POS][0], merchant=canteen, counter="1号窗口")
    receipt = pos.payment_authorize(terminal=terminal, txn_id=uuid.uuid4().hex, amount=1250, nfc_uid="04:A1:1A:11")
    gate_zone = Zone.objects.create(institution=institution, campus=student.campus, code="south-gate", name="南门",
                                    level=Zone.Level.CAMPUS_GATE)
    gate_zone.gates.add(devices[Device.Kind.GATE][0])
    start = clock.now() + dt.timedelta(minutes=5)
    visitor_pass, _code = visitor_pass_create(actor=system, host=student, visitor_name="王访客",
                                              visitor_phone="13800000000", zones=[gate_zone], valid_from=start,
                                              valid_to=start + dt.timedelta(hours=2))
    from campuscard.access import invites

    invite = invites.invite_create(actor=Actor.by_user(user), host=student, purpose="项目讨论", zones=[gate_zone],
                                   hours=24, max_visitors=2, needs_approval=False)
    visitor_request = invites.request_submit(token=invite.token, visitor_name="李来访", visitor_phone="13900000000",
                                             valid_from=start, valid_to=start + dt.timedelta(hours=1))
    return {"person": student, "user": user, "card": card, "payment_id": receipt.payment_id,
            "invite": invite, "visitor_request": visitor_request,
            "visitor_pass": visitor_pass, "devices": devices, "institution": institution,
            "make_operator": make_operator}


def portal_login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def enrol(page, base, kind, world):
    device, secret = world["devices"][kind]
    page.goto(f"{base}/devices/enrol/{kind}/")
    page.fill("input[name=code]", device.code)
    page.fill("input[name=secret]", secret)
    page.click("#enrol-form button")
    page.wait_for_url(f"{base}/devices/{kind}/")


def blocking(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands, one line per element."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            for node in violation["nodes"]:
                lines.append(f"{violation['id']} ({violation['impact']}): {node['target']} — "
                             f"{node.get('failureSummary', '').splitlines()[-1:]}")
    return lines


def operator_session(page, base, user):
    """The browser carries a session made for a back-office user (the login page has its own tests)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": base,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])


def _open(page, base, spec: A11yPage, world: dict):
    page.set_default_timeout(30_000)  # a busy CI machine: axe-core and the first page loads take their time
    if spec.device == "":
        portal_login(page, base, world["person"].number)
    elif spec.device.startswith("operator:"):
        operator_session(page, base, world["make_operator"](world["institution"], spec.device.split(":", 1)[1]))
    elif spec.device != "anonymous":
        enrol(page, base, spec.device, world)
    page.goto(base + spec.url(world))
    page.wait_for_selector(spec.wait_for)
    if spec.act:
        spec.act(page, world)


@pytest.fixture
def tablet(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.mark.parametrize("spec", PORTAL_PAGES, ids=lambda spec: spec.name)
def test_portal_page_has_no_serious_accessibility_violation(live_server, phone, screenshot, world, spec):
    _open(phone, live_server.url, spec, world)
    problems = blocking(phone)
    screenshot(phone, f"a11y-portal-{spec.name}-zh")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("spec", DEVICE_PAGES, ids=lambda spec: spec.name)
def test_device_page_has_no_serious_accessibility_violation(live_server, tablet, screenshot, world, spec):
    _open(tablet, live_server.url, spec, world)
    problems = blocking(tablet)
    screenshot(tablet, f"a11y-device-{spec.name}-zh")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["home", "pay-code", "wallet", "visitor-pass"])
def test_portal_in_english_too(live_server, phone, screenshot, world, name):
    spec = next(spec for spec in PORTAL_PAGES if spec.name == name)
    phone.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    _open(phone, live_server.url, spec, world)
    assert phone.locator("html").get_attribute("lang") == "en"
    problems = blocking(phone)
    screenshot(phone, f"a11y-portal-{spec.name}-en")
    assert not problems, "\n".join(problems)


def test_home_works_by_keyboard(live_server, phone, world):
    """A skip link first, a visible focus ring, and the pay code reached and opened with the keyboard."""
    portal_login(phone, live_server.url, world["person"].number)
    phone.keyboard.press("Tab")
    skip = phone.locator(":focus")
    assert skip.get_attribute("class") == "skip-link" and skip.is_visible()
    phone.keyboard.press("Enter")
    assert phone.evaluate("document.activeElement.id") == "main"
    for _ in range(10):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.id") == "home-pay-code":
            break
    assert phone.evaluate("document.activeElement.id") == "home-pay-code"
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    phone.keyboard.press("Enter")
    phone.wait_for_url(f"**/cards/{world['card'].number}/code/")
