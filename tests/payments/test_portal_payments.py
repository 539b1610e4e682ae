"""The holder's side of payments in the portal (PAY-2 … PAY-4): receipts, appeals, the daily limit,
the payment-password state, and the canteen crowding page — with Django's test client."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client

from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.payments import pos
from campuscard.payments.models import Appeal, DailyUsage, Payment, SpendingLimit
from campuscard.payments.services import recharge_cash
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db

UID = "04A1B2C3"


def portal(person) -> Client:
    user = holder_user_ensure(person=person)
    user.must_change_password = False
    user.save()
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def pay(terminal, amount: int, uid: str = UID, **kwargs) -> Payment:
    receipt = pos.payment_authorize(terminal=terminal, txn_id=uuid.uuid4().hex, amount=amount, nfc_uid=uid, **kwargs)
    return Payment.objects.get(pk=receipt.payment_id)


@pytest.fixture
def term(terminal):
    return terminal[0]


def test_my_payments_lists_only_my_own(term, funded, student, staff_member):
    other_card = card_issue(actor=Actor.system("t"), person=staff_member)
    recharge_cash(channel="window", person=staff_member, amount=10_000, key="fund-staff")
    nfc_bind(actor=Actor.system("t"), card=other_card, uid="04:99:88:77")
    mine = pay(term, 1_250)
    theirs = pay(term, 3_300, uid="04998877")
    client = portal(student)
    page = client.get("/payments/").content.decode()
    assert f'id="payment-{mine.pk}"' in page and "¥12.50" in page and f"****{funded.number[-4:]}" in page
    assert f'id="payment-{theirs.pk}"' not in page and "¥33.00" not in page
    assert f'id="appeal-{mine.pk}"' in page  # young enough, no appeal yet
    assert client.get(f"/payments/{theirs.pk}/appeal/").status_code == 404
    assert client.post(f"/payments/{theirs.pk}/appeal/", {"reason": "not mine"}).status_code == 404
    assert not Appeal.objects.exists()


def test_appeal_within_72_hours_and_its_decision(term, funded, student, make_operator, institution):
    payment = pay(term, 1_500)
    client = portal(student)
    with clock.frozen_at(clock.now() + timedelta(hours=71)):
        form = client.get(f"/payments/{payment.pk}/appeal/").content.decode()
        assert 'id="appeal-form"' in form and "Charged twice" in form
        response = client.post(f"/payments/{payment.pk}/appeal/", {"reason": "  Charged twice  "})
        assert response.status_code == 302 and response["Location"] == "/payments/"
    appeal = Appeal.objects.get(payment=payment)
    assert appeal.reason == "Charged twice" and appeal.state == Appeal.State.OPEN
    page = client.get("/payments/").content.decode()
    assert 'data-appeal="open"' in page and "waiting for a decision" in page and f'id="appeal-{payment.pk}"' not in page
    again = client.post(f"/payments/{payment.pk}/appeal/", {"reason": "again"}).content.decode()
    assert 'id="appeal-exists"' in again and Appeal.objects.count() == 1
    operator = make_operator(institution, "card_center_operator")
    pos.appeal_decide(actor=Actor.by_user(operator), appeal=appeal, accept=False, reason="The tray was collected.")
    page = client.get("/payments/").content.decode()
    assert 'data-appeal="rejected"' in page and "The tray was collected." in page


def test_appeal_after_72_hours_is_refused(term, funded, student):
    payment = pay(term, 800)
    client = portal(student)
    with clock.frozen_at(clock.now() + timedelta(hours=72, minutes=1)):
        page = client.get("/payments/").content.decode()
        assert f'id="payment-{payment.pk}"' in page and f'id="appeal-{payment.pk}"' not in page
        assert 'id="appeal-closed"' in client.get(f"/payments/{payment.pk}/appeal/").content.decode()
        refused = client.post(f"/payments/{payment.pk}/appeal/", {"reason": "late"}).content.decode()
    assert "Appeals are possible within 72 hours of the payment." in refused
    assert not Appeal.objects.exists()


def test_an_empty_reason_is_refused(term, funded, student):
    payment = pay(term, 800)
    response = portal(student).post(f"/payments/{payment.pk}/appeal/", {"reason": "   "})
    assert response.status_code == 200 and not Appeal.objects.exists()


def test_daily_limit_change_within_and_over_the_maximum(term, funded, student):
    client = portal(student)
    pay(term, 4_000)
    page = client.get("/payments/limits/").content.decode()
    assert "¥40.00" in page and "¥200.00" in page and 'aria-valuenow="20"' in page and "¥160.00 left today" in page
    response = client.post("/payments/limits/", {"daily_limit": "300"})
    assert response.status_code == 302 and SpendingLimit.objects.get(person=student).daily_limit == 30_000
    assert "Your daily limit is now ¥300.00." in client.get("/payments/limits/").content.decode()
    for bad in ("1000.01", "0", "-5", "12.345", "abc"):
        page = client.post("/payments/limits/", {"daily_limit": bad}).content.decode()
        assert "The daily limit must be between ¥0.01 and ¥1,000.00." in page, bad
    assert SpendingLimit.objects.get(person=student).daily_limit == 30_000
    assert client.post("/payments/limits/", {"daily_limit": "1,000.00"}).status_code == 302
    assert SpendingLimit.objects.get(person=student).daily_limit == 100_000
    client.post("/payments/limits/", {"daily_limit": "30"})  # below what is spent today: the bar is full
    page = client.get("/payments/limits/").content.decode()
    assert 'aria-valuenow="100"' in page and "¥0.00 left today" in page


def test_payment_password_state_due_and_locked(term, funded, student):
    client = portal(student)
    assert 'data-state="unset"' in client.get("/payments/limits/").content.decode()
    payment_password_set(user=student.user, login_password=ID_ALICE[-6:], new_payment_password="135790")
    assert 'data-state="ok"' in client.get("/payments/limits/").content.decode()
    for _attempt in range(5):
        with pytest.raises(Exception, match="payment_password_incorrect"):
            pay(term, 6_000, password="000000")
    assert DailyUsage.objects.get(person=student).wrong_passwords == 5
    page = client.get("/payments/limits/").content.decode()
    assert 'id="password-locked"' in page and "locked today after 5 wrong passwords" in page
    with clock.frozen_at(clock.now() + timedelta(days=31)):
        page = client.get("/payments/limits/").content.decode()
    assert 'data-state="due"' in page and 'id="password-locked"' not in page  # a new day


def test_canteens_page_and_links(term, funded, student):
    pay(term, 500)
    client = portal(student)
    page = client.get("/canteens/").content.decode()
    assert 'id="canteen-xueyuan"' in page and 'data-level="normal"' in page  # payments, no usual day yet
    home = client.get("/").content.decode()
    assert 'href="/payments/"' in home and 'href="/payments/limits/"' in home and 'href="/canteens/"' in home
    wallet = client.get("/wallet/").content.decode()
    assert 'id="payments-link"' in wallet and 'id="limits-link"' in wallet


def test_pages_need_a_login(client):
    for path in ("/payments/", "/payments/limits/", "/payments/1/appeal/", "/canteens/"):
        response = client.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"]
