"""/healthz and /readyz (#18 item 8)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from campuscard.core import clock
from campuscard.core.selectors import HEARTBEAT_KEY
from campuscard.core.tasks import heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def ask(path: str, **headers: str):
    """GET in a thread of its own, as a WSGI worker serves it: /readyz is django-health-check's async view,
    which Django runs with async_to_sync — refused in a thread that already runs an event loop (Playwright's
    sync API leaves one in the test runner's main thread after the browser tests)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: Client().get(path, headers=headers)).result()


def test_liveness_needs_nothing_but_the_process():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_ready_when_database_cache_queue_and_worker_answer():
    heartbeat.call_local()
    response = ask("/readyz", Accept="application/json")
    assert response.status_code == 200, response.content
    assert {"Database", "Cache", "Queue", "Worker"} <= {name.split("(")[0] for name in response.json()}


def test_not_ready_when_the_worker_has_not_been_seen_for_three_minutes():
    cache.set(HEARTBEAT_KEY, clock.now().timestamp() - 181, timeout=None)
    response = ask("/readyz", Accept="application/json")
    assert response.status_code == 500
    assert any("worker last seen 181 s ago" in str(v) or "worker last seen 18" in str(v) for v in response.json().values())
    cache.delete(HEARTBEAT_KEY)
    assert "never" in ask("/readyz?format=text").content.decode()
