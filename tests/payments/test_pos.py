"""Merchant payments at a POS terminal (PAY-1 … PAY-4): every rule, every refusal changes nothing."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.devices.signing import sign_headers
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.ledger.checks import ledger_check
from campuscard.payments import pos
from campuscard.payments.models import Appeal, DailyUsage, Payment, Terminal
from campuscard.payments.selectors import wallet_summary
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db


def qr(card):
    """A QR code works once per 30-second step, so tests that pay repeatedly tap the card instead."""
    return codes.current_code(qr_credential(card))


TAP = {"nfc_uid": "04A1B2C3"}


def pay(terminal, secret, body):
    raw = json.dumps(body).encode()
    path = "/api/v1/pos/payments"
    headers = sign_headers(device_code=terminal.device.code, secret=secret, method="POST", path=path, body=raw,
                           timestamp=int(clock.now().timestamp()))  # the terminal's clock moves with the test's
    return Client().post(path, data=raw, content_type="application/json", headers=headers)


def available(person):
    return wallet_summary(person).balances.available


def test_qr_payment_over_http_is_idempotent_on_the_txn_id(terminal, funded, student):
    term, secret = terminal
    body = {"txn_id": "t1", "amount": 1_250, "code": qr(funded)}
    first = pay(term, secret, body)
    assert first.status_code == 201, first.content
    receipt = first.json()
    assert receipt["balance_after"] == 48_750 and receipt["holder"].startswith("张")
    again = pay(term, secret, body)  # the POS retries after a timeout: same answer, no second charge
    assert again.status_code == 201 and again.json()["at"] == receipt["at"]
    assert available(student) == 48_750 and Payment.objects.count() == 1
    other = pay(term, secret, {**body, "amount": 1_300})
    assert other.status_code == 409 and other.json()["code"] == "payment_txn_reused"
    assert ledger_check().ok


def test_nfc_payment_and_refusals_change_nothing(terminal, funded, student, other_institution):
    term, secret = terminal
    assert pay(term, secret, {"txn_id": "n1", "amount": 500, "nfc_uid": "04a1b2c3"}).status_code == 201
    cases = [
        ({"txn_id": "x1", "amount": 500, "code": "garbage"}, "qr_invalid"),
        ({"txn_id": "x2", "amount": 500, "nfc_uid": "FFFF"}, "credential_unknown"),
    ]
    for body, code in cases:
        response = pay(term, secret, body)
        assert response.json()["code"] == code
    card_report_lost(actor=Actor.system("t"), card=funded, channel="portal")
    assert pay(term, secret, {"txn_id": "x3", "amount": 500, "code": qr(funded)}).json()["code"] == "card_lost"
    assert pay(term, secret, {"txn_id": "x4", "amount": 500, "nfc_uid": "04A1B2C3"}).json()["code"] == "card_lost"
    assert available(student) == 49_500 and Payment.objects.count() == 1


def test_daily_limit_shows_what_remains(terminal, funded, student):
    term, secret = terminal
    assert pay(term, secret, {"txn_id": "a", "amount": 4_900, **TAP}).status_code == 201
    pos.daily_limit_set(actor=Actor.system("t"), person=student, limit=6_000)
    refused = pay(term, secret, {"txn_id": "b", "amount": 1_200, **TAP})
    assert refused.status_code == 403 and refused.json()["code"] == "daily_limit_exceeded"
    assert "¥11.00" in refused.json()["message"]
    assert pay(term, secret, {"txn_id": "c", "amount": 1_100, **TAP}).status_code == 201
    with clock.frozen_at(clock.now() + timedelta(days=1)):
        assert pay(term, secret, {"txn_id": "d", "amount": 1_000, **TAP}).status_code == 201


def test_payment_password_rules(terminal, funded, student):
    term, secret = terminal
    user = holder_user_ensure(person=student)
    big = {"amount": 6_000}
    assert pay(term, secret, {"txn_id": "p0", **big, **TAP}).json()["code"] == "payment_password_unset"
    payment_password_set(user=user, login_password=ID_ALICE[-6:], new_payment_password="135790")
    assert pay(term, secret, {"txn_id": "p1", **big, **TAP}).json()["code"] == "payment_password_required"
    ok = pay(term, secret, {"txn_id": "p2", **big, **TAP, "password": "135790"})
    assert ok.status_code == 201
    for attempt in range(5):
        wrong = pay(term, secret, {"txn_id": f"w{attempt}", **big, **TAP, "password": "000000"})
        assert wrong.json()["code"] == "payment_password_incorrect"
    locked = pay(term, secret, {"txn_id": "p3", **big, **TAP, "password": "135790"})
    assert locked.json()["code"] == "payment_password_locked"
    small = pay(term, secret, {"txn_id": "p4", "amount": 800, **TAP})
    assert small.status_code == 201  # password-free payments go on
    pos.payment_password_unlock(actor=Actor.system("t"), person=student)
    assert pay(term, secret, {"txn_id": "p5", **big, **TAP, "password": "135790"}).status_code == 201
    with clock.frozen_at(clock.now() + timedelta(days=31)):
        due = pay(term, secret, {"txn_id": "p6", **big, **TAP, "password": "135790"})
        assert due.json()["code"] == "payment_password_expired"
        assert pay(term, secret, {"txn_id": "p7", "amount": 900, **TAP}).status_code == 201


def test_the_window_unlock_lets_password_payments_through_again(terminal, funded, student, institution,
                                                                make_operator):
    """#17 item 10: the lock's message sends the holder to the window; the operator's unlock there works."""
    term, secret = terminal
    payment_password_set(user=holder_user_ensure(person=student), login_password=ID_ALICE[-6:],
                         new_payment_password="135790")
    big = {"amount": 6_000, **TAP}
    for attempt in range(5):
        pay(term, secret, {"txn_id": f"w{attempt}", **big, "password": "000000"})
    assert pay(term, secret, {"txn_id": "l", **big, "password": "135790"}).json()["code"] == "payment_password_locked"
    desk = Client()
    desk.force_login(make_operator(institution, "card_center_operator", "window-1"))
    desk.post(f"/backoffice/identity/person/{student.pk}/unlock-payment-password/")
    assert pay(term, secret, {"txn_id": "ok", **big, "password": "135790"}).status_code == 201


def test_offline_codes_only_for_password_free_amounts(terminal, funded):
    term, secret = terminal
    batch = codes.offline_codes_issue(credential=qr_credential(funded))
    assert pay(term, secret, {"txn_id": "o1", "amount": 5_001, "code": batch[0]}).json()["code"] == \
        "offline_code_over_limit"
    assert pay(term, secret, {"txn_id": "o2", "amount": 5_000, "code": batch[0]}).status_code == 201


def test_device_signature_refusals(terminal, funded, institution):
    term, secret = terminal
    body = {"txn_id": "s1", "amount": 100, **TAP}
    assert pay(term, "f" * 64, body).json()["code"] == "device_auth_failed"
    kiosk, kiosk_secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.KIOSK, code="k",
                                          name="k")
    assert pay(Terminal(device=kiosk), kiosk_secret, body).json()["code"] == "terminal_unknown"
    device_revoke(actor=Actor.system("t"), device=term.device)
    assert pay(term, secret, body).json()["code"] == "device_revoked"
    assert Payment.objects.count() == 0


def test_refund_same_day_partial_then_full(terminal, funded, student):
    term, secret = terminal
    pay(term, secret, {"txn_id": "r1", "amount": 2_000, **TAP})
    payment = Payment.objects.get()
    pos.payment_refund(actor=Actor.system("t"), payment=payment, amount=500)
    with pytest.raises(Exception, match="refund_exceeds_payment"):
        pos.payment_refund(actor=Actor.system("t"), payment=payment, amount=1_501)
    pos.payment_refund(actor=Actor.system("t"), payment=payment)
    assert available(student) == 50_000 and Payment.objects.get().refunded == 2_000
    pay(term, secret, {"txn_id": "r2", "amount": 700, **TAP})
    later = Payment.objects.get(txn_id="r2")
    with clock.frozen_at(clock.now() + timedelta(days=1)), pytest.raises(Exception, match="refund_window_closed"):
        pos.payment_refund(actor=Actor.system("t"), payment=later)
    assert ledger_check().ok


def test_appeal_within_72_hours(terminal, funded, student, make_operator, institution):
    term, secret = terminal
    pay(term, secret, {"txn_id": "m1", "amount": 1_500, **TAP})
    pay(term, secret, {"txn_id": "m2", "amount": 1_000, **TAP})
    first, second = Payment.objects.order_by("txn_id")
    appeal = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=first, reason="charged twice")
    with pytest.raises(Exception, match="appeal_exists"):
        pos.appeal_open(actor=Actor.system("holder"), person=student, payment=first, reason="again")
    operator = make_operator(institution, "card_center_operator")
    with pytest.raises(Exception, match="decision_reason_required"):
        pos.appeal_decide(actor=Actor.by_user(operator), appeal=appeal, accept=False)
    pos.appeal_decide(actor=Actor.by_user(operator), appeal=appeal, accept=True)
    assert Appeal.objects.get().state == "accepted" and available(student) == 50_000 - 1_000
    with clock.frozen_at(clock.now() + timedelta(hours=73)), pytest.raises(Exception, match="appeal_window_closed"):
        pos.appeal_open(actor=Actor.system("holder"), person=student, payment=second, reason="late")
    assert DailyUsage.objects.get(person=student).spent == 2_500
    assert ledger_check().ok


def test_refund_resend_with_the_same_key_refunds_once(terminal, funded, student):
    term, secret = terminal
    pay(term, secret, {"txn_id": "k1", "amount": 2_000, **TAP})
    payment = Payment.objects.get()
    first = pos.payment_refund(actor=Actor.system("t"), payment=payment, amount=500, key="r-1")
    again = pos.payment_refund(actor=Actor.system("t"), payment=payment, amount=500, key="r-1")
    assert first.pk == again.pk and Payment.objects.get().refunded == 500
    with pytest.raises(Exception, match="idempotency_key_reused"):
        pos.payment_refund(actor=Actor.system("t"), payment=payment, amount=600, key="r-1")
    assert available(student) == 48_500 and ledger_check().ok
