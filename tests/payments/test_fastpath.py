"""The one-statement payment path on PostgreSQL decides exactly like the ordinary path (PAY-1 … PAY-3)."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_issue, card_report_lost
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.devices.signing import sign_headers
from campuscard.ledger.checks import ledger_check
from campuscard.payments import fastpath, pos
from campuscard.payments.models import DailyUsage, Payment, Terminal
from campuscard.payments.selectors import wallet_summary
from campuscard.payments.services import recharge_cash
from tests.helpers import served_post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's; SQLite always takes the ordinary path")


@pytest.fixture
def setup(institution, student):
    canteen = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="c", name="食堂", category="canteen")
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-f",
                                     name="POS")
    terminal = Terminal.objects.create(device=device, merchant=canteen)
    card = card_issue(actor=Actor.system("t"), person=student)
    recharge_cash(channel="window", person=student, amount=10_000, key="fund")
    fastpath.stats.update(hits=0, replays=0, handovers=0)
    return terminal, secret, card


ENTRY = {}


@pytest.fixture(autouse=True, params=["lane", "django"])
def entry(request):
    """Every test twice: through the device lane (production WSGI) and through Django/ninja alone."""
    ENTRY["name"] = request.param
    return request.param


def pay(terminal, secret, body):
    raw = json.dumps(body).encode()
    path = "/api/v1/pos/payments"
    headers = sign_headers(device_code=terminal.device.code, secret=secret, method="POST", path=path, body=raw)
    if ENTRY["name"] == "lane":
        return served_post(path, raw, headers)
    return Client().post(path, data=raw, content_type="application/json", headers=headers)


def test_fast_payment_writes_everything_once(setup, student):
    terminal, secret, card = setup
    code = codes.current_code(qr_credential(card))
    first = pay(terminal, secret, {"txn_id": "f1", "amount": 1_234, "code": code})
    assert first.status_code == 201 and first.json()["balance_after"] == 8_766
    assert fastpath.stats == {"hits": 1, "replays": 0, "handovers": 0}
    retry = pay(terminal, secret, {"txn_id": "f1", "amount": 1_234, "code": code})  # the stored receipt
    assert retry.status_code == 201 and retry.json() == first.json()
    assert fastpath.stats == {"hits": 1, "replays": 1, "handovers": 0}
    other = pay(terminal, secret, {"txn_id": "f1", "amount": 999, "code": code})  # same txn id, another amount
    assert other.json()["code"] == "payment_txn_reused"
    payment = Payment.objects.get()
    assert payment.amount == 1_234 and DailyUsage.objects.get(person=student).spent == 1_234
    reuse = pay(terminal, secret, {"txn_id": "f2", "amount": 100, "code": code})  # same code, new txn
    assert reuse.json()["code"] == "qr_replayed"
    assert wallet_summary(student).balances.available == 8_766
    assert ledger_check().ok


def test_fast_path_hands_refusals_to_the_ordinary_path(setup, student):
    terminal, secret, card = setup
    pos.daily_limit_set(actor=Actor.system("t"), person=student, limit=500)
    over = pay(terminal, secret, {"txn_id": "l1", "amount": 600, "code": codes.current_code(qr_credential(card))})
    assert over.json()["code"] == "daily_limit_exceeded"
    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    lost = pay(terminal, secret, {"txn_id": "l2", "amount": 100, "code": codes.current_code(qr_credential(card))})
    assert lost.json()["code"] == "card_lost"
    assert fastpath.stats["hits"] == 0 and Payment.objects.count() == 0
    assert DailyUsage.objects.filter(person=student, spent__gt=0).count() == 0


def test_revoked_terminal_is_refused_even_with_cached_facts(setup):
    terminal, secret, card = setup
    fastpath.terminal_facts(terminal.device.code)  # cached
    device_revoke(actor=Actor.system("t"), device=terminal.device)
    response = pay(terminal, secret, {"txn_id": "r1", "amount": 100, "code": codes.current_code(qr_credential(card))})
    assert response.status_code == 401 and response.json()["code"] == "device_revoked"
    assert Payment.objects.count() == 0


def test_concurrent_duplicates_charge_once(setup, student):
    terminal, secret, card = setup
    code = codes.current_code(qr_credential(card))
    results = []

    def attempt():
        results.append(pay(terminal, secret, {"txn_id": "d1", "amount": 700, "code": code}).status_code)
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 6
    assert Payment.objects.count() == 1 and wallet_summary(student).balances.available == 9_300
    assert ledger_check().ok
