"""City buses in a real browser (#20, TRN-1, TRN-2): a student binds the card on the phone, a bus
validator page downloads its signed list, goes offline, takes taps into its buffer (shown), goes online
and uploads; the student sees the ride at the student fare. Screenshots in test-artifacts and, with
TRANSIT_SHOTS, in that folder too."""

from __future__ import annotations

import os
import shutil

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.services import recharge_cash
from campuscard.transit import services
from campuscard.transit.models import Binding, Route, Tap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
SYSTEM = Actor.system("test")


def shot(screenshot, page, name):
    path = screenshot(page, name)
    if folder := os.environ.get("TRANSIT_SHOTS"):
        os.makedirs(folder, exist_ok=True)
        shutil.copy(path, os.path.join(folder, path.name))



def enrolled_validator(browser, base, validator, secret):
    """The browser validator page, enrolled with the device's code and secret (the page asks for them first)."""
    bus = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    bus.set_default_timeout(10_000)
    bus.goto(f"{base}/devices/validator/")
    bus.wait_for_url("**/devices/enrol/validator/")
    bus.fill("input[name=code]", validator.device.code)
    bus.fill("input[name=secret]", secret)
    bus.click("#enrol-form button")
    return bus

def test_bind_on_the_phone_tap_offline_upload_and_see_the_ride(live_server, browser, phone, screenshot, institution,
                                                                student, card):
    base = live_server.url
    recharge_cash(channel="window", person=student, amount=2_000, key="fund")
    nfc_bind(actor=SYSTEM, card=card, uid="04:A1:B2:C3")
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    operator = services.operator_create(actor=SYSTEM, institution=institution, code="citybus", name="聊城公交")
    route = Route.objects.create(operator=operator, code="K1", name="大学城—火车站", fare=200)
    validator, secret = services.validator_register(actor=SYSTEM, route=route, code="bus-k1-07", name="K1 车载机 07")

    # 1. the student binds the card on the phone
    phone.goto(f"{base}/login/")
    phone.select_option("select[name=institution]", "uni")
    phone.fill("input[name=number]", student.number)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url(f"{base}/")
    phone.click("#tile-transit")
    phone.wait_for_selector(f"#transit-bind-{card.number}")
    phone.check(f"#transit-terms-{card.number}")
    shot(screenshot, phone, "transit-bind-phone")
    phone.click("#transit-bind-button")
    phone.wait_for_selector('.transit-binding[data-state="active"]')
    assert Binding.objects.get().state == "active"

    # 2. the validator page: enrolled, downloads the signed list, then goes offline
    bus = enrolled_validator(browser, base, validator, secret)
    bus.wait_for_selector("#validator-input")
    bus.wait_for_function("() => document.getElementById('validator-holders').textContent === '1'")
    bus.uncheck("#validator-online")
    bus.wait_for_selector('#validator-mode[data-mode="offline"]')
    for _ride in range(2):
        bus.fill("#validator-input", "04:A1:B2:C3")
        bus.press("#validator-input", "Enter")
        bus.wait_for_selector('#validator-result [data-outcome="ride"]')
    bus.fill("#validator-input", "04:00:00:99")  # a card that is not bound
    bus.press("#validator-input", "Enter")
    bus.wait_for_selector('#validator-result [data-outcome="refuse"]')
    assert bus.inner_text("#validator-buffer-count") == "2"
    assert not Tap.objects.exists()  # nothing reached the server while offline
    bus.fill("#validator-input", "04:A1:B2:C3")
    bus.press("#validator-input", "Enter")
    bus.wait_for_selector("#validator-buffer tr:nth-child(3)")
    shot(screenshot, bus, "transit-validator-offline")

    # 3. online again: upload the buffer
    bus.check("#validator-online")
    bus.click("#validator-upload")
    bus.wait_for_selector("#validator-upload-result[data-charged='3']")
    assert bus.inner_text("#validator-buffer-count") == "0"
    shot(screenshot, bus, "transit-validator-uploaded")
    assert Tap.objects.filter(state="charged", fare=100, fare_class="student").count() == 3

    # 4. the student sees the rides at the student fare
    phone.goto(f"{base}/transit/")
    phone.wait_for_selector("#transit-rides .ride")
    assert phone.locator('#transit-rides .ride[data-state="charged"]').count() == 3
    shot(screenshot, phone, "transit-rides-phone")
    bus.context.close()


def test_the_operator_sees_its_clearing_page_with_the_chart(live_server, browser, screenshot, institution, student,
                                                            card, make_operator):
    from campuscard.transit.models import OperatorStaff

    base = live_server.url
    recharge_cash(channel="window", person=student, amount=2_000, key="fund")
    nfc_bind(actor=SYSTEM, card=card, uid="04:A1:B2:C3")
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
    operator = services.operator_create(actor=SYSTEM, institution=institution, code="citybus", name="聊城公交")
    k1 = Route.objects.create(operator=operator, code="K1", name="大学城—火车站", fare=200)
    k2 = Route.objects.create(operator=operator, code="K2", name="大学城—古楼", fare=200)
    import datetime as dt

    from campuscard.core import clock

    start = clock.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    for route, n in ((k1, 5), (k2, 3)):
        validator, _secret = services.validator_register(actor=SYSTEM, route=route, code=f"bus-{route.code}")
        services.taps_upload(device=validator.device, taps=[
            {"counter": i, "uid": "04A1B2C3", "tapped_at": (start + dt.timedelta(minutes=25 * i)).isoformat()}
            for i in range(n)])
    user = make_operator(institution, "bus_operator", "bus-staff")
    OperatorStaff.objects.create(user=user, operator=operator)
    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", "bus-staff")
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    desk.goto(f"{base}/backoffice/transit/operator/clearing/")
    desk.wait_for_selector('#clearing-reconciled[data-ok="1"]')
    desk.wait_for_timeout(500)
    shot(screenshot, desk, "transit-clearing-backoffice")
    desk.context.close()


def test_the_validator_verifies_its_list_takes_a_phone_and_refuses_a_forged_list(live_server, browser, screenshot,
                                                                                 institution, student, card):
    """#20 items 1 and 2: the page checks the snapshot's Ed25519 signature in the browser (WebCrypto) with
    the keys it was provisioned with; a phone's one-time code rides offline and is charged on upload; a
    snapshot altered on the way is refused and said so, and the list it held stays in use."""
    from campuscard.cards import codes
    from campuscard.cards.models import Credential

    base = live_server.url
    recharge_cash(channel="window", person=student, amount=2_000, key="fund")
    services.binding_create(actor=SYSTEM, card=card, accept_terms=True, with_card=False, with_phone=True)
    phone = Credential.objects.get(card=card, kind=Credential.Kind.HCE, active=True)
    operator = services.operator_create(actor=SYSTEM, institution=institution, code="citybus", name="聊城公交")
    route = Route.objects.create(operator=operator, code="K1", name="大学城—火车站", fare=200)
    validator, secret = services.validator_register(actor=SYSTEM, route=route, code="bus-k1-08", name="K1 车载机 08")

    bus = enrolled_validator(browser, base, validator, secret)
    bus.wait_for_selector('#validator-verify[data-verified="ok"]')
    bus.wait_for_function("() => document.getElementById('validator-deny-version').textContent !== '—'")

    # a phone tap, offline: the token is in the verified list, the digits travel with the tap
    bus.uncheck("#validator-online")
    bus.fill("#validator-input", codes.current_code(phone))
    bus.press("#validator-input", "Enter")
    bus.wait_for_selector('#validator-result [data-outcome="ride"]')
    bus.wait_for_selector("#validator-buffer tr[data-medium='hce']")
    shot(screenshot, bus, "transit-validator-phone-offline")
    bus.check("#validator-online")
    bus.click("#validator-upload")
    bus.wait_for_selector("#validator-upload-result[data-charged='1']")
    tap = Tap.objects.get()
    assert (tap.state, tap.medium, tap.nfc_uid, tap.fare) == ("charged", "hce", phone.token, 100)

    # a list altered on the way (a card added to the riders): refused, and the page says so
    def forge(route_):
        response = route_.fetch()
        body = response.json()
        body["holders"]["04DEADBEEF"] = "student"
        route_.fulfill(response=response, json=body)

    bus.route("**/devices/validator/snapshot/", forge)
    bus.click("#validator-sync")
    bus.wait_for_selector('#validator-verify[data-verified="fail"]')
    shot(screenshot, bus, "transit-validator-forged-list")
    bus.fill("#validator-input", "04:DE:AD:BE:EF")
    bus.press("#validator-input", "Enter")
    bus.wait_for_function("() => document.querySelector('#validator-result [data-outcome]').dataset.outcome === 'refuse'")
    assert bus.inner_text("#validator-buffer-count") == "0"
    bus.unroute("**/devices/validator/snapshot/")
    bus.click("#validator-sync")
    bus.wait_for_selector('#validator-verify[data-verified="ok"]')
    bus.context.close()
