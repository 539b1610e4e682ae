"""Prometheus metrics (#18 item 8): recorded in the domain entry points, so the device lane's answers are
counted; summed over several processes in multiprocess mode; /metrics only for the allowed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_report_lost
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.devices.signing import sign_headers
from campuscard.ledger.checks import ledger_check
from campuscard.payments.models import Payment
from tests.access.conftest import NOON, holder, signed_post
from tests.helpers import served_post

pytestmark = pytest.mark.django_db(transaction=True)
PAY = "/api/v1/pos/payments"
DECIDE = "/api/v1/access/gate/decide"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def pay(terminal, secret, body):
    raw = json.dumps(body).encode()
    return served_post(PAY, raw, sign_headers(device_code=terminal.device.code, secret=secret, method="POST",
                                              path=PAY, body=raw))


def metrics_page(**headers) -> str:
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_payment_through_the_lane_is_counted_by_outcome_and_timed(terminal, funded):
    terminal, secret = terminal
    approved = value("campuscard_payments_total", outcome="approved", code="ok")
    declined = value("campuscard_payments_total", outcome="declined", code="credential_unknown")
    timed = value("campuscard_payment_seconds_count")
    paid = pay(terminal, secret, {"txn_id": "m1", "amount": 800, "code": codes.current_code(qr_credential(funded))})
    assert paid.status_code == 201 and Payment.objects.count() == 1
    assert value("campuscard_payments_total", outcome="approved", code="ok") == approved + 1
    assert value("campuscard_payment_seconds_count") == timed + 1
    assert value("campuscard_payment_seconds_sum") > 0
    # A refusal: the lane hands it to Django, which runs the entry point again to word it — counted once.
    refused = pay(terminal, secret, {"txn_id": "m2", "amount": 800, "code": "CC1.AAAAAAAAAA.12345678"})
    assert refused.json()["code"] == "credential_unknown"
    assert value("campuscard_payments_total", outcome="declined", code="credential_unknown") == declined + 1
    assert value("campuscard_payment_seconds_count") == timed + 2
    page = metrics_page()
    assert re.search(r'^campuscard_payments_total\{code="ok",outcome="approved"\} [1-9]', page, re.M)
    assert 'campuscard_payment_seconds_bucket{le="0.005"}' in page
    assert "django_http_requests_total_by_method_total" in page  # django-prometheus: the request side


def test_gate_decisions_through_the_lane_are_counted_by_outcome_and_rule(institution, place, gate):
    device, secret = gate
    _person, card, uid = holder(institution)
    admitted = value("campuscard_gate_decisions_total", outcome="admitted", rule="admit_teaching")
    refused = value("campuscard_gate_decisions_total", outcome="refused", rule="refuse_card_lost")
    timed = value("campuscard_gate_decision_seconds_count")
    with frozen_at(NOON):
        assert signed_post(device, secret, DECIDE, {"zone": "teach-1", "nfc_uid": uid}, served=True).json()["admitted"]
        card_report_lost(actor=Actor.system("t"), card=card, channel="kiosk")
        assert not signed_post(device, secret, DECIDE, {"zone": "teach-1", "nfc_uid": uid}, served=True).json()["admitted"]
    assert value("campuscard_gate_decisions_total", outcome="admitted", rule="admit_teaching") == admitted + 1
    assert value("campuscard_gate_decisions_total", outcome="refused", rule="refuse_card_lost") == refused + 1
    assert value("campuscard_gate_decision_seconds_count") == timed + 2


def test_queue_depth_and_the_last_ledger_check_are_read_at_scrape_time():
    page = metrics_page()
    assert 'campuscard_ledger_check_ok{kind="check"} -1.0' in page  # never run
    assert re.search(r'^campuscard_queue_jobs\{state="pending"\} \d', page, re.M)
    run = ledger_check()
    page = metrics_page()
    assert run.ok and 'campuscard_ledger_check_ok{kind="check"} 1.0' in page
    assert 'campuscard_ledger_check_problems{kind="check"} 0.0' in page
    finished = re.search(r'^campuscard_ledger_check_finished_seconds\{kind="check"\} (\S+)$', page, re.M)
    assert finished and abs(float(finished[1]) - run.finished_at.timestamp()) < 1


SCRIPT = """
import sys
import django
django.setup()
from campuscard.core import metrics
for _ in range(int(sys.argv[1])):
    metrics.PAYMENT.record(("approved", "ok"), 0.002)
metrics.GATE.record(("refused", "refuse_card_lost"), 0.001)
"""


def test_several_processes_report_together_in_multiprocess_mode(tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "campuscard.settings_test"}
    for count in (3, 4):  # two worker processes, each with its own files
        subprocess.run([sys.executable, "-c", SCRIPT, str(count)], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    page = metrics_page()
    assert 'campuscard_payments_total{code="ok",outcome="approved"} 7.0' in page
    assert 'campuscard_gate_decisions_total{outcome="refused",rule="refuse_card_lost"} 2.0' in page
    assert "campuscard_payment_seconds_count 7.0" in page


def test_metrics_only_for_the_allowed_network_or_the_token(settings):
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
    # relayed by a proxy on the allowed host: the proxy's address proves nothing
    assert Client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert outside.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client().get("/metrics").status_code == 404  # 127.0.0.1 no longer listed


def test_a_source_that_fails_costs_its_own_figures_not_the_page(monkeypatch):
    from campuscard.core import metrics

    def broken():
        raise RuntimeError("database gone")
        yield  # a generator, like the others

    monkeypatch.setattr(metrics, "_scraped", [*metrics._scraped, broken])
    page = metrics_page()
    assert 'campuscard_scrape_source_up{source="broken"} 0.0' in page
    assert 'campuscard_scrape_source_up{source="queue_depth"} 1.0' in page
    assert "campuscard_queue_jobs" in page
