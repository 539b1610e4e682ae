"""What the metrics cost a payment (#18 item 8; docs/benchmarks.md, "Metrics"): the decorator's own time,
single-process and in multiprocess mode, and real payments in-process with and without it (the entry
point's ``__wrapped__`` is the function undecorated). Prints the figures; fails only past 20 µs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

from campuscard.cards.models import Credential
from campuscard.payments import pos

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MICRO = """
import time
import django
django.setup()
from campuscard.core import metrics

def bare(*, n):
    return n

counted = metrics.observed(metrics.PAYMENT)(bare)

best = {}
for name, fn in (("bare", bare), ("counted", counted)):
    runs = []
    for _ in range(5):
        started = time.thread_time()  # CPU time: the shared host's other work does not count
        for i in range(100_000):
            fn(n=i)
        runs.append((time.thread_time() - started) / 100_000)
    best[name] = min(runs)
print((best["counted"] - best["bare"]) * 1e6)
"""


def micro(multiprocess_dir: str | None) -> float:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "campuscard.settings_test"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    out = subprocess.run([sys.executable, "-c", MICRO], env=env, check=True, capture_output=True, text=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def test_the_metrics_cost_a_payment_a_few_microseconds(tmp_path, terminal, funded, capsys):
    single, multi = micro(None), micro(str(tmp_path))
    terminal, _secret = terminal
    uid = Credential.objects.get(card=funded, kind="nfc").uid
    timings: dict[str, list[float]] = {"with": [], "without": []}
    authorize = {"with": pos.payment_authorize, "without": pos.payment_authorize.__wrapped__}
    for i in range(400):  # alternating, so both see the same database state and caches
        which = "with" if i % 2 else "without"
        started = time.perf_counter()
        authorize[which](terminal=terminal, txn_id=f"cost-{i}", amount=1, nfc_uid=uid)
        timings[which].append(time.perf_counter() - started)
    median = {k: statistics.median(v) * 1e3 for k, v in timings.items()}
    with capsys.disabled():
        print(f"\nmetrics per payment: {single:.2f} µs single-process, {multi:.2f} µs multiprocess; "
              f"NFC payment in-process median {median['without']:.3f} ms without, {median['with']:.3f} ms with")
    assert single < 20 and multi < 20
