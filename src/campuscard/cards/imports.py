"""File-driven card jobs: old meal-card balances (CARD-7) and the registrar's graduation list (CARD-9).

Both read CSV or XLSX with the roster reader, report every bad row with its line number and
change nothing unless the whole file is good.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from django.db import transaction
from django.utils.translation import gettext as _

from campuscard.cards.models import LegacyMealCard
from campuscard.cards.services import graduate
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.money import parse_yuan
from campuscard.identity.models import Person
from campuscard.identity.roster import RowError, read_rows

Progress = Callable[[int, int], None]


def _refuse(errors: list[RowError], rows: int) -> None:
    raise DomainError("roster_invalid", count=len(errors),
                      details={"rows": rows, "errors": [e.as_dict() for e in errors]})


def legacy_import(*, actor: Actor, institution: Institution, name: str, stream: IO[bytes]) -> str:
    rows = list(read_rows(name=name, stream=stream))
    people = {p.number: p for p in Person.objects.filter(institution=institution,
                                                         number__in=[r.get("number", "") for _l, r in rows])}
    errors: list[RowError] = []
    records: list[LegacyMealCard] = []
    seen: set[str] = set()
    existing = set(LegacyMealCard.objects.filter(institution=institution).values_list("old_number", flat=True))
    now = clock.now()
    for line, row in rows:
        old, number = row.get("old_number", ""), row.get("number", "")
        person = people.get(number)
        if not old:
            errors.append(RowError(line, "old_number", _("old_number is empty")))
        elif old in seen or old in existing:
            errors.append(RowError(line, "old_number", _("old card %(n)s appears twice") % {"n": old}))
        if person is None:
            errors.append(RowError(line, "number", _("no holder with number %(n)s") % {"n": number}))
        try:
            balance = parse_yuan(row.get("balance", ""))
            if balance < 0:
                raise ValueError
        except (ValueError, TypeError):
            errors.append(RowError(line, "balance", _("balance %(v)s is not an amount") % {"v": row.get("balance")}))
            balance = 0
        seen.add(old)
        if person is not None:
            records.append(LegacyMealCard(institution=institution, person=person, old_number=old, balance=balance,
                                          imported_at=now))
    if errors:
        _refuse(errors, len(rows))
    with transaction.atomic():
        LegacyMealCard.objects.bulk_create(records)
        audit_record(actor=actor, action="legacy_meal_cards_imported", object_type="legacy_import",
                     object_id=now.strftime("%Y%m%d%H%M%S"), institution_id=institution.pk,
                     after={"rows": len(records), "total": sum(r.balance for r in records)})
    return _("%(n)s old meal cards imported.") % {"n": len(records)}


def graduation_run(*, actor: Actor, institution: Institution, name: str, stream: IO[bytes],
                   progress: Progress | None = None) -> str:
    rows = list(read_rows(name=name, stream=stream))
    numbers = [row.get("number", "") for _line, row in rows]
    people = {p.number: p for p in Person.objects.filter(institution=institution, number__in=numbers)}
    errors = [RowError(line, "number", _("no student with number %(n)s") % {"n": row.get("number", "")})
              for line, row in rows if people.get(row.get("number", "")) is None
              or not people[row.get("number", "")].is_student and people[row.get("number", "")].kind != "alumnus"]
    if errors:
        _refuse(errors, len(rows))
    converted = 0
    with transaction.atomic():  # the whole list or nothing
        for index, number in enumerate(numbers, start=1):
            person = people[number]
            if person.kind != Person.Kind.ALUMNUS and graduate(actor=actor, person=person) is not None:
                converted += 1
            if progress:
                progress(index, len(numbers))
    return _("%(n)s graduates; %(c)s student cards became alumni cards.") % {"n": len(numbers), "c": converted}



