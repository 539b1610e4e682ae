"""Equipment rental in a real browser (SVC-4): the desk identifies the holder by a tapped card (a wedge reader
types the UID), checks a racket out with its deposit held; the holder sees it on the phone; the desk takes it
back and the deposit is released; the back office's usage chart shows the time out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure
from campuscard.ledger.selectors import account_balances
from campuscard.payments import pos
from campuscard.payments.services import recharge_cash
from campuscard.rental import services
from campuscard.rental.models import Item, Rental

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"
SHOTS = Path("/tmp/shots_rental")
UID = "04:A1:B2:C3"


def shot(page, name: str, screenshot) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_desk_checkout_holder_sees_it_desk_return(live_server, browser, phone, screenshot, institution, student,
                                                  card, make_operator):
    base = live_server.url
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    recharge_cash(channel="window", person=student, amount=20_000, key="fund")
    nfc_bind(actor=Actor.system("t"), card=card, uid=UID)
    room = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="sports-room", name="体育器材室",
                             category="other")
    Item.objects.create(institution=institution, code="racket-01", name="羽毛球拍（一对）", category="sports",
                        merchant=room, deposit=3000, loan_hours=4)
    Item.objects.create(institution=institution, code="scope-01", name="光学显微镜", category="lab", merchant=room,
                        rate_per_hour=500, loan_hours=24)
    desk_user = make_operator(institution, "equipment_desk", "desk-1")
    make_operator(institution, "institution_admin", "boss")
    # yesterday: the microscope out for 2 h 40 min (3 started hours at ¥5), so the usage chart has a bar
    yesterday = clock.now() - dt.timedelta(days=1)
    with clock.frozen_at(yesterday):
        earlier = services.rental_checkout(actor=Actor.by_user(desk_user), card=card, item_code="scope-01", key="y1")
    with clock.frozen_at(yesterday + dt.timedelta(hours=2, minutes=40)):
        services.rental_return(actor=Actor.by_user(desk_user), rental=earlier)

    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    desk.set_default_timeout(10_000)
    desk.goto(f"{base}/backoffice/login/")
    desk.fill("input[name=username]", "desk-1")
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.wait_for_load_state()
    desk.goto(f"{base}/devices/desk/")
    desk.fill("#desk-credential", UID)  # the wedge reader types the tapped card's UID and Enter
    desk.press("#desk-credential", "Enter")
    desk.wait_for_selector("#desk-identified")
    assert student.name in desk.inner_text("#desk-holder-name")
    desk.fill("#desk-item", "racket-01")
    desk.click("#desk-checkout-button")
    desk.wait_for_selector('.flash[data-level="success"]')
    assert desk.locator('#desk-out [data-out="racket-01"]').count() == 1
    shot(desk, "rental-desk-checked-out", screenshot)
    assert account_balances(account_id=card.wallet_account_id).available == 20_000 - 1500 - 3000

    # the holder's phone: the racket, its due time and the deposit held
    phone.goto(f"{base}/login/")
    phone.select_option("select[name=institution]", "uni")
    phone.fill("input[name=number]", student.number)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("#login-form button[type=submit]")
    phone.wait_for_url(f"{base}/")
    phone.click("#tile-rentals")
    phone.wait_for_selector("#rentals-open [data-rental]")
    assert "羽毛球拍" in phone.inner_text("#rentals-open")
    shot(phone, "rental-portal-out-zh", screenshot)

    # back at the desk: the racket is returned (the button beside the holder's open rental)
    desk.click('[data-return="racket-01"]')
    desk.wait_for_selector('.flash[data-level="success"]')
    assert desk.locator('#desk-out [data-out="racket-01"]').count() == 0
    shot(desk, "rental-desk-returned", screenshot)
    rental = Rental.objects.get(item__code="racket-01")
    assert rental.settled_at is not None and account_balances(account_id=card.wallet_account_id).available == 18_500
    desk.click("#desk-finish")
    desk.wait_for_selector("#desk-identify-form")

    phone.reload()
    phone.wait_for_selector("#rentals-history")
    assert phone.locator("#rentals-none-out").count() == 1
    phone.click('button[data-lang="en"]')
    phone.wait_for_selector("#rentals-usage")
    shot(phone, "rental-portal-en", screenshot)

    # the institution's administrator: usage per item and per holder, charted
    admin = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    admin.goto(f"{base}/backoffice/login/")
    admin.fill("input[name=username]", "boss")
    admin.fill("input[name=password]", "Operator-pass-1")
    admin.click("button[type=submit]")
    admin.wait_for_load_state()
    admin.goto(f"{base}/backoffice/rental/item/")
    admin.click('a[href$="/rental/item/usage/"]')
    admin.wait_for_selector("#usage-by-item")
    assert "racket-01" in admin.inner_text("#usage-by-item") and "scope-01" in admin.inner_text("#usage-by-item")
    shot(admin, "rental-backoffice-usage", screenshot)
