"""Reads about health records that are not the records themselves: the read log and counts.

The records are handed out only by ``services.health_records_read`` (which logs); nothing here returns
examination or vaccination data.
"""

from __future__ import annotations

from django.db.models import QuerySet

from campuscard.health.models import Examination, RecordRead, Vaccination
from campuscard.identity.models import Person


def reads_of(person: Person, limit: int | None = None) -> QuerySet[RecordRead] | list[RecordRead]:
    """Who read my data: every logged read of the holder's records, newest first."""
    rows = RecordRead.objects.filter(person=person).select_related("reader").order_by("-read_at", "-pk")
    return list(rows[:limit]) if limit else rows


def record_counts(person: Person) -> dict[str, int]:
    """How many records the holder has (a number, not data: shown before a clinician opens them)."""
    return {"examinations": Examination.objects.filter(person=person).count(),
            "vaccinations": Vaccination.objects.filter(person=person).count()}
