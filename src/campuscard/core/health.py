"""Liveness and readiness (#18 item 8) with django-health-check: ``/healthz`` answers while the process
lives; ``/readyz`` while the database, the cache, the job queue and the worker do too — what a load
balancer or a supervisor asks before sending a canteen's payments here."""

from __future__ import annotations

import dataclasses

from django.http import HttpResponse
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from campuscard.core.selectors import worker_status


@dataclasses.dataclass
class Queue(HealthCheck):
    """The Huey queue's storage answers (Redis in production, a SQLite file by default)."""

    def run(self) -> None:
        from huey.contrib.djhuey import HUEY

        try:
            HUEY.pending_count()
        except Exception as exc:  # noqa: BLE001 - any storage failure means "not ready"
            raise ServiceUnavailable(f"queue storage: {type(exc).__name__}") from exc


@dataclasses.dataclass
class Worker(HealthCheck):
    """The worker ran its once-a-minute heartbeat within the last three minutes (core.tasks.heartbeat)."""

    def run(self) -> None:
        status = worker_status()
        if not status["alive"]:
            seen = "never" if status["seconds_ago"] is None else f"{status['seconds_ago']} s ago"
            raise ServiceUnavailable(f"worker last seen {seen}")


READY_CHECKS = ("health_check.checks.Database", "health_check.checks.Cache", Queue, Worker)


def healthz(_request) -> HttpResponse:
    """Liveness: the process answers (no database, so a database outage does not restart every worker)."""
    return HttpResponse("ok", content_type="text/plain")


readyz = HealthCheckView.as_view(checks=READY_CHECKS)
