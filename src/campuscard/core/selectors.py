from __future__ import annotations

from django.core.cache import cache
from django.db.models import QuerySet

from campuscard.core import clock
from campuscard.core.models import AuditLog, Campus, ServicePoint
from campuscard.core.permissions import restrict

HEARTBEAT_KEY = "worker-heartbeat"


def campuses_visible(*, user) -> QuerySet[Campus]:
    return restrict(Campus.objects.all(), user, "view")


def service_points_visible(*, user) -> QuerySet[ServicePoint]:
    return restrict(ServicePoint.objects.select_related("area__campus"), user, "view")


def audit_recent(*, user, limit: int = 10) -> list[AuditLog]:
    return list(restrict(AuditLog.objects.select_related("actor"), user, "view")[:limit])


def worker_status() -> dict:
    """When the background worker last reported (core.tasks.heartbeat, every minute)."""
    seen = cache.get(HEARTBEAT_KEY)
    if seen is None:
        return {"alive": False, "seconds_ago": None}
    ago = int(clock.now().timestamp() - seen)
    return {"alive": ago < 180, "seconds_ago": ago}
