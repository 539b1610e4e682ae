"""Library loans (SVC-3): the library system's feed (JSON or CSV), its borrower check, the holder's loans."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, File, Router, Schema
from ninja.files import UploadedFile

from campuscard.api.auth import holder_of
from campuscard.cards import codes as card_codes
from campuscard.cards.models import Card
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.identity.models import Person
from campuscard.library import selectors, services

router = Router(tags=["library"])


class ErrorOut(Schema):
    code: str
    message: str


class FeedIn(Schema):
    events: list[dict[str, Any]] = Field(min_length=1, max_length=20000, description=(
        'each {"event": "loan", "loan_id", "number" (student/staff number), "barcode", "title", "at" (ISO 8601), '
        '"due" (YYYY-MM-DD)} or {"event": "return", "loan_id", "at"}; a loan sent again with a new due date is '
        "a renewal"))


class LoanFeedOut(Schema):
    events: int
    loans: int
    returns: int
    unchanged: int


class PatronOut(Schema):
    number: str
    name: str
    may_borrow: bool


class LoanOut(Schema):
    barcode: str
    title: str
    loaned_at: dt.datetime
    due_on: dt.date
    returned_at: dt.datetime | None
    days_left: int | None
    overdue: bool


def _institution(request) -> Institution:
    institution_id = getattr(request.auth, "institution_id", None)
    if institution_id is None:
        raise DomainError("forbidden")
    return Institution.objects.get(pk=institution_id)


@router.post("/library/feed", response={200: LoanFeedOut, 403: ErrorOut, 422: ErrorOut},
             summary="Loans and returns from the library system (all or none)")
def feed(request, payload: FeedIn):
    report = services.loan_feed_apply(actor=Actor.by_user(request.auth), institution=_institution(request),
                                      events=list(enumerate(payload.events, start=1)))
    return report.as_dict()


@router.post("/library/feed/file", response={200: LoanFeedOut, 403: ErrorOut, 422: ErrorOut},
             summary="The same feed as a CSV/XLSX file (event, loan_id, number, barcode, title, at, due)")
def feed_file(request, file: File[UploadedFile]):
    report = services.loan_feed_apply_file(actor=Actor.by_user(request.auth), institution=_institution(request),
                                           name=file.name or "loans.csv", stream=file)
    return report.as_dict()


@router.get("/library/patrons", response={200: PatronOut, 403: ErrorOut, 404: ErrorOut},
            summary="May this holder borrow? (by number or tapped card UID; alumni may)")
def patron(request, number: str = "", nfc_uid: str = ""):
    institution = _institution(request)
    authorize(request.auth, "library.add_loan", institution.pk)
    person = None
    if nfc_uid:
        card = (Card.objects.select_related("person").filter(
            institution=institution, credentials__kind="nfc", credentials__active=True,
            credentials__uid=card_codes.normalize_uid(nfc_uid)).first())
        person = card.person if card else None
    elif number:
        person = Person.objects.filter(institution=institution, number=number).first()
    if person is None:
        raise DomainError("library_patron_unknown")
    return {"number": person.number, "name": person.name, "may_borrow": selectors.borrowing_rights(person)}


@router.get("/me/loans", response=list[LoanOut], summary="My library loans")
def my_loans(request):
    return [{"barcode": v.loan.barcode, "title": v.loan.title, "loaned_at": v.loan.loaned_at, "due_on": v.loan.due_on,
             "returned_at": v.loan.returned_at, "days_left": v.days_left, "overdue": v.overdue}
            for v in selectors.loans_of(holder_of(request))]
