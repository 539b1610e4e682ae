"""The equipment desk (SVC-4): check-out and return by card.

The desk's staff sign in (back-office login; the ``equipment_desk`` role, their institution only) on the
desk's tablet or PC. A keyboard-wedge reader types the tapped card's UID, or the scanner the holder's live
pay code (or its 18 digits), into the holder field, exactly as at the POS: ``rental.services.desk_identify``
checks and uses it up through ``cards.codes`` and refuses offline codes and cards that cannot borrow. The
identified holder is kept in the desk's session for a few idle minutes; then each scanned item label checks
that item out (the deposit held on the wallet) and a returned item is scanned back in — with or without
the holder. Each check-out form carries its own key, so a resend after a network failure checks out once.

Presentation only: every rule is in ``rental.services``.
"""

from __future__ import annotations

import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import codes
from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.rental import selectors, services

SESSION_KEY = "rental_desk_card"
IDLE_SECONDS = 180  # the desk forgets the holder after three idle minutes
_CARD_UID = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){3,9}$")  # what a wedge NFC reader types (as the POS)

_login = login_required(login_url="admin:login")


def _institution_id(request) -> int:
    user = request.user
    if user.institution_id is None or not user.has_perm("rental.add_rental"):
        raise PermissionDenied
    return user.institution_id


def _card(request, institution_id: int) -> Card | None:
    data = request.session.get(SESSION_KEY)
    if not data or clock.now().timestamp() - data["at"] > IDLE_SECONDS:
        request.session.pop(SESSION_KEY, None)
        return None
    data["at"] = clock.now().timestamp()
    request.session[SESSION_KEY] = data
    return Card.objects.select_related("person").filter(pk=data["card"], institution_id=institution_id).first()


@_login
def desk(request):
    institution_id = _institution_id(request)
    card = _card(request, institution_id)
    person = card.person if card else None
    return render(request, "terminals/rental_desk.html", {
        "card": card, "person": person, "key": uuid.uuid4().hex,
        "open": selectors.open_rentals_of(person) if person else [],
        "unsettled": selectors.unsettled_of(person) if person else [],
        "out_now": selectors.out_now(user=request.user, institution_id=institution_id),
        "items": selectors.items_for(user=request.user, institution_id=institution_id).filter(active=True),
        "now": clock.now(), "time_zone": request.user.institution.time_zone})


@require_POST
@_login
def identify(request):
    institution_id = _institution_id(request)
    presented = request.POST.get("credential", "").strip()
    card_uid = bool(_CARD_UID.match(presented)) and not codes.is_numeric(presented)
    try:
        card = services.desk_identify(actor=Actor.by_user(request.user), institution_id=institution_id,
                                      code="" if card_uid else presented, nfc_uid=presented if card_uid else "")
    except DomainError as error:
        request.session.pop(SESSION_KEY, None)
        messages.error(request, error.message)
    else:
        request.session[SESSION_KEY] = {"card": card.pk, "at": clock.now().timestamp()}
    return redirect("devices:rental_desk")


@require_POST
@_login
def checkout(request):
    institution_id = _institution_id(request)
    card = _card(request, institution_id)
    try:
        if card is None:
            raise DomainError("rental_not_identified")
        rental = services.rental_checkout(actor=Actor.by_user(request.user), card=card,
                                          item_code=request.POST.get("item", ""), key=request.POST.get("key", ""),
                                          password=request.POST.get("password") or None)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(item)s checked out to %(name)s; deposit held %(deposit)s.")
                         % {"item": rental.item.name, "name": rental.person.name, "deposit": format_fen(rental.deposit)})
    return redirect("devices:rental_desk")


@require_POST
@_login
def give_back(request):
    """An item scanned back in (by its label, or the button by a holder's open rental); or a settlement."""
    institution_id = _institution_id(request)
    user = request.user
    pk = request.POST.get("rental", "")
    rental = (selectors.rental_for_desk(user=user, pk=int(pk)) if pk.isdigit() else
              selectors.open_rental_of_item(user=user, institution_id=institution_id, code=request.POST.get("item", "")))
    try:
        if rental is None:
            raise DomainError("rental_not_found")
        done = services.rental_return(actor=Actor.by_user(user), rental=rental,
                                      password=request.POST.get("password") or None)
    except DomainError as error:
        now = selectors.rental_for_desk(user=user, pk=rental.pk) if rental is not None else None
        if now is not None and now.returned_at is not None and now.settled_at is None:
            # the item is back; its fee is still owed (the holder recharges or gives the password)
            messages.error(request, _("%(item)s is back, but the fee %(fee)s was not paid: %(reason)s")
                           % {"item": now.item.name, "fee": format_fen(now.fee), "reason": error.message})
        else:
            messages.error(request, error.message)
    else:
        messages.success(request, _("%(item)s returned by %(name)s: fee %(fee)s, deposit %(deposit)s released.")
                         % {"item": done.item.name, "name": done.person.name, "fee": format_fen(done.fee),
                            "deposit": format_fen(max(0, done.deposit - done.fee))})
    return redirect("devices:rental_desk")


@require_POST
@_login
def finish(request):
    _institution_id(request)
    request.session.pop(SESSION_KEY, None)
    return redirect("devices:rental_desk")
