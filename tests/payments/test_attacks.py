"""Defects found when the payment API was attacked and fault-tested (#15): each refusal is clean and
changes nothing, and money that goes back reaches the holder."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from campuscard.cards.selectors import live_wallet
from campuscard.cards.services import balance_moves_run, card_replace
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.ledger.checks import ledger_check, ledger_verify
from campuscard.ledger.models import Account
from campuscard.payments import pos
from campuscard.payments.models import Appeal, Payment, Refund, Terminal
from campuscard.payments.selectors import wallet_summary

pytestmark = pytest.mark.django_db

TAP = {"nfc_uid": "04A1B2C3"}


def signed(terminal, secret, method, path, body):
    raw = json.dumps(body).encode()
    headers = sign_headers(device_code=terminal.device.code, secret=secret, method=method, path=path, body=raw,
                           timestamp=int(clock.now().timestamp()))
    return Client().generic(method, path, data=raw, content_type="application/json", headers=headers)


def pay(terminal, secret, body):
    return signed(terminal, secret, "POST", "/api/v1/pos/payments", body)


@pytest.fixture
def second_terminal(institution, canteen):
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-4",
                                     name="Window 4")
    return Terminal.objects.create(device=device, merchant=canteen, counter="4号窗口"), secret


def test_a_refund_is_looked_up_by_the_terminal_not_the_merchant(terminal, second_terminal, funded, student):
    term, secret = terminal
    other, other_secret = second_terminal
    assert pay(term, secret, {"txn_id": "0001", "amount": 1_500, **TAP}).status_code == 201
    # Terminal 04 has no payment "0001" of its own: it must not refund terminal 03's.
    refused = signed(other, other_secret, "POST", "/api/v1/pos/payments/0001/refund", {})
    assert refused.status_code == 404 and refused.json()["code"] == "payment_not_found"
    assert Payment.objects.get().refunded == 0 and not Refund.objects.exists()
    own = signed(term, secret, "POST", "/api/v1/pos/payments/0001/refund", {"amount": 500})
    assert own.status_code == 200 and own.json()["refunded"] == 500


@pytest.mark.parametrize("txn_id", ["a\x00b", "\x00", "a b", "收银-1", "-leading", "x" * 65, ""])
def test_a_transaction_id_outside_its_alphabet_is_refused_and_charges_nothing(terminal, funded, student, txn_id):
    term, secret = terminal
    response = pay(term, secret, {"txn_id": txn_id, "amount": 1_000, **TAP})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    with pytest.raises(Exception, match="txn_id_invalid|idempotency_key_required"):
        pos.payment_authorize(terminal=term, txn_id=txn_id, amount=1_000, **TAP)
    assert not Payment.objects.exists() and wallet_summary(student).balances.available == 50_000
    assert ledger_check().ok and ledger_verify().ok


@pytest.mark.parametrize("amount", [True, "100", 100.0, 1.5, None, [100], -1, 0])
def test_money_fields_are_strict_integers(terminal, funded, student, amount):
    term, secret = terminal
    response = pay(term, secret, {"txn_id": "strict", "amount": amount, **TAP})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    with pytest.raises(Exception, match="payment_amount_invalid"):
        pos.payment_authorize(terminal=term, txn_id="strict", amount=amount, **TAP)
    assert pay(term, secret, {"txn_id": "ok", "amount": 1_000, **TAP}).status_code == 201
    refund = signed(term, secret, "POST", "/api/v1/pos/payments/ok/refund", {"amount": amount})
    if amount is None:  # "everything not yet refunded"
        assert refund.status_code == 200
    else:
        assert refund.status_code == 422 and refund.json()["code"] == "validation_error"
    assert Payment.objects.count() == 1


def test_an_accepted_appeal_after_a_replacement_refunds_into_the_new_card(terminal, funded, student, make_operator,
                                                                         institution):
    term, secret = terminal
    assert pay(term, secret, {"txn_id": "m1", "amount": 1_500, **TAP}).status_code == 201
    payment = Payment.objects.get()
    appeal = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=payment, reason="not my lunch")
    new_card = card_replace(actor=Actor.system("t"), card=funded, physical=False, channel="window", fee=0)
    with clock.frozen_at(clock.now() + timedelta(hours=49)):
        balance_moves_run()  # the old wallet's balance moved on, the old wallet closed
    assert Account.objects.get(pk=funded.wallet_account_id).status == Account.Status.CLOSED
    operator = make_operator(institution, "card_center_operator")
    pos.appeal_decide(actor=Actor.by_user(operator), appeal=appeal, accept=True)
    assert Appeal.objects.get().state == Appeal.State.ACCEPTED
    assert Payment.objects.get().refunded == 1_500
    assert live_wallet(funded).pk == new_card.wallet_account_id
    assert wallet_summary(student).balances.available == 50_000  # all of it on the new card
    assert ledger_check().ok


def test_an_appeal_that_cannot_refund_is_not_accepted(terminal, funded, student, make_operator, institution,
                                                      monkeypatch):
    term, secret = terminal
    assert pay(term, secret, {"txn_id": "m2", "amount": 900, **TAP}).status_code == 201
    appeal = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=Payment.objects.get(), reason="twice")

    def broken(**_kwargs):
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(pos.ledger, "transfer_reverse", broken)
    with pytest.raises(RuntimeError):
        pos.appeal_decide(actor=Actor.by_user(make_operator(institution, "card_center_operator")), appeal=appeal, accept=True)
    assert Appeal.objects.get().state == Appeal.State.OPEN and Payment.objects.get().refunded == 0
