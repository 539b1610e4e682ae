"""Dorm electricity and laundry (SVC-5) in a real browser: the resident tops up their room from the phone,
sees the meter's balance, books a laundry slot and cancels it (refunded); the electricity operator runs the
day's reconciliation in the back office."""

import datetime as dt
from pathlib import Path

import pytest
from django.test import override_settings

from campuscard.core import clock
from campuscard.dorm import services
from campuscard.dorm.models import Booking, TopUp
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.selectors import wallet_summary
from tests.dorm.conftest import ACTOR, dorm, machine, resident, room  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots_dorm")
PASSWORD = "Snow-Campus-2026"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def holder(resident):  # noqa: F811
    user = holder_user_ensure(person=resident)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return resident


def test_resident_tops_up_and_books_laundry(live_server, phone, holder, room, machine, institution):  # noqa: F811
    base = live_server.url
    page = phone
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", holder.number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")
    shot(page, "home-phone")
    page.click("#tile-dorm")
    page.wait_for_url("**/dorm/")
    page.click("[data-testid=preset-20]")
    shot(page, "dorm-topup-form")
    page.click("#topup-submit")
    page.wait_for_url("**/dorm/")
    page.wait_for_selector(".topup[data-state=paid]")
    assert TopUp.objects.get().energy_wh == 33_333
    assert wallet_summary(holder).balances.available == 48_000
    # the meter system takes the energy and reports a low reading: the page shows it in red
    system, _secret = services.meter_system_register(actor=ACTOR, institution=institution, code="meters", name="m")
    services.meter_ack(device=system.device, top_up_id=TopUp.objects.get().pk, applied_wh=33_333)
    services.meter_readings(device=system.device, readings=[services.ReadingIn("M-301", 3_650, 120_000, clock.now())])
    page.reload()
    page.wait_for_selector(".topup[data-state=delivered]")
    assert page.locator("#remaining b").inner_text() == "3.65" and page.locator("#low-balance").is_visible()
    shot(page, "dorm-room-low")

    page.goto(f"{base}/")
    page.click("#tile-laundry")
    page.wait_for_url("**/laundry/")
    page.click("[data-testid=day-1]")  # tomorrow
    page.wait_for_url("**/laundry/?day=*")
    shot(page, "laundry-slots")
    page.click("[data-testid=slot-w1-0900]")
    page.wait_for_selector(".laundry-booking[data-state=booked]")
    booking = Booking.objects.get()
    local = booking.starts_at.astimezone(clock.zone(institution.time_zone))
    assert (local.hour, local.date()) == (9, clock.local_date(institution) + dt.timedelta(days=1))
    assert page.locator("span.mine[data-testid=slot-w1-0900]").is_visible()
    assert wallet_summary(holder).balances.available == 47_600
    shot(page, "laundry-booked")
    page.click(f"#cancel-{booking.pk}")
    page.wait_for_selector(".laundry-booking[data-state=cancelled]")
    assert wallet_summary(holder).balances.available == 48_000
    shot(page, "laundry-cancelled")


def test_operator_reconciles_a_day(live_server, desktop, resident, room, institution, make_operator):  # noqa: F811
    services.topup_buy(actor=ACTOR, person=resident, amount=1_200, key="b1")
    operator = make_operator(institution, "dorm_electricity_operator", "power")
    page = desktop
    page.goto(f"{live_server.url}/backoffice/login/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/backoffice/dorm/reconciliation/run/")
    shot(page, "backoffice-after-login")
    page.fill("input[name=day]", clock.local_date(institution).isoformat())
    shot(page, "backoffice-reconcile-form")
    page.click("#simple-form button[type=submit]")
    page.wait_for_url("**/backoffice/dorm/reconciliation/*/change/")
    assert page.locator("li.difference").count() == 1 and "1号宿舍楼 301" in page.locator("li.difference").inner_text()
    shot(page, "backoffice-reconciliation")
    page.goto(f"{live_server.url}/backoffice/dorm/topup/")
    shot(page, "backoffice-topups")


@override_settings(LAUNDRY_GRACE_MINUTES=70)  # this hour's slot can be started whenever the test runs
def test_machine_page_starts_for_the_holder(live_server, phone, resident, machine, institution):  # noqa: F811
    device, secret = services.machine_device_register(actor=ACTOR, machine=machine, code="washer-1")
    start = clock.institution_now(institution).replace(minute=0, second=0, microsecond=0)
    services.laundry_book(actor=ACTOR, person=resident, machine=machine, starts_at=start, key="page")
    page = phone
    page.goto(f"{live_server.url}/devices/enrol/laundry/")
    page.fill("input[name=code]", device.code)
    page.fill("input[name=secret]", secret)
    page.click("#enrol-form button")
    page.wait_for_url("**/devices/laundry/")
    page.fill("#nfc-uid", "04D4E5F6")  # a card that is not the booking holder's
    page.click("#tap-submit")
    page.wait_for_selector("#laundry-refused")
    page.fill("#nfc-uid", "04A1B2C3")
    page.click("#tap-submit")
    page.wait_for_selector("#laundry-started")
    shot(page, "laundry-machine-started")
    page.click("#cycle-failed")
    page.wait_for_selector("#laundry-ended[data-outcome=failed]")
    shot(page, "laundry-machine-failed")
    assert wallet_summary(resident).balances.available == 50_000
