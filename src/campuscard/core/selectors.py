from __future__ import annotations

from django.core.cache import cache
from django.db.models import QuerySet

from campuscard.core import clock
from campuscard.core.models import AuditLog, Campus, Institution, ServicePoint
from campuscard.core.permissions import restrict

HEARTBEAT_KEY = "worker-heartbeat"


def institutions_visible(*, user, action: str | None = None) -> QuerySet[Institution]:
    """The one answer to "which institutions may this user see" (TEN-1): every one for platform admins,
    their own for everyone else, none for anonymous or inactive users. With ``action``, also only if their
    role may do that to institutions (through ``restrict``, like every other model)."""
    institutions = Institution.objects.order_by("code")
    if action is not None:
        return restrict(institutions, user, action)
    if user is None or not user.is_authenticated or not user.is_active:
        return institutions.none()
    if user.is_superuser:
        return institutions
    return institutions.filter(pk=user.institution_id) if user.institution_id else institutions.none()


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
