"""Structured logs with a request id (#18 item 8): JSON lines, the id from X-Request-ID or generated,
answered in the response and present in every line of the request — Django's and the device lane's."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.core import logs
from campuscard.devices.signing import sign_headers
from campuscard.payments import fastpath
from tests.helpers import served_post

PAY = "/api/v1/pos/payments"


@pytest.fixture
def lines():
    """What the root logger writes during the test, through the JSON formatter settings.py configures."""
    config = logs.logging_config(log_format="json", level="INFO")["formatters"]["structured"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(config["()"](**{k: v for k, v in config.items() if k != "()"}))
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.django_db
def test_every_line_of_a_django_request_carries_the_request_id_it_answers(lines):
    response = Client().get("/no-such-page-here/", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "proxy-7f3a.1"
    written = lines()
    assert {"django.request", "django_structlog.middlewares.request"} <= {line["logger"] for line in written}
    assert all(line["request_id"] == "proxy-7f3a.1" for line in written), written
    finished = next(line for line in written if line["event"] == "request_finished")
    assert finished["code"] == 404 and finished["level"] == "warning" and finished["timestamp"]


@pytest.mark.django_db
def test_a_missing_or_unusable_id_is_replaced_by_a_new_one(lines):
    first = Client().get("/healthz")
    odd = Client().get("/healthz", headers={"X-Request-ID": 'x" injected\\n{"a":1}'})
    ids = {first.headers["X-Request-ID"], odd.headers["X-Request-ID"]}
    assert len(ids) == 2 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert {line["request_id"] for line in lines() if line["event"] == "request_finished"} == ids


@pytest.mark.django_db(transaction=True)
def test_the_device_lane_answers_the_id_and_logs_with_it(terminal, funded, monkeypatch, lines):
    terminal, secret = terminal

    def post(body, request_id):
        raw = json.dumps(body).encode()
        headers = sign_headers(device_code=terminal.device.code, secret=secret, method="POST", path=PAY, body=raw)
        return served_post(PAY, raw, {**headers, "X-Request-ID": request_id})

    paid = post({"txn_id": "l1", "amount": 800, "code": codes.current_code(qr_credential(funded))}, "pos-3-l1")
    assert paid.status_code == 201 and paid.headers["X-Request-ID"] == "pos-3-l1"
    refused = post({"txn_id": "l2", "amount": 800, "code": "CC1.AAAAAAAAAA.12345678"}, "pos-3-l2")
    assert refused.json()["code"] == "credential_unknown" and refused.headers["X-Request-ID"] == "pos-3-l2"
    # what the lane leaves to Django (a body that does not validate) keeps the lane's id
    invalid = post({"txn_id": "l2", "amount": "800", "code": "x"}, "pos-3-l2b")
    assert invalid.status_code == 422 and invalid.headers["X-Request-ID"] == "pos-3-l2b"
    assert {line["request_id"] for line in lines() if line["event"] == "request_finished"} == {"pos-3-l2b"}

    def broken(**_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fastpath, "eligible", lambda **_kwargs: True)
    monkeypatch.setattr(fastpath, "try_pay", broken)
    failed = post({"txn_id": "l3", "amount": 800, "code": codes.current_code(qr_credential(funded))}, "pos-3-l3")
    assert failed.status_code == 500 and failed.headers["X-Request-ID"] == "pos-3-l3"
    error = next(line for line in lines() if line["event"].startswith("device lane failed"))
    assert error["request_id"] == "pos-3-l3" and error["level"] == "error" and error["exception"]


def test_console_lines_for_a_terminal():
    config = logs.logging_config(log_format="console", level="INFO")["formatters"]["structured"]
    formatter = config["()"](**{k: v for k, v in config.items() if k != "()"})
    record = logging.LogRecord("campuscard.test", logging.WARNING, __file__, 1, "paid %s", ("¥8.00",), None)
    line = formatter.format(record)
    assert "paid ¥8.00" in line and "warning" in line and not line.startswith("{")
