"""Card journeys in a real browser (CARD-3 … CARD-7, ID-7, APP-5): portal, kiosk and back office."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from campuscard.cards import codes
from campuscard.cards.models import BalanceMove, Card, LegacyMealCard, Photo, Production
from campuscard.cards.services import card_issue, photo_review
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import ServicePoint
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.services import recharge_cash
from campuscard.support.models import Notification
from tests.conftest import ID_ALICE
from tests.helpers import qr_texts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    recharge_cash(channel="window", person=student, amount=10_000, key="seed")
    return student


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def png(color=(200, 210, 230)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (240, 320), color).save(buffer, "PNG")
    return buffer.getvalue()


def test_pay_code_is_a_real_qr_that_pays_once(live_server, phone, screenshot, holder, card):
    page = phone
    login(page, live_server.url, holder.number)
    page.goto(f"{live_server.url}/cards/")
    screenshot(page, "portal-my-cards-zh")
    page.click(f"#paycode-{card.number}")
    page.wait_for_selector(".qr svg")
    shot = screenshot(page, "portal-pay-code-zh")
    decoded = qr_texts(shot)
    assert len(decoded) == 1 and decoded[0].startswith("CC1.")
    presented = codes.code_accept(institution_id=card.institution_id, code=decoded[0])
    assert presented.card == card
    with pytest.raises(Exception, match="qr_replayed"):
        codes.code_accept(institution_id=card.institution_id, code=decoded[0])
    page.wait_for_function("() => document.getElementById('offline-count').textContent !== '0'")
    assert int(page.locator("#offline-count").inner_text()) == 15


def test_loss_found_and_replacement(live_server, phone, screenshot, holder, card):
    page = phone
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, holder.number)
    page.goto(f"{live_server.url}/cards/")
    page.click(f"#lost-{card.number}")
    page.wait_for_selector(f'#card-{card.number}[data-state="lost"]')
    screenshot(page, "portal-card-lost-zh")
    with pytest.raises(Exception, match="card_lost"):
        codes.code_accept(institution_id=card.institution_id, code=codes.current_code(card.credentials.get(kind="qr")))
    page.fill(f"#found-password-{card.number}", PASSWORD)  # a phone left logged in is not enough (#17)
    page.click(f"#found-{card.number}")
    page.wait_for_selector(f'#card-{card.number}[data-state="active"]')
    page.click(f"#replace-{card.number}")
    screenshot(page, "portal-replace-zh")
    page.click("button[data-lang=en]")
    page.wait_for_selector("#replace-form")
    assert "Replacement fee" in page.content()
    screenshot(page, "portal-replace-en")
    page.check("#confirm")  # the card was found again: replacing a working card is confirmed first
    page.click("#replace-form button[type=submit]")
    page.wait_for_selector(f"#move-{card.number}")
    screenshot(page, "portal-replaced-zh")
    new = Card.objects.get(replaces=card)
    assert new.state == "active" and Card.objects.get(pk=card.pk).state == "replaced"
    assert BalanceMove.objects.get(old_card=card).state == BalanceMove.State.DONE  # no validator to wait for


def test_replacement_moves_the_balance_at_once_but_a_fare(live_server, phone, screenshot, holder, card, settings):
    """#17 item 1: the new card pays at once; only one bus fare waits for the offline validators."""
    settings.REPLACEMENT_RESERVE_FEN = 200
    device_register(actor=Actor.system("t"), institution=card.institution, kind=Device.Kind.VALIDATOR,
                    code="bus-7", name="7路")
    page = phone
    login(page, live_server.url, holder.number)
    page.goto(f"{live_server.url}/cards/{card.number}/replace/")
    assert page.locator("#fee").inner_text() == "¥20.00"
    assert page.locator("#balance").inner_text() == "¥100.00"
    assert page.locator("#moves-now").inner_text() == "¥78.00"
    assert page.locator("#reserve").inner_text() == "¥2.00"
    assert page.locator("#not-lost").is_visible()
    screenshot(page, "portal-replace-confirm-zh")
    page.click("#replace-form button[type=submit]")  # not confirmed: the browser asks for the box
    assert Card.objects.get(pk=card.pk).state == Card.State.ACTIVE
    page.check("#confirm")
    page.click("#replace-form button[type=submit]")
    page.wait_for_selector(f"#move-{card.number}")
    new = Card.objects.get(replaces=card)
    assert page.locator(f"#card-{new.number}").inner_text().count("¥78.00") >= 1
    screenshot(page, "portal-replaced-at-once-zh")
    assert BalanceMove.objects.get(old_card=card).amount == 7_800


def test_meal_card_migration_once(live_server, phone, screenshot, holder, card):
    LegacyMealCard.objects.create(institution=holder.institution, person=holder, old_number="M001", balance=3_480,
                                  imported_at=clock.now())
    page = phone
    login(page, live_server.url, holder.number)
    page.goto(f"{live_server.url}/cards/")
    page.click("#migrate-link")
    assert page.locator("#legacy-balance").inner_text() == "¥34.80"
    screenshot(page, "portal-migrate-zh")
    page.click("#migrate-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/cards/")
    assert not page.locator("#legacy").count()
    page.click("button[data-lang=en]")
    page.goto(f"{live_server.url}/cards/migrate/")
    assert "Already transferred" in page.content()
    screenshot(page, "portal-migrate-done-en")


def test_photo_review_production_and_kiosk_collection(live_server, browser, screenshot, institution, student,
                                                      make_operator):
    """Holder uploads a photo, the operator approves it, a physical card is made, marked ready at the
    kiosk (the holder is notified) and collected at the kiosk with the ID number."""
    operator = make_operator(institution, "card_center_operator", "cc-op")
    photo = Photo.objects.create(person=student, uploaded_at=clock.now(),
                                 image=SimpleUploadedFile("p.png", png(), content_type="image/png"))
    from campuscard.core.models import Area

    point = ServicePoint.objects.create(area=Area.objects.get(code="area1"), code="kiosk-1", kind="kiosk",
                                        name="自助机", location="学苑餐厅一楼")
    desk = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    desk.goto(f"{live_server.url}/backoffice/login/")
    desk.fill("input[name=username]", "cc-op")
    desk.fill("input[name=password]", "Operator-pass-1")
    desk.click("button[type=submit]")
    desk.goto(f"{live_server.url}/backoffice/cards/photo/")
    screenshot(desk, "backoffice-photo-queue")
    photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)
    card = card_issue(actor=Actor.by_user(operator), person=student, physical=True)
    production = Production.objects.get(card=card)
    desk.goto(f"{live_server.url}/backoffice/cards/production/")
    screenshot(desk, "backoffice-production-queue")
    for action in ("mark_printed", "mark_at_kiosk"):
        desk.check(f'input[name=_selected_action][value="{production.pk}"]')
        desk.select_option("select[name=action]", action)
        desk.click("button[name=index]")
        desk.wait_for_load_state()
    assert Production.objects.get(pk=production.pk).state == "at_kiosk"
    assert Notification.objects.filter(person=student, kind="card_ready").exists()
    desk.goto(f"{live_server.url}/backoffice/cards/production/{production.pk}/face/")
    screenshot(desk, "backoffice-card-face")

    device, secret = device_register(actor=Actor.by_user(operator), institution=institution, kind=Device.Kind.KIOSK,
                                     code="kiosk-test", name="Kiosk", service_point=point)  # where the card waits
    kiosk = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    kiosk.goto(f"{live_server.url}/devices/kiosk/")
    kiosk.fill("input[name=code]", device.code)
    kiosk.fill("input[name=secret]", secret)
    kiosk.click("#enrol-form button")
    kiosk.click("button.chip")  # the kiosk speaks English for this holder
    kiosk.fill("input[name=id_number]", ID_ALICE.lower())
    kiosk.fill("input[name=query_password]", ID_ALICE[-6:])  # ID-6 default query password
    screenshot(kiosk, "kiosk-identify-en")
    kiosk.click("#identify-form button")
    kiosk.wait_for_selector("#kiosk-collect")
    screenshot(kiosk, "kiosk-home-en")
    kiosk.click("#kiosk-collect")
    kiosk.wait_for_selector(".flash")
    assert Production.objects.get(pk=production.pk).state == "collected"
    kiosk.click("#kiosk-lost")
    kiosk.wait_for_selector('[data-state="lost"]')
    screenshot(kiosk, "kiosk-after-loss")
    assert Card.objects.get(pk=card.pk).state == "lost"
