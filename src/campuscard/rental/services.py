"""Equipment rental (SVC-4): the desk identifies the holder by card, checks items out and takes them back.

* ``desk_identify``: the holder's card tapped (NFC UID) or live pay code scanned, checked and used up by
  ``cards.codes`` exactly as at a till (state, institution, one-time). A desk refuses offline codes (they are
  good only for small payments at an offline till, and a deposit is held online) and cards that cannot borrow
  (``cards.policy``: the ``services`` capability — students and staff).
* ``rental_checkout``: the item's deposit is held on the wallet (``payments.charges.hold_place``, decided by
  the payment rulebook: daily limit, payment password above the password-free amount, funds) and the rental
  written in the same money transaction; idempotent by the desk's key.
* ``rental_return``: the item is back at once (``returned_at``, the fee fixed: rate × started hours); then
  the money is settled — the deposit released, or the fee captured from it (and any rest charged), or the
  fee charged — each call keyed by the rental, so a retried return charges once. A refused fee leaves the
  rental returned and unsettled; ``rental_settle`` tries again (with the password, after a recharge).
* ``overdue_flag``: the periodic job flags rentals past due, once each, and tells the holder.

All money goes through ``payments.charges``; nothing here touches the ledger.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from campuscard.cards import codes
from campuscard.cards.models import Card
from campuscard.cards.policy import can, state_refusal
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize
from campuscard.identity.models import User
from campuscard.identity.selectors import acting_user
from campuscard.payments import charges
from campuscard.payments.models import Hold, Payment
from campuscard.rental.models import Item, Rental
from campuscard.support.services import notify

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,55}$")  # the charge keys add a prefix (64 at most)


def _desk(actor: Actor, institution_id: int, action: str = "add") -> User:
    """The desk's operator, allowed at that institution (a device or job never checks items out)."""
    authorize(actor.user, f"rental.{action}_rental", institution_id)
    user = acting_user(actor)
    if user is None:
        raise DomainError("forbidden")
    return user


def _may_borrow(card: Card) -> None:
    if refusal := state_refusal(card.state):
        raise DomainError(refusal)
    if not can(card.kind, "services"):
        raise DomainError("rental_card_kind")


def desk_identify(*, actor: Actor, institution_id: int, code: str = "", nfc_uid: str = "") -> Card:
    """The card presented at the desk: a tapped card's UID or a live pay code (used up now)."""
    _desk(actor, institution_id)
    with transaction.atomic():
        if nfc_uid:
            presented = codes.nfc_accept(institution_id=institution_id, uid=nfc_uid)
        else:
            presented = codes.code_accept(institution_id=institution_id, code=code)
        if presented.offline:
            raise DomainError("rental_offline_code")  # rolls the offline code's use back
        _may_borrow(presented.card)
        audit_record(actor=actor, action="rental_desk_identified", obj=presented.card, institution_id=institution_id,
                     after={"credential": presented.credential.kind})
    return presented.card


def _local(moment: dt.datetime, item: Item) -> str:
    return moment.astimezone(clock.zone(item.merchant.institution.time_zone)).strftime("%Y-%m-%d %H:%M")


def fee_for(*, item: Item, out_at: dt.datetime, back_at: dt.datetime) -> int:
    """The rate per started hour (a rental of 61 minutes pays two hours); nothing for a rate of 0."""
    if item.rate_per_hour <= 0:
        return 0
    hours = max(1, math.ceil((back_at - out_at).total_seconds() / 3600))
    return item.rate_per_hour * hours


def _item(institution_id: int, code: str) -> Item:
    item = (Item.objects.select_related("merchant__institution")
            .filter(institution_id=institution_id, code=(code or "").strip()).first())
    if item is None:
        raise DomainError("rental_item_unknown")
    if not item.active:
        raise DomainError("rental_item_inactive")
    return item


def _replay(institution_id: int, key: str, item: Item, card: Card) -> Rental | None:
    rental = Rental.objects.filter(institution_id=institution_id, key=key).first()
    if rental is None:
        return None
    if rental.item_id != item.pk or rental.card_id != card.pk:
        raise DomainError("rental_key_reused")
    return rental


def rental_checkout(*, actor: Actor, card: Card, item_code: str, key: str, password: str | None = None) -> Rental:
    """Check ``item_code`` out to the card's holder; the deposit (if any) held on the wallet."""
    institution_id = card.institution_id
    operator = _desk(actor, institution_id)
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise DomainError("rental_key_invalid")
    item = _item(institution_id, item_code)
    if (replay := _replay(institution_id, key, item, card)) is not None:
        return replay
    card = Card.objects.select_related("person").get(pk=card.pk)  # its state now, not when identified
    _may_borrow(card)
    if Rental.objects.filter(item=item, returned_at=None).exists():
        raise DomainError("rental_item_out")
    now = clock.now()
    made: list[Rental] = []

    def write(held: charges.HoldResult | None = None) -> None:
        rental = Rental.objects.create(
            institution_id=institution_id, item=item, person=card.person, card=card, key=key, out_at=now,
            due_at=now + dt.timedelta(hours=item.loan_hours), out_by=operator,
            deposit=held.amount if held else 0, hold_id=held.hold_id if held else None)
        audit_record(actor=actor, action="rental_checked_out", obj=rental, institution_id=institution_id,
                     after={"item": item.code, "deposit": rental.deposit, "key": key})
        notify(person=card.person, kind="rental", title=gettext_lazy("Checked out: %(item)s"),
               body=gettext_lazy("Please return it by %(due)s."),
               params={"item": item.name, "due": _local(rental.due_at, item)},
               link="/rentals/")
        made.append(rental)

    try:
        if item.deposit > 0:
            charges.hold_place(actor=actor, merchant=item.merchant, person=card.person, key=f"rental:{key}",
                               amount=item.deposit, password=password, method=Payment.Method.DESK, card=card,
                               reference=f"{item.name} ({item.code})", then=write)
        else:
            with transaction.atomic():
                write()
    except IntegrityError:
        # the item went out to someone else at the same moment (one open rental per item), or this very key
        if (replay := _replay(institution_id, key, item, card)) is not None:
            return replay
        raise DomainError("rental_item_out")
    return made[0] if made else Rental.objects.get(institution_id=institution_id, key=key)


def rental_checkout_presented(*, actor: Actor, institution_id: int, item_code: str, key: str, code: str = "",
                              nfc_uid: str = "", password: str | None = None) -> Rental:
    """Identify and check out in one call (the API's desk clients). A resend of the same key answers the
    first check-out before the (by then used) code is looked at again."""
    _desk(actor, institution_id)
    earlier = Rental.objects.filter(institution_id=institution_id, key=key).select_related("item").first()
    if earlier is not None:
        if earlier.item.code != (item_code or "").strip():
            raise DomainError("rental_key_reused")
        return earlier
    card = desk_identify(actor=actor, institution_id=institution_id, code=code, nfc_uid=nfc_uid)
    return rental_checkout(actor=actor, card=card, item_code=item_code, key=key, password=password)


def rental_return(*, actor: Actor, rental: Rental, password: str | None = None) -> Rental:
    """The item is back: fix the moment and the fee, then settle the money (once, however often retried)."""
    operator = _desk(actor, rental.institution_id, "change")
    with transaction.atomic():
        locked = Rental.objects.select_for_update().select_related("item").get(pk=rental.pk)
        if locked.returned_at is None:
            now = max(clock.now(), locked.out_at)
            locked.returned_at, locked.returned_by = now, operator
            locked.fee = fee_for(item=locked.item, out_at=locked.out_at, back_at=now)
            locked.save(update_fields=["returned_at", "returned_by", "fee"])
            audit_record(actor=actor, action="rental_returned", obj=locked, institution_id=locked.institution_id,
                         after={"fee": locked.fee, "minutes": int((now - locked.out_at).total_seconds() // 60)})
    return rental_settle(actor=actor, rental=locked, password=password)


def rental_settle(*, actor: Actor, rental: Rental, password: str | None = None) -> Rental:
    """Move the money of a returned rental: release, capture or charge — each keyed by the rental."""
    _desk(actor, rental.institution_id, "change")
    rental = Rental.objects.select_related("item__merchant__institution", "person", "card").get(pk=rental.pk)
    if rental.returned_at is None:
        raise DomainError("rental_not_found")
    if rental.settled_at is not None:
        return rental
    fee, deposit = rental.fee, rental.deposit
    hold = Hold.objects.get(pk=rental.hold_id) if rental.hold_id else None
    paid: list[int] = []

    def settle(result: charges.Charge | Hold | None = None) -> None:
        if isinstance(result, charges.Charge):
            paid.append(result.payment_id)
        done = Rental.objects.filter(pk=rental.pk, settled_at=None).update(
            settled_at=clock.now(), payment_id=paid[-1] if paid else None)
        if done:
            audit_record(actor=actor, action="rental_settled", obj=rental, institution_id=rental.institution_id,
                         after={"fee": fee, "deposit": deposit, "payments": paid})

    if hold is not None:
        if fee > deposit:  # the rest beyond the deposit first: a refusal leaves the deposit held
            rest = charges.charge_wallet(actor=actor, merchant=rental.item.merchant, person=rental.person,
                                         key=f"rental:{rental.pk}:rest", amount=fee - deposit, password=password,
                                         method=Payment.Method.DESK, reference=f"{rental.item.name} ({rental.item.code})")
            paid.append(rest.payment_id)
        if fee > 0:
            capture = charges.hold_capture(actor=actor, hold=hold, amount=min(fee, deposit), then=settle)
            if capture.replayed:
                paid.append(capture.payment_id)
        else:
            charges.hold_release(actor=actor, hold=hold, then=settle)
    elif fee > 0:
        charge = charges.charge_wallet(actor=actor, merchant=rental.item.merchant, person=rental.person,
                                       key=f"rental:{rental.pk}:fee", amount=fee, password=password,
                                       method=Payment.Method.DESK, reference=f"{rental.item.name} ({rental.item.code})",
                                       then=settle)
        if charge.replayed:
            paid.append(charge.payment_id)
    with transaction.atomic():
        settle()  # a replayed money call did not run ``then``; a settled rental is left alone
    return Rental.objects.select_related("item", "person").get(pk=rental.pk)


def overdue_flag(*, now: dt.datetime | None = None) -> int:
    """Flag every open rental past its due time, once, and tell its holder (the periodic job)."""
    now = now or clock.now()
    flagged = 0
    due = Rental.objects.filter(returned_at=None, overdue_at=None, due_at__lte=now).select_related(
        "item__merchant__institution", "person")
    for rental in due.iterator():
        with transaction.atomic():
            if not Rental.objects.filter(pk=rental.pk, returned_at=None, overdue_at=None).update(overdue_at=now):
                continue  # returned or flagged meanwhile (the job ran twice)
            notify(person=rental.person, kind="rental", title=gettext_lazy("Overdue: %(item)s"),
                   body=gettext_lazy("It was due back at %(due)s. Please return it to the equipment desk."),
                   params={"item": rental.item.name, "due": _local(rental.due_at, rental.item)},
                   link="/rentals/")
            audit_record(actor=Actor.system("job:rental_overdue"), action="rental_overdue", obj=rental,
                         institution_id=rental.institution_id)
            flagged += 1
    return flagged
