"""Reading a holder's notifications (SUP-4)."""

from __future__ import annotations

from django.db.models import Count

from campuscard.identity.models import Person
from campuscard.support.models import Notification


def unread_count(*, person: Person) -> int:
    return Notification.objects.filter(person=person, read_at=None).count()


def notifications_of(*, person: Person, kind: str = "", limit: int = 50) -> list[Notification]:
    rows = Notification.objects.filter(person=person)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def unread_by_kind(*, person: Person) -> dict[str, int]:
    rows = (Notification.objects.filter(person=person, read_at=None).values("kind").annotate(n=Count("pk"))
            .order_by())
    return {row["kind"]: row["n"] for row in rows}
