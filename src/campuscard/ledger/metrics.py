"""The ledger's status for Prometheus (#18 item 8): the last reconciliation (``ledger check``) and the last
tamper check (``ledger verify``), read from their CheckRun rows when /metrics is scraped — they run in the
worker's nightly job or a command, never in the web process that answers the scrape."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from campuscard.ledger.selectors import last_runs


def ledger_status() -> Iterable[Metric]:
    ok = GaugeMetricFamily("campuscard_ledger_check_ok", "1 when the last run found nothing, 0 when it found "
                           "differences, -1 when there has been no run", labels=["kind"])
    problems = GaugeMetricFamily("campuscard_ledger_check_problems", "Differences the last run reported",
                                 labels=["kind"])
    finished = GaugeMetricFamily("campuscard_ledger_check_finished_seconds",
                                 "When the last run finished (Unix time; 0: never)", labels=["kind"])
    for kind, run in last_runs().items():
        ok.add_metric([kind], -1 if run is None else int(run.ok))
        problems.add_metric([kind], 0 if run is None else len(run.problems or []))
        finished.add_metric([kind], 0 if run is None else run.finished_at.timestamp())
    yield from (ok, problems, finished)
