"""Faults under load (#18 item 1): during a lunch rush of signed POS payments over HTTP against the
production server (granian, the device lane), with every terminal retrying an unanswered payment with the
same transaction id, ``kill -9`` of one web worker, of the whole web server (then started again), and a
PostgreSQL restart — on a cluster these tests make. Afterwards every acknowledged payment exists exactly
once, none doubled, no wallet is negative and ``campuscard ledger check`` / ``verify`` are clean. The same
for gate decisions: every acknowledged decision is logged exactly once (PAY-1, ACC-5, LED-5)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.faults import rush

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def faults_for(drill, server: rush.Server) -> dict:
    def worker_kill_9():
        server.kill_worker()

    def server_kill_9_and_restart():
        server.kill()
        time.sleep(1)  # the terminals find nothing listening for a moment
        server.start()

    def postgresql_restart():
        drill.cluster.restart(mode="immediate")  # a crash and recovery, not a polite shutdown

    return {"worker": worker_kill_9, "server": server_kill_9_and_restart, "postgres": postgresql_restart}


def counts_line(kind: str, fault: str, result: dict, tally: rush.Tally) -> str:
    seen = tally.summary()
    return (f"{kind} / {fault}: attempted {result['attempted']}, acknowledged {result['acknowledged']}, "
            f"found once {result['found_once']}, doubled {result['doubled']}, lost {result['lost']} "
            f"(sends {seen['sends']}, retries {seen['retries']}, refused {seen['refused']}, "
            f"given up {seen['given_up']})")


@pytest.mark.parametrize("fault", ["worker", "server", "postgres"])
def test_no_acknowledged_payment_is_lost_or_doubled(drill, fault, show):
    url = drill.cluster.url("pay")
    before = drill.mark(drill.cluster, "pay")
    server = rush.Server(rush.server_env(url, drill.data_dir), rush.free_port())
    server.start()
    tally, stop = rush.Tally(), threading.Event()
    devices = rush.pos_devices(drill.pay, port=server.port, tally=tally, stop=stop, codes=drill.codes,
                               seed={"worker": 1, "server": 2, "postgres": 3}[fault])
    try:
        report = rush.run_rush(devices, tally, [faults_for(drill, server)[fault]])
    finally:
        stop.set()
        server.stop()
    run_file = drill.files / f"pay-{fault}.json"
    run_file.write_text(json.dumps({"before": before, "acked": list(tally.acked.values()),
                                    "planned": tally.planned}))
    result = drill.dbside("verify-pay", str(run_file), url=url)
    show(counts_line("payments", fault, result, tally), report)
    assert tally.given_up == [], "a terminal never got an answer"
    assert report[0]["acked_after_fault"] > 0, "no payment was acknowledged after the fault"
    assert result["acknowledged"] > 100
    assert result["found_once"] == result["acknowledged"]
    assert (result["lost"], result["doubled"], result["wrong_amount"], result["phantom"]) == (0, 0, 0, 0)
    assert result["committed_unanswered"] == 0  # every payment that happened was answered to its terminal
    assert result["negative_wallets"] == 0
    assert (result["bench_lost"], result["bench_doubled"]) == (0, 0)
    assert result["ledger_check"] and result["ledger_verify"]


def test_every_acknowledged_gate_decision_is_logged_once(drill, show):
    url = drill.cluster.url("gate")
    before = drill.mark(drill.cluster, "gate")
    server = rush.Server(rush.server_env(url, drill.data_dir), rush.free_port())
    server.start()
    tally, stop = rush.Tally(), threading.Event()
    devices = rush.gate_devices(drill.gate, port=server.port, tally=tally, stop=stop, seed=11)
    faults = faults_for(drill, server)
    try:
        report = rush.run_rush(devices, tally, [faults["worker"], faults["server"], faults["postgres"]],
                               before=3.0, after=3.0)
    finally:
        stop.set()
        server.stop()
    run_file = drill.files / "gate.json.run"
    run_file.write_text(json.dumps({"before": before, "acked": list(tally.acked.values()),
                                    "attempted": tally.attempted}))
    result = drill.dbside("verify-gate", str(run_file), url=url)
    show(counts_line("gate decisions", "worker, server, postgres", result, tally), report,
          f"logged but unanswered {result['logged_unanswered']}")
    assert tally.given_up == []
    assert all(entry["acked_after_fault"] > 0 for entry in report)
    assert result["acknowledged"] > 100
    assert result["found_once"] == result["acknowledged"]
    assert (result["lost"], result["doubled"]) == (0, 0)
    assert (result["bench_missing"], result["bench_wrong_rule"]) == (0, 0)
    # a decision logged whose answer the crash swallowed is refused as a replay when resent, never logged again
    assert set(tally.refused.values()) <= {"device_request_replayed"}
