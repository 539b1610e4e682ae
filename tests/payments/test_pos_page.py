"""The browser POS's server side (issue 5, item 5) with Django's test client: enrolment, a sale, the
password prompt, idempotent retries, refusals, refunds and today's list."""

from datetime import timedelta

import pytest
from django.test import Client

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.payments.models import Payment
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(terminal) -> Client:
    term, secret = terminal
    client = Client()
    client.cookies["django_language"] = "en"
    response = client.post("/devices/enrol/pos/", {"code": term.device.code, "secret": secret})
    assert response.status_code == 302 and response["Location"] == "/devices/pos/"
    return client


def sale(client, **data):
    return client.post("/devices/pos/pay/", data)


def test_enrolment_is_needed_and_checked(terminal, client):
    client.cookies["django_language"] = "en"
    assert client.get("/devices/pos/")["Location"] == "/devices/enrol/pos/"
    term, secret = terminal
    page = client.post("/devices/enrol/pos/", {"code": term.device.code, "secret": "wrong"}).content.decode()
    assert "Unknown device id or wrong secret." in page and "Campus Card POS" in page
    assert client.post("/devices/pos/pay/", {"amount": "1", "code": "x", "txn_id": "a"}).status_code == 302


def test_a_sale_is_idempotent_on_the_page_transaction_id(cashier, funded, student):
    page = cashier.get("/devices/pos/").content.decode()
    assert 'id="keypad"' in page and 'id="scan"' in page and "学苑餐厅" in page
    code = codes.current_code(qr_credential(funded))
    first = sale(cashier, amount="12.50", code=code, txn_id="6f0c7a1e-0000-4000-8000-000000000001")
    html = first.content.decode()
    assert first.status_code == 200 and 'data-outcome="paid"' in html and "¥12.50 paid" in html
    assert "张**" in html and f"****{funded.number[-4:]}" in html and "¥487.50" in html
    again = sale(cashier, amount="12.50", code=code, txn_id="6f0c7a1e-0000-4000-8000-000000000001")
    assert 'data-outcome="paid"' in again.content.decode() and Payment.objects.count() == 1  # a retry
    today = cashier.get("/devices/pos/?part=today").content.decode()
    assert 'id="today-6f0c7a1e-0000-4000-8000-000000000001"' in today and 'id="total-takings">¥12.50' in today


def test_a_card_uid_from_a_wedge_reader_pays_too(cashier, funded):
    html = sale(cashier, amount="3", code="04:A1:B2:C3", txn_id="t-uid").content.decode()
    assert 'data-outcome="paid"' in html and "NFC" in html


def test_password_prompt_then_paid(cashier, funded, student):
    payment_password_set(user=holder_user_ensure(person=student), login_password=ID_ALICE[-6:],
                         new_payment_password="135790")
    code = codes.current_code(qr_credential(funded))
    asked = sale(cashier, amount="60", code=code, txn_id="big")
    assert asked.status_code == 403 and 'data-outcome="password"' in asked.content.decode()
    assert "Payments above ¥50.00 need the payment password." in asked.content.decode()
    wrong = sale(cashier, amount="60", code=code, txn_id="big", password="000000").content.decode()
    assert 'data-outcome="password"' in wrong and "4 attempts left today" in wrong
    paid = sale(cashier, amount="60", code=code, txn_id="big", password="135790").content.decode()
    assert 'data-outcome="paid"' in paid and "¥60.00 paid" in paid  # the code was not used up by the refusals


def test_refusals_show_the_message(cashier, funded, student):
    from campuscard.payments import pos

    pos.daily_limit_set(actor=Actor.system("t"), person=student, limit=1_000)
    over = sale(cashier, amount="12", code="04A1B2C3", txn_id="r1")
    assert over.status_code == 403 and 'data-outcome="refused"' in over.content.decode()
    assert "Over today&#x27;s spending limit: ¥10.00 left today." in over.content.decode()
    for amount, message in (("0", "The amount must be positive."), ("1.234", "The amount must be positive."),
                            ("abc", "The amount must be positive.")):
        assert message in sale(cashier, amount=amount, code="04A1B2C3", txn_id="r2").content.decode()
    assert 'data-code="qr_invalid"' in sale(cashier, amount="1", code="hello", txn_id="r3").content.decode()
    assert Payment.objects.count() == 0


def test_refund_from_todays_list(cashier, funded, student):
    sale(cashier, amount="20", code="04A1B2C3", txn_id="p1")
    payment = Payment.objects.get()
    part = cashier.post("/devices/pos/refund/", {"payment": payment.pk, "amount": "5"}, HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert 'id="today-notice"' in html and "Refunded ¥5.00" in html and 'id="total-refunds">¥5.00' in html
    too_much = cashier.post("/devices/pos/refund/", {"payment": payment.pk, "amount": "16"},
                            HTTP_HX_REQUEST="true").content.decode()
    assert "¥15.00 refundable" in too_much
    cashier.post("/devices/pos/refund/", {"payment": payment.pk}, HTTP_HX_REQUEST="true")
    assert Payment.objects.get().refunded == 2_000
    sale(cashier, amount="7", code="04A1B2C3", txn_id="p2")
    late = Payment.objects.get(txn_id="p2")
    with clock.frozen_at(clock.now() + timedelta(days=1)):
        html = cashier.post("/devices/pos/refund/", {"payment": late.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "Merchants refund on the same day only" in html and Payment.objects.get(pk=late.pk).refunded == 0


def test_another_terminals_payment_cannot_be_refunded_here(cashier, funded, institution, canteen):
    from campuscard.payments.models import Terminal

    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-2",
                                     name="Window 4")
    Terminal.objects.create(device=device, merchant=canteen, counter="4号窗口")
    other = Client()
    other.post("/devices/enrol/pos/", {"code": "pos-2", "secret": secret})
    sale(other, amount="9", code="04A1B2C3", txn_id="o1")
    payment = Payment.objects.get()
    html = cashier.post("/devices/pos/refund/", {"payment": payment.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "No such payment." in html and Payment.objects.get().refunded == 0


def test_a_pos_device_without_terminal_and_a_revoked_one(institution, terminal, funded):
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-9",
                                     name="Spare")
    client = Client()
    client.cookies["django_language"] = "en"
    client.post("/devices/enrol/pos/", {"code": "pos-9", "secret": secret})
    page = client.get("/devices/pos/")
    assert page.status_code == 403 and "not registered as a POS terminal" in page.content.decode()
    term, term_secret = terminal
    cashier = Client()
    cashier.post("/devices/enrol/pos/", {"code": term.device.code, "secret": term_secret})
    device_revoke(actor=Actor.system("t"), device=term.device)
    assert cashier.post("/devices/pos/pay/", {"amount": "1", "code": "04A1B2C3", "txn_id": "z"}).status_code == 302
    assert Payment.objects.count() == 0
