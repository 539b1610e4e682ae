"""Prometheus metrics of the domain (#18 item 8): recorded in the entry points, not in a middleware.

The device lane answers a POS payment and a gate decision in front of Django's middleware (api.lane), so
django-prometheus's request metrics never see them; the entry points themselves (``payments.pos.
payment_authorize``, ``access.services.gate_decide``) count every answer by outcome and time it, whoever
called them (the lane, a ninja route, a device page), with one decorator line: ``@metrics.observed(...)``.

What is only known at scrape time is read then (``scraped``): the job queue's depth from Huey's storage,
and — registered by the apps that own them — facts such as the last ledger check, read from the database,
because the check runs in the worker or a command, never in the web process that is scraped.

Several web processes report together in Prometheus's multiprocess mode: set ``PROMETHEUS_MULTIPROC_DIR``
to an empty directory shared by the processes (wiped before they start) and every process writes its
counters to memory-mapped files there, which ``/metrics`` sums (docs/operations.md, "Metrics"). Without
it, ``/metrics`` shows the answering process only.

Cost on the hot paths: a counter and a histogram, each a dict look-up and an in-memory (or memory-mapped)
add: ~1.3 µs of CPU a payment single-process, ~3.2 µs multiprocess (docs/benchmarks.md, "Metrics").
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from campuscard.core.errors import DomainError

F = TypeVar("F", bound=Callable[..., Any])

# Seconds. A fast-path payment takes ~1–3 ms in-process, an ordinary one ~5–30 ms; a decision at the
# turnstile must stay under 300 ms end to end (ACC-5).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

PAYMENTS = Counter("campuscard_payments", "POS payments answered by payments.pos.payment_authorize, by outcome "
                   "(approved, declined, error) and code (ok, the refusal's code, or the exception's name)",
                   ["outcome", "code"])
PAYMENT_SECONDS = Histogram("campuscard_payment_seconds", "Time payment_authorize took, in seconds",
                            buckets=LATENCY_BUCKETS)
GATE_DECISIONS = Counter("campuscard_gate_decisions", "Gate decisions answered by access.services.gate_decide, "
                         "by outcome (admitted, refused, error) and rule (the deciding rule, the refusal's "
                         "code or the exception's name)", ["outcome", "rule"])
GATE_SECONDS = Histogram("campuscard_gate_decision_seconds", "Time gate_decide took, in seconds",
                         buckets=LATENCY_BUCKETS)


# Within a request the device lane answers: which entry points have been counted. A refusal the lane hands
# over to Django (so that Django words it) runs the entry point a second time; that run is not counted again.
_in_lane: ContextVar[set | None] = ContextVar("campuscard_metrics_in_lane", default=None)


def lane_request() -> Token:
    """The device lane starts a request (api.lane); pass the token to ``lane_done`` when it has answered."""
    return _in_lane.set(set())


def lane_done(token: Token) -> None:
    _in_lane.reset(token)


class Observed:
    """One entry point's counter and histogram, with its labelled children kept (``labels()`` validates and
    locks on every call: a few microseconds the rush does not need to pay twice)."""

    def __init__(self, counter: Counter, histogram: Histogram, outcome: Callable[[Any], tuple[str, str]]):
        self.counter, self.histogram, self.outcome = counter, histogram, outcome
        self._children: dict[tuple[str, str], Any] = {}

    def record(self, labels: tuple[str, str], seconds: float) -> None:
        seen = _in_lane.get()
        if seen is not None:  # a lane request: its entry point counts once, even if Django runs it again
            if self in seen:
                return
            seen.add(self)
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.counter.labels(*labels)
        child.inc()
        self.histogram.observe(seconds)


def _payment_outcome(_receipt) -> tuple[str, str]:
    return ("approved", "ok")


def _gate_outcome(outcome) -> tuple[str, str]:
    decision = outcome.decision
    return ("admitted" if decision.admitted else "refused", decision.rule)


PAYMENT = Observed(PAYMENTS, PAYMENT_SECONDS, _payment_outcome)
GATE = Observed(GATE_DECISIONS, GATE_SECONDS, _gate_outcome)
_REFUSED = {PAYMENT: "declined", GATE: "refused"}


def observed(what: Observed) -> Callable[[F], F]:
    """Decorate a domain entry point: every call is counted by outcome and timed; a DomainError counts as
    declined/refused under its code, anything else as an error under the exception's name."""

    def decorate(func: F) -> F:
        refused = _REFUSED[what]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = func(*args, **kwargs)
            except DomainError as error:
                what.record((refused, error.code), time.perf_counter() - started)
                raise
            except Exception as error:
                what.record(("error", type(error).__name__), time.perf_counter() - started)
                raise
            what.record(what.outcome(result), time.perf_counter() - started)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


# --- read at scrape time ---------------------------------------------------------------------------

_scraped: list[Callable[[], Iterable[Metric]]] = []


def scraped(source: Callable[[], Iterable[Metric]]) -> Callable[[], Iterable[Metric]]:
    """Register a function yielding metric families computed when /metrics is asked (an app's ``ready``)."""
    if source not in _scraped:
        _scraped.append(source)
    return source


@scraped
def queue_depth() -> Iterable[Metric]:
    """The Huey queue's waiting and scheduled jobs (Redis in production, the SQLite file by default)."""
    from huey.contrib.djhuey import HUEY

    gauge = GaugeMetricFamily("campuscard_queue_jobs", "Jobs in the Huey queue by state (-1: storage unreadable)",
                              labels=["state"])
    for state, count in (("pending", HUEY.pending_count), ("scheduled", HUEY.scheduled_count)):
        try:
            value = count()
        except Exception:  # noqa: BLE001 - the scrape still answers; /readyz names the failure
            value = -1
        gauge.add_metric([state], value)
    yield gauge


class _Scraped:
    def collect(self) -> Iterable[Metric]:
        """Each source on its own: a database that does not answer costs its figures, not the whole page."""
        up = GaugeMetricFamily("campuscard_scrape_source_up", "1 when the source answered this scrape, else 0",
                               labels=["source"])
        for source in _scraped:
            try:
                found = list(source())
            except Exception:  # noqa: BLE001 - reported as a 0 below, and logged
                logging.getLogger(__name__).exception("metrics source %s failed", source.__name__)
                found = []
            up.add_metric([source.__name__], 1 if found else 0)
            yield from found
        yield up


def exposition() -> bytes:
    """The text page Prometheus reads: every process's metrics in multiprocess mode (summed over the
    files of ``PROMETHEUS_MULTIPROC_DIR``), this process's otherwise, then what is read at scrape time."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    live = CollectorRegistry()
    live.register(_Scraped())
    return body + generate_latest(live)


# --- who may read /metrics ------------------------------------------------------------------------

def metrics_allowed(meta: dict, *, networks: list[str], token: str) -> bool:
    """A bearer token (``METRICS_TOKEN``) from anywhere, or a direct connection from ``METRICS_ALLOWED_NETWORKS``.
    A request relayed by a proxy (``X-Forwarded-For``/``Forwarded`` present) needs the token: its peer
    address is the proxy's, which is often in the allowed network."""
    import hmac

    given = meta.get("HTTP_AUTHORIZATION", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    if "HTTP_X_FORWARDED_FOR" in meta or "HTTP_FORWARDED" in meta:
        return False
    try:
        peer = ipaddress.ip_address(meta.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in networks)


def metrics_view(request):
    """``GET /metrics`` (urls.py): the exposition, or 404 to anyone not allowed (nothing to learn)."""
    from django.conf import settings
    from django.http import Http404, HttpResponse

    if not metrics_allowed(request.META, networks=settings.METRICS_ALLOWED_NETWORKS, token=settings.METRICS_TOKEN):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
