"""City buses in the portal (TRN-1): bind a card and/or the phone (accepting the terms), bind or unbind the
phone later, suspend/resume/end the binding,
see rides and fares, dispute a ride. Presentation only: ``transit.services`` decides."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards.models import Card, Credential
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity import selectors as identity_selectors
from campuscard.ledger.selectors import account_balances
from campuscard.transit import selectors, services
from campuscard.transit.models import Binding, Operator


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


@login_required
def transit(request):
    person = _person(request)
    bindings = list(selectors.bindings_of(person))
    live = {b.card_id for b in bindings if b.state != Binding.State.ENDED}
    cards = [c for c in Card.objects.filter(person=person, state=Card.State.ACTIVE).order_by("-issued_at")
             if c.pk not in live]
    for card in cards:
        card.nfc = Credential.objects.filter(card=card, kind=Credential.Kind.NFC, active=True).exclude(uid="").exists()
        card.phone = Credential.objects.filter(card=card, kind=Credential.Kind.HCE, active=True).exists()
    for b in bindings:
        b.available = account_balances(account_id=b.card.wallet_account_id).available
    operators = Operator.objects.filter(institution=person.institution).order_by("code")
    return render(request, "portal/transit.html", {
        "person": person, "bindings": bindings, "cards": cards, "rides": selectors.rides_of(person, 50),
        "operators": operators, "tz": person.institution.time_zone, "hours": settings.APPEAL_WINDOW_HOURS})


@login_required
@require_POST
def bind(request):
    person = _person(request)
    card = Card.objects.filter(person=person, number=request.POST.get("card", "")).first()
    if card is None:
        raise Http404
    try:
        services.binding_create(actor=Actor.by_user(request.user), card=card,
                                accept_terms=request.POST.get("accept_terms") == "on",
                                with_card=request.POST.get("with_card") == "on",
                                with_phone=request.POST.get("with_phone") == "on")
    except DomainError as error:
        messages.error(request, error.message, extra_tags=error.code)
    else:
        messages.success(request, _("Card %(number)s is bound: tap it on the bus.") % {"number": card.number})
    return redirect("portal:transit")


@login_required
@require_POST
def binding_state(request, pk: int):
    binding = selectors.bindings_of(_person(request)).filter(pk=pk).first()
    if binding is None:
        raise Http404
    try:
        if "phone" in request.POST:  # bind or unbind the phone (#20 item 1)
            services.binding_phone_set(actor=Actor.by_user(request.user), binding=binding,
                                       bound=request.POST["phone"] == "on")
        else:
            services.binding_set(actor=Actor.by_user(request.user), binding=binding,
                                 state=request.POST.get("state", ""), reason="holder")
    except DomainError as error:
        messages.error(request, error.message, extra_tags=error.code)
    return redirect("portal:transit")


@login_required
def dispute(request, pk: int):
    person = _person(request)
    tap = selectors.ride_of(person, pk)
    if tap is None:
        raise Http404
    if request.method == "POST":
        try:
            services.dispute_open(actor=Actor.by_user(request.user), person=person, tap=tap,
                                  reason=request.POST.get("reason", ""))
        except DomainError as error:
            messages.error(request, error.message, extra_tags=error.code)
        else:
            messages.success(request, _("Dispute sent: the Card Center decides with the operator's evidence."))
            return redirect("portal:transit")
    return render(request, "portal/transit_dispute.html", {"person": person, "tap": tap,
                                                          "tz": person.institution.time_zone})
