"""Issue #17 in a real browser: un-reporting a loss with a password (item 2), the photo page's buttons
(item 4), the window's payment-password unlock (item 10), the payment-password form and the recharge
result (item 11). The portal on a phone, the back office on a desktop."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from campuscard.cards.models import Card, Photo
from campuscard.cards.services import card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import yuan
from campuscard.identity.services import holder_user_ensure, payment_password_set, payment_password_verify
from campuscard.payments.models import DailyUsage
from campuscard.payments.services import recharge_cash
from campuscard.support.models import Notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Snow-Campus-2026"


@pytest.fixture
def holder(student, card):
    user = holder_user_ensure(person=student)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    return user


def zh(code: str) -> str:
    """A refusal's message as the Chinese page shows it."""
    with translation.override("zh-hans"):
        return str(DomainError(code).message)


def login(page, base, number):
    page.goto(f"{base}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", number)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def operator_login(page, base, username):
    page.goto(f"{base}/backoffice/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "Operator-pass-1")
    page.click("button[type=submit]")


def test_taking_a_loss_report_back_needs_the_password(live_server, phone, screenshot, holder, student, card):
    card_report_lost(actor=Actor.by_user(holder), card=card, channel="portal")
    page = phone
    login(page, live_server.url, student.number)
    page.goto(f"{live_server.url}/cards/")
    assert page.locator(f"#found-password-{card.number}").is_visible()
    screenshot(page, "portal-17-unreport-asks-password-zh")
    page.fill(f"#found-password-{card.number}", "not-my-password")
    page.click(f"#found-{card.number}")
    page.wait_for_selector(f'#card-{card.number}[data-state="lost"]')
    assert zh("unreport_password_incorrect") in page.content()
    screenshot(page, "portal-17-unreport-wrong-zh")
    card.refresh_from_db()
    assert card.state == Card.State.LOST
    page.fill(f"#found-password-{card.number}", PASSWORD)
    page.click(f"#found-{card.number}")
    page.wait_for_selector(f'#card-{card.number}[data-state="active"]')
    screenshot(page, "portal-17-unreport-done-zh")
    notes = Notification.objects.filter(person=student, kind=Notification.Kind.SECURITY).order_by("pk")
    assert len(notes) == 2 and card.number in notes[1].title


def test_payment_password_form_and_recharge_result(live_server, phone, screenshot, holder, student):
    recharge_cash(channel="window", person=student, amount=yuan(20), key="seed")
    page = phone
    login(page, live_server.url, student.number)
    page.goto(f"{live_server.url}/security/")
    form = page.locator("#payment-password-form")
    assert form.locator("input[name=current_payment_password]").count() == 0
    assert form.locator("input[name=login_password]").count() == 1
    screenshot(page, "portal-17-payment-password-first-zh")
    form.locator("input[name=login_password]").fill(PASSWORD)
    form.locator("input[name=new_payment_password]").fill("246813")
    form.locator("input[name=new_payment_password_again]").fill("246831")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#payment-password-form .error")
    assert page.locator("#payment-password-form .error").inner_text() == zh("payment_password_mismatch")
    screenshot(page, "portal-17-payment-password-mismatch-zh")
    form = page.locator("#payment-password-form")
    form.locator("input[name=login_password]").fill(PASSWORD)
    form.locator("input[name=new_payment_password]").fill("246813")
    form.locator("input[name=new_payment_password_again]").fill("246813")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#payment-password-form input[name=current_payment_password]")
    assert page.locator("#payment-password-form input[name=login_password]").count() == 0
    screenshot(page, "portal-17-payment-password-change-zh")
    student.refresh_from_db()
    assert payment_password_verify(person=student, secret="246813")

    page.goto(f"{live_server.url}/wallet/recharge/")
    page.click("button.chip >> text=¥50")
    page.click("#recharge-form button[type=submit]")
    page.wait_for_url("**/sandbox-gateway/pay/**")
    page.click("#sandbox-pay")
    page.wait_for_selector('[data-state="paid"]')
    assert page.locator("#recharge-balance b").inner_text() == "¥70.00"
    screenshot(page, "portal-17-recharge-balance-zh")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (240, 320), (190, 205, 230)).save(buffer, "PNG")
    return buffer.getvalue()


def test_photo_page_buttons_and_payment_password_unlock(live_server, desktop, screenshot, institution, student,
                                                         holder, make_operator):
    make_operator(institution, "card_center_operator", "cc-op")
    photos = [Photo.objects.create(person=student, uploaded_at=clock.now(),
                                   image=SimpleUploadedFile(f"p{i}.png", _png(), content_type="image/png"))
              for i in range(2)]
    page = desktop
    operator_login(page, live_server.url, "cc-op")
    page.goto(f"{live_server.url}/backoffice/cards/photo/{photos[0].pk}/change/")
    assert page.locator("#photo-approve").is_visible() and page.locator("#photo-reject").is_visible()
    assert page.locator("input[name=_save]").count() == 0 and page.locator("button[name=_save]").count() == 0
    screenshot(page, "backoffice-17-photo-page")
    page.click("#photo-reject")  # no reason: refused, nothing changes
    page.wait_for_selector("#photo-reject-reason")
    screenshot(page, "backoffice-17-photo-reject-no-reason")
    photos[0].refresh_from_db()
    assert photos[0].state == Photo.State.PENDING
    page.fill("#photo-reject-reason", "背景不是纯色")
    page.click("#photo-reject")
    page.wait_for_url("**/backoffice/cards/photo/")
    screenshot(page, "backoffice-17-photo-rejected")
    page.goto(f"{live_server.url}/backoffice/cards/photo/{photos[1].pk}/change/")
    page.click("#photo-approve")
    page.wait_for_url("**/backoffice/cards/photo/")
    for photo in photos:
        photo.refresh_from_db()
    assert [p.state for p in photos] == [Photo.State.REJECTED, Photo.State.APPROVED]
    assert photos[0].reason == "背景不是纯色"

    payment_password_set(user=holder, login_password=PASSWORD, new_payment_password="135790")
    DailyUsage.objects.create(person=student, day=clock.local_date(institution), wrong_passwords=5)
    page.goto(f"{live_server.url}/backoffice/identity/person/{student.pk}/change/")
    page.locator("#unlock-payment-password").scroll_into_view_if_needed()
    screenshot(page, "backoffice-17-person-locked")
    page.click("#unlock-payment-password")
    page.wait_for_selector("#payment-password-state")
    assert page.locator("#unlock-payment-password").count() == 0
    screenshot(page, "backoffice-17-person-unlocked")
    assert DailyUsage.objects.get(person=student).wrong_passwords == 0
