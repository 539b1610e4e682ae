"""The device lane (api.lane): the rush endpoints answered in front of Django, with the same
answers, codes and languages as Django/ninja gives them."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.devices.signing import sign_headers
from campuscard.payments import fastpath
from campuscard.payments.models import Payment
from tests.helpers import served_post

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/api/v1/pos/payments"


def signed(terminal, secret, body, **extra):
    raw = json.dumps(body).encode()
    return raw, {**sign_headers(device_code=terminal.device.code, secret=secret, method="POST", path=PATH,
                                body=raw), **extra}


def test_a_lane_receipt_is_the_receipt_django_gives(terminal, funded, student):
    terminal, secret = terminal
    raw, headers = signed(terminal, secret, {"txn_id": "a1", "amount": 800, "code": codes.current_code(
        qr_credential(funded))})
    hits = fastpath.stats["hits"]
    served = served_post(PATH, raw, headers)
    assert served.status_code == 201
    # The same request again: a spent nonce is refused, whoever answers.
    again = served_post(PATH, raw, headers)
    assert again.status_code == 401 and again.json()["code"] == "device_request_replayed"
    # A retry with a new nonce: the stored payment, as Django/ninja renders it.
    raw2, headers2 = signed(terminal, secret, json.loads(raw))
    replay = Client().post(PATH, data=raw2, content_type="application/json", headers=headers2)
    assert replay.status_code == 201 and replay.json() == served.json()
    assert served.headers["Content-Type"].startswith("application/json")
    assert Payment.objects.count() == 1
    if connection.vendor == "postgresql":
        assert fastpath.stats["hits"] == hits + 1  # answered by the fast path, not handed over


def test_refusals_are_django_s_in_the_holder_s_language(terminal, funded):
    terminal, secret = terminal
    raw, headers = signed(terminal, secret, {"txn_id": "b1", "amount": 800, "code": "CC1.AAAAAAAAAA.12345678"},
                          **{"Accept-Language": "en"})
    refused = served_post(PATH, raw, headers)
    assert refused.json()["code"] == "credential_unknown"
    assert refused.headers["Content-Language"] == "en" and refused.json()["message"].isascii()
    raw, headers = signed(terminal, secret, {"txn_id": "b2", "amount": 800, "code": "CC1.AAAAAAAAAA.12345678"})
    assert served_post(PATH, raw, headers).headers["Content-Language"] == "zh-hans"
    bad = served_post(PATH, raw, {**headers, "X-Signature": "0" * 64})
    assert bad.status_code == 401 and bad.json()["code"] == "device_auth_failed"
    assert Payment.objects.count() == 0


def test_a_header_cannot_pass_for_the_lane_s_mark(terminal, funded):
    terminal, secret = terminal
    raw, headers = signed(terminal, secret, {"txn_id": "c1", "amount": 800, "code": codes.current_code(
        qr_credential(funded))})
    forged = served_post(PATH, raw, {**headers, "X-Signature": "0" * 64, "campuscard.verified_device": "1"})
    assert forged.status_code == 401 and Payment.objects.count() == 0


def test_an_unexpected_failure_is_answered_like_the_api_answers_it(terminal, funded, monkeypatch):
    terminal, secret = terminal

    def broken(**_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fastpath, "eligible", lambda **_kwargs: True)
    monkeypatch.setattr(fastpath, "try_pay", broken)
    raw, headers = signed(terminal, secret, {"txn_id": "e1", "amount": 800, "code": codes.current_code(
        qr_credential(funded))})
    failed = served_post(PATH, raw, headers)
    assert failed.status_code == 500 and failed.json()["code"] == "internal_error"
    assert failed.headers["Content-Language"] == "zh-hans" and not failed.json()["message"].isascii()
    assert Payment.objects.count() == 0


# --- the open pay-code pages' status question (#17 item 3) --------------------------------------------------

STATUS = "/api/v1/cards/code-status"


def test_a_pay_code_page_learns_its_code_paid_from_the_lane_as_from_django(terminal, funded):
    terminal, secret = terminal
    credential = qr_credential(funded)
    code = codes.current_code(credential)
    ask = json.dumps({"ticket": codes.status_ticket(credential), "code": code}).encode()
    assert served_post(STATUS, ask, {}).json() == {"used": False, "payment": None}
    raw, headers = signed(terminal, secret, {"txn_id": "s1", "amount": 800, "code": code})
    assert served_post(PATH, raw, headers).status_code == 201
    lane = served_post(STATUS, ask, {})
    django = Client().post(STATUS, data=ask, content_type="application/json")
    assert lane.status_code == django.status_code == 200
    assert lane.json() == django.json()
    paid = lane.json()["payment"]
    assert lane.json()["used"] and paid["amount"] == "¥8.00" and paid["merchant"] == terminal.merchant.name
    assert paid["balance"] == "¥" + f"{Payment.objects.get().balance_after / 100:.2f}"


def test_a_forged_or_foreign_ticket_learns_nothing(funded, student):
    credential = qr_credential(funded)
    code = codes.current_code(credential)
    forged = codes.status_ticket(credential)[:-2] + "xx"
    for ticket in (forged, "", "1:abc:def"):
        refused = served_post(STATUS, json.dumps({"ticket": ticket, "code": code}).encode(), {"Accept-Language": "en"})
        assert refused.status_code == 401 and refused.json()["code"] == "pay_code_ticket_invalid"
    # a body that does not validate goes on to Django, which explains it
    assert served_post(STATUS, b'{"code": 1}', {}).status_code == 422
