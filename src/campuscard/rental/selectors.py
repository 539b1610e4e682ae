"""Reads for the rental pages: a holder's rentals, the desk's view of a holder and of the items, and the
usage-duration statistics per item and per holder (SVC-4)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from campuscard.core import clock
from campuscard.core.permissions import restrict
from campuscard.identity.models import Person
from campuscard.rental.models import Item, Rental

STATS_ROWS = 20  # items / holders shown in a chart (the busiest)


def rentals_of(person: Person, limit: int = 50) -> list[Rental]:
    return list(Rental.objects.filter(person=person).select_related("item").order_by("-out_at", "-pk")[:limit])


def open_rentals_of(person: Person) -> list[Rental]:
    return list(Rental.objects.filter(person=person, returned_at=None).select_related("item").order_by("due_at"))


def unsettled_of(person: Person) -> list[Rental]:
    return list(Rental.objects.filter(person=person).exclude(returned_at=None).filter(settled_at=None)
                .select_related("item"))


def items_for(*, user: Any, institution_id: int) -> QuerySet[Item]:
    return restrict(Item.objects.filter(institution_id=institution_id), user, "view").select_related("merchant")


def rental_for_desk(*, user: Any, pk: int) -> Rental | None:
    return restrict(Rental.objects.select_related("item", "person", "card"), user, "change").filter(pk=pk).first()


def open_rental_of_item(*, user: Any, institution_id: int, code: str) -> Rental | None:
    return (restrict(Rental.objects.select_related("item", "person"), user, "change")
            .filter(institution_id=institution_id, item__code=(code or "").strip(), returned_at=None).first())


def out_now(*, user: Any, institution_id: int, limit: int = 100) -> list[Rental]:
    """Items out now, overdue first (the desk's list)."""
    return list(restrict(Rental.objects.filter(institution_id=institution_id, returned_at=None), user, "view")
                .select_related("item", "person").order_by("due_at")[:limit])


def overdue_count(*, user: Any, institution_id: int) -> int:
    return restrict(Rental.objects.filter(institution_id=institution_id, returned_at=None,
                                          due_at__lte=clock.now()), user, "view").count()


@dataclass(frozen=True)
class Usage:
    key: int
    label: str
    rentals: int
    seconds: int
    open: int

    @property
    def hours(self) -> float:
        return round(self.seconds / 3600, 1)

    @property
    def average_minutes(self) -> int:
        return int(self.seconds / self.rentals / 60) if self.rentals else 0


def usage(*, user: Any, institution_id: int, start: dt.datetime, end: dt.datetime,
          by: str = "item") -> list[Usage]:
    """Rentals overlapping [start, end) and their time out within it, per item or per holder, busiest first.
    A rental still out counts until now."""
    if by not in ("item", "person"):
        raise ValueError(by)
    now = clock.now()
    rows = (restrict(Rental.objects.filter(institution_id=institution_id), user, "view")
            .filter(out_at__lt=end).filter(Q(returned_at=None) | Q(returned_at__gt=start))
            .values_list(f"{by}_id", f"{by}__name" if by == "item" else "person__name",
                         "item__code" if by == "item" else "person__number", "out_at", "returned_at"))
    totals: dict[int, list] = defaultdict(lambda: ["", 0, 0, 0])
    for key, name, code, out_at, returned_at in rows.iterator():
        back = min(returned_at or now, end)
        seconds = max(0, int((back - max(out_at, start)).total_seconds()))
        entry = totals[key]
        entry[0] = f"{code} {name}"
        entry[1] += 1
        entry[2] += seconds
        entry[3] += returned_at is None
    found = [Usage(key, label, count, seconds, still_out) for key, (label, count, seconds, still_out) in totals.items()]
    return sorted(found, key=lambda u: (-u.seconds, u.label))


def my_usage(person: Person) -> list[dict[str, Any]]:
    """The holder's own time per item (all time), for the portal."""
    now = clock.now()
    totals: dict[str, list] = defaultdict(lambda: [0, 0])
    for name, out_at, returned_at in Rental.objects.filter(person=person).values_list("item__name", "out_at",
                                                                                       "returned_at"):
        totals[name][0] += 1
        totals[name][1] += int(((returned_at or now) - out_at).total_seconds())
    top = max((t[1] for t in totals.values()), default=0)
    return [{"name": name, "rentals": n, "hours": round(s / 3600, 1), "share": int(100 * s / top) if top else 0}
            for name, (n, s) in sorted(totals.items(), key=lambda kv: -kv[1][1])]


def catalogue(institution_id: int) -> list[dict[str, Any]]:
    """What the desks lend, with whether each item is in (for holders: names and prices, no borrowers)."""
    out = set(Rental.objects.filter(institution_id=institution_id, returned_at=None).values_list("item_id", flat=True))
    return [{"item": item, "available": item.pk not in out}
            for item in Item.objects.filter(institution_id=institution_id, active=True).order_by("category", "name")]
