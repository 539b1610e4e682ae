"""Equipment rental (SVC-4): the holder's rentals and the catalogue; check-out and return for desk clients
(the ``equipment_desk`` role); usage-duration statistics per item and per holder."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema, Status

from campuscard.api.auth import holder_of
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.rental import selectors, services

router = Router(tags=["rental"])


class RentalOut(Schema):
    id: int
    item: str
    item_name: str
    holder: str
    out_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    returned_at: dt.datetime | None
    deposit: int = Field(description="fen held on the wallet while out")
    fee: int = Field(description="fen charged at the return (rate × started hours)")
    settled: bool = Field(description="the deposit released / the fee paid")

    @staticmethod
    def resolve_item(obj):
        return obj.item.code

    @staticmethod
    def resolve_item_name(obj):
        return obj.item.name

    @staticmethod
    def resolve_holder(obj):
        return obj.person.number

    @staticmethod
    def resolve_overdue(obj):
        return obj.returned_at is None and obj.due_at <= clock.now()

    @staticmethod
    def resolve_settled(obj):
        return obj.settled_at is not None


class ItemOut(Schema):
    code: str
    name: str
    category: str
    deposit: int
    rate_per_hour: int
    loan_hours: int
    available: bool


class CheckoutIn(Schema):
    item: str = Field(description="the item's code (its label)")
    key: str = Field(description="the desk's idempotency key: a resend checks out once")
    code: str = Field("", description="the holder's live pay code (QR text or the 18 digits)")
    nfc_uid: str = Field("", description="the tapped card's UID")
    password: str | None = Field(None, description="payment password, for a deposit above the password-free amount")


class ReturnIn(Schema):
    item: str = Field("", description="the returned item's code")
    rental: int | None = Field(None, description="or the rental's id (to settle a fee still owed)")
    password: str | None = None


class UsageOut(Schema):
    label: str
    rentals: int
    hours: float
    average_minutes: int
    still_out: int


@router.get("/me/rentals", response=list[RentalOut], summary="My equipment rentals, newest first (SVC-4)")
def my_rentals(request):
    return selectors.rentals_of(holder_of(request), limit=200)


@router.get("/rental/items", response=list[ItemOut], summary="What the equipment desks of my institution lend")
def items(request):
    institution_id = request.auth.institution_id
    if institution_id is None:
        raise DomainError("forbidden")
    return [{**{f: getattr(row["item"], f) for f in ("code", "name", "category", "deposit", "rate_per_hour",
                                                     "loan_hours")}, "available": row["available"]}
            for row in selectors.catalogue(institution_id)]


def _institution(request) -> int:
    if request.auth.institution_id is None:
        raise DomainError("forbidden")
    return request.auth.institution_id


@router.post("/rental/checkouts", response={201: RentalOut}, summary="Check an item out to the presented card")
def checkout(request, payload: CheckoutIn):
    rental = services.rental_checkout_presented(
        actor=Actor.by_user(request.auth), institution_id=_institution(request), item_code=payload.item,
        key=payload.key, code=payload.code, nfc_uid=payload.nfc_uid, password=payload.password)
    return Status(201, rental)


@router.post("/rental/returns", response=RentalOut, summary="An item is back: release the deposit, charge the rate")
def give_back(request, payload: ReturnIn):
    user = request.auth
    rental = (selectors.rental_for_desk(user=user, pk=payload.rental) if payload.rental else
              selectors.open_rental_of_item(user=user, institution_id=_institution(request), code=payload.item))
    if rental is None:
        raise DomainError("rental_not_found")
    return services.rental_return(actor=Actor.by_user(user), rental=rental, password=payload.password)


@router.get("/rental/usage", response=list[UsageOut], summary="Usage durations per item or per holder")
def usage(request, by: str = "item", days: int = 30):
    if by not in ("item", "person") or not 1 <= days <= 366:
        raise DomainError("validation_error")
    user = request.auth
    if not user.has_perm("rental.view_rental"):
        raise DomainError("forbidden")
    end = clock.now()
    rows = selectors.usage(user=user, institution_id=_institution(request), start=end - dt.timedelta(days=days),
                           end=end, by=by)
    return [{"label": u.label, "rentals": u.rentals, "hours": u.hours, "average_minutes": u.average_minutes,
             "still_out": u.open} for u in rows]
