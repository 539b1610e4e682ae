"""Access control in a real browser (issue 6 items 2–4, 7, 8): a holder applies for a lab permit on the
phone and the lab's manager approves it in the back office; a holder invites a visitor and the QR code on
the screen is read back by a real decoder and verified; the browser gate admits and refuses at once.

The server's clock is frozen (for every thread) on a Monday in institution time.
"""

from __future__ import annotations

import json

import pytest

from campuscard.access import keys, services
from campuscard.access.models import AccessEvent, LabPermit, VisitorPass
from campuscard.cards.services import card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from tests.access.conftest import _forget_access_caches, gate, holder, local, place  # noqa: F401 (fixtures)
from tests.helpers import qr_texts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
MONDAY_MORNING = local(2026, 11, 30, 10, 0)


def portal_holder(institution, name="张晓雪"):
    person, card, uid = holder(institution)
    person.name = name
    person.save(update_fields=["name"])
    user = holder_user_ensure(person=person)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return person, card, uid


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def backoffice(browser, base, username):
    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", username)
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    return desk


def test_lab_permit_applied_on_the_phone_and_approved_by_the_zone_manager(
        live_server, browser, phone, screenshot, institution, place, gate, make_operator):  # noqa: F811 (fixtures of tests.access)
    base = live_server.url
    lab = place["zones"]["lab"]
    boss = make_operator(institution, "zone_manager", "lab-boss")
    lab.managers.add(boss)
    person, _card, uid = portal_holder(institution)
    with clock.frozen_at(MONDAY_MORNING):
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid)
        services.gate_decide(device=gate[0], zone_code="lab-1", nfc_uid=uid)  # refused: no add-on
        login(phone, base, person.number)
        phone.click("#tile-access")
        phone.wait_for_selector("#campus-entry")
        phone.click("#campus-entry-apply")
        phone.wait_for_selector('#campus-entry[data-state="requested"]')
        screenshot(phone, "access-home-zh")

        # without the lab add-on the application is refused with the reason
        phone.click("#permits-link")
        phone.select_option("#permit-zone", str(lab.pk))
        phone.select_option("select[name=weekday_0]", "0")
        phone.fill("input[name=start_0]", "14:00")
        phone.fill("input[name=end_0]", "17:00")
        phone.click("#permit-submit")
        phone.wait_for_selector('#permit-error[data-code="lab_addon_required"]')
        screenshot(phone, "access-permit-refused-zh")
        assert not LabPermit.objects.exists()

        # the holder adds the optional lab add-on to their card package themselves (APP-4), then applies
        phone.click("#lab-addon-add")
        phone.wait_for_selector(".flash")
        assert phone.locator("#no-lab-addon").count() == 0
        phone.select_option("#permit-zone", str(lab.pk))
        phone.select_option("select[name=weekday_0]", "0")
        phone.fill("input[name=start_0]", "14:00")
        phone.fill("input[name=end_0]", "17:00")
        phone.select_option("select[name=weekday_1]", "2")
        phone.fill("input[name=start_1]", "08:00")
        phone.fill("input[name=end_1]", "10:00")
        phone.fill("input[name=purpose]", "有机化学毕业设计")
        phone.click("#permit-submit")
        phone.wait_for_selector("#permit-list [data-state=requested]")
        screenshot(phone, "access-permit-requested-zh")
        permit = LabPermit.objects.get(person=person)
        assert permit.weekly_slots == [{"weekday": 0, "start": "14:00", "end": "17:00"},
                                       {"weekday": 2, "start": "08:00", "end": "10:00"}]

        desk = backoffice(browser, base, "lab-boss")
        desk.goto(f"{base}/backoffice/access/labpermit/")
        desk.check(f'input[name=_selected_action][value="{permit.pk}"]')
        desk.select_option("select[name=action]", "approve")
        desk.click("button[name=index]")
        desk.wait_for_load_state()
        screenshot(desk, "access-backoffice-permit-approved")
        permit.refresh_from_db()
        assert permit.state == "approved" and permit.decided_by == boss

        phone.goto(f"{base}/access/permits/")
        phone.wait_for_selector(f"#permit-{permit.pk}[data-state=approved]")
        phone.goto(f"{base}/access/")
        assert phone.locator('#access-log tr[data-rule="refuse_lab_no_addon"]').count() == 1
        screenshot(phone, "access-home-approved-zh")

    with clock.frozen_at(local(2026, 11, 30, 14, 30)):
        assert services.gate_decide(device=gate[0], zone_code="lab-1", nfc_uid=uid).decision.rule == "admit_lab_permit"
        lab_zone = place["zones"]["lab"]
        desk.goto(f"{base}/backoffice/access/zone/")
        desk.click(f"#entries-{lab_zone.code}")
        # unfold draws its charts after load: wait for the chart itself, not just its canvas
        desk.wait_for_function("window.Chart && Chart.getChart(document.querySelector('#zone-entries canvas'))")
        # a few entries: the count axis still reads in whole decisions (0, 1, 2 …), never halves
        ticks = desk.evaluate("Chart.getChart(document.querySelector('#zone-entries canvas')).scales.y.ticks"
                              ".map(t => t.value)")
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        screenshot(desk, "access-backoffice-entries-by-hour")
        desk.goto(f"{base}/backoffice/access/accessevent/search/?number={person.number}")
        desk.wait_for_selector("#search-results")
        assert desk.locator("#search-results tbody tr").count() == 3
        screenshot(desk, "access-backoffice-security-search")


def test_visitor_code_created_read_back_from_the_screen_and_revoked(
        live_server, phone, screenshot, institution, place, gate):  # noqa: F811 (fixtures of tests.access)
    base = live_server.url
    person, _card, _uid = portal_holder(institution)
    with clock.frozen_at(MONDAY_MORNING):
        login(phone, base, person.number)
        phone.goto(f"{base}/access/visitors/")
        phone.fill("input[name=visitor_name]", "王访客")
        phone.fill("input[name=visitor_phone]", "13800000000")
        phone.fill("input[name=valid_from]", "2026-11-30T17:00")  # too far ahead: 7 hours
        phone.fill("input[name=valid_to]", "2026-11-30T19:00")
        phone.check(f'input[name=zones][value="{place["zones"]["gate"].pk}"]')
        phone.check(f'input[name=zones][value="{place["zones"]["teaching"].pk}"]')
        phone.evaluate("document.getElementById('visitor-form').noValidate = true")  # the server decides
        phone.click("#visitor-submit")
        phone.wait_for_selector('#visitor-error[data-code="visitor_too_far_ahead"]')
        screenshot(phone, "access-visitor-refused-zh")
        phone.fill("input[name=valid_from]", "2026-11-30T10:30")
        phone.fill("input[name=valid_to]", "2026-11-30T16:00")
        phone.click("#visitor-submit")
        phone.wait_for_selector("#visitor-qr svg")
        shot = screenshot(phone, "access-visitor-code-zh")
    visitor_pass = VisitorPass.objects.get(host=person)
    decoded = qr_texts(shot)
    assert len(decoded) == 1 and decoded[0].startswith("CV1.")
    claims = keys.verify_visitor_code(decoded[0], lambda key_id: keys.public_key(institution.pk, key_id))
    assert claims.pass_id == visitor_pass.pk
    assert set(claims.zone_ids) == {place["zones"]["gate"].pk, place["zones"]["teaching"].pk}
    assert claims.start_minute * 60 == local(2026, 11, 30, 10, 30).timestamp()
    with clock.frozen_at(local(2026, 11, 30, 11, 0)):
        assert services.gate_decide(device=gate[0], zone_code="south-gate",
                                    visitor_code=decoded[0]).decision.rule == "admit_visitor"
        phone.once("dialog", lambda dialog: dialog.accept())
        phone.click("#visitor-revoke")
        phone.wait_for_selector('#visitor-list [data-status="revoked"]')
        assert services.gate_decide(device=gate[0], zone_code="south-gate",
                                    visitor_code=decoded[0]).decision.rule == "refuse_visitor_revoked"
        phone.click('button[data-lang="en"]')
        phone.wait_for_selector("html[lang=en]")
        screenshot(phone, "access-visitors-en")


@pytest.fixture
def turnstile(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def present(page, text: str, outcome: str):
    before = page.locator("#gate-recent tbody tr[data-rule]").count()
    page.fill("#gate-input", text)
    page.press("#gate-input", "Enter")  # what a keyboard-wedge reader types last
    page.wait_for_selector(f'#gate-verdict[data-outcome="{outcome}"]')
    page.wait_for_function(f"() => document.querySelectorAll('#gate-recent tbody tr[data-rule]').length > {min(before, 9)}"
                           f" && document.activeElement.id === 'gate-input' && !document.getElementById('gate-input').value")


def test_visitor_asks_through_the_host_s_link_and_gets_the_code_once_approved(
        live_server, browser, phone, screenshot, institution, place, gate):  # noqa: F811 (fixtures of tests.access)
    """ACC-3, a visitor through a host-approved link: the host makes the link on the phone, the visitor
    (no account, another phone) asks, the host approves, and the visitor's page shows a code that a real
    decoder reads and the gate admits."""
    base = live_server.url
    person, _card, _uid = portal_holder(institution)
    visitor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    visitor.set_default_timeout(10_000)
    with clock.frozen_at(MONDAY_MORNING):
        login(phone, base, person.number)
        phone.goto(f"{base}/access/visitors/")
        phone.fill("input[name=purpose]", "项目答辩评委")
        phone.fill("input[name=max_visitors]", "3")
        phone.check(f'#invite-form input[name=zones][value="{place["zones"]["gate"].pk}"]')
        phone.check(f'#invite-form input[name=zones][value="{place["zones"]["teaching"].pk}"]')
        phone.click("#invite-submit")
        link = phone.input_value(".invite-url")
        assert "/visit/" in link
        visitor.goto(link)
        visitor.fill("input[name=visitor_name]", "陈教授")
        visitor.fill("input[name=visitor_phone]", "13912345678")
        visitor.fill("input[name=valid_from]", "2026-11-30T13:00")
        visitor.fill("input[name=valid_to]", "2026-11-30T17:00")
        screenshot(visitor, "access-visit-form-zh")
        visitor.click("#visit-submit")
        visitor.wait_for_selector("#visit-waiting")
        screenshot(visitor, "access-visit-waiting-zh")
        phone.reload()
        phone.wait_for_selector(".request .request-name")
        screenshot(phone, "access-invite-request-zh")
        phone.click(".request-approve")
        phone.wait_for_selector(".invite .pill-approved")
        visitor.reload()
        visitor.wait_for_selector("#visit-qr svg")
        shot = screenshot(visitor, "access-visit-code-zh")
    decoded = qr_texts(shot)
    assert len(decoded) == 1 and decoded[0].startswith("CV1.")
    with clock.frozen_at(local(2026, 11, 30, 13, 30)):
        assert services.gate_decide(device=gate[0], zone_code="teach-1",
                                    visitor_code=decoded[0]).decision.rule == "admit_visitor"
    visitor.context.close()


def test_gate_page_admits_a_holder_and_refuses_a_lost_card_with_its_reason(
        live_server, turnstile, screenshot, institution, place, gate):  # noqa: F811 (fixtures of tests.access)
    base = live_server.url
    device, secret = gate
    person, card, uid = portal_holder(institution)
    page = turnstile
    with clock.frozen_at(MONDAY_MORNING):
        page.goto(f"{base}/devices/gate/")
        page.wait_for_url("**/devices/enrol/gate/")
        page.fill("input[name=code]", device.code)
        page.fill("input[name=secret]", secret)
        page.click("#enrol-form button")
        page.wait_for_url(f"{base}/devices/gate/")
        page.select_option("#gate-zone", "teach-1")
        page.wait_for_url("**/devices/gate/?zone=teach-1")
        screenshot(page, "gate-idle-zh")
        present(page, uid, "admit")
        assert page.inner_text("#gate-reason") == "欢迎。"
        screenshot(page, "gate-admit-zh")

        card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
        present(page, uid, "refuse")
        assert "挂失" in page.inner_text("#gate-reason")
        screenshot(page, "gate-refuse-lost-zh")

        page.click("#gate-language")
        page.wait_for_selector("html[lang=en]")
        assert page.input_value("#gate-zone") == "teach-1"
        present(page, uid, "refuse")
        assert page.inner_text("#gate-reason") == "This card has been reported lost."
        assert "REFUSE" in page.inner_text("#gate-verdict")
        screenshot(page, "gate-refuse-lost-en")
    rules = list(AccessEvent.objects.filter(device=device).order_by("id").values_list("rule", flat=True))
    assert rules == ["admit_teaching", "refuse_card_lost", "refuse_card_lost"]
    assert json.dumps(rules)  # every decision on the page was logged
