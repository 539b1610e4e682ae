"""Reads for the help pages and the back office (SUP-1)."""

from __future__ import annotations

from django.db.models import QuerySet

from campuscard.assistant.models import Entry, Question
from campuscard.core.models import Institution


def entry_by_slug(*, institution: Institution, slug: str) -> Entry | None:
    return Entry.objects.filter(institution=institution, slug=slug, published=True).first()


def entries(*, institution: Institution) -> QuerySet[Entry]:
    return Entry.objects.filter(institution=institution, published=True).order_by("slug")


def to_improve(*, institution_id: int) -> QuerySet[Question]:
    """Questions the assistant was not sure about and no operator looked at yet."""
    return Question.objects.filter(institution_id=institution_id, outcome=Question.Outcome.UNSURE, reviewed=False)
