"""Platform jobs run by the Huey worker."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.core import clock
from campuscard.core.models import IdempotencyKey
from campuscard.core.selectors import HEARTBEAT_KEY

IDEMPOTENCY_RETENTION = timedelta(days=30)


@db_periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    """Lets the back office show that the worker is alive."""
    cache.set(HEARTBEAT_KEY, clock.now().timestamp(), timeout=None)


@db_periodic_task(crontab(minute="17", hour="3"))
def purge_idempotency_keys() -> int:
    """Generic (non-ledger) idempotency keys are kept 30 days; ledger transfers keep theirs forever."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=clock.now() - IDEMPOTENCY_RETENTION).delete()
    return deleted
