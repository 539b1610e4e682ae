"""Library reads (SVC-3): the holder's loans."""

from __future__ import annotations

from dataclasses import dataclass

from campuscard.cards.models import Card
from campuscard.cards.policy import can
from campuscard.core import clock
from campuscard.identity.models import Person
from campuscard.library.models import Loan


def may_borrow(person: Person) -> bool:
    """Borrowing rights (SVC-3, CARD-9): a usable card whose kind carries the library — students, staff
    and alumni (who keep them after graduation)."""
    return any(can(kind, "library") for kind in
               Card.objects.filter(person=person, state=Card.State.ACTIVE).values_list("kind", flat=True))


@dataclass
class LoanView:
    loan: Loan
    days_left: int | None  # None once returned

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0


def loans_of(person: Person, *, returned: int = 10) -> list[LoanView]:
    """Open loans (soonest due first), then the latest ``returned`` returned ones."""
    today = clock.local_date(person.institution)
    open_loans = Loan.objects.filter(person=person, returned_at=None).order_by("due_on")
    done = Loan.objects.filter(person=person).exclude(returned_at=None).order_by("-returned_at")[:returned]
    return ([LoanView(loan, (loan.due_on - today).days) for loan in open_loans]
            + [LoanView(loan, None) for loan in done])


def borrowing_rights(person: Person) -> bool:
    return may_borrow(person)
