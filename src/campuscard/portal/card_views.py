"""My cards (CARD-1 … CARD-9, ID-7): pay code, loss, replacement, migration, photo — presentation only."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import codes, selectors, services
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.identity import selectors as identity_selectors


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


def _card(person, number: str):
    try:
        return selectors.card_of(person, number)
    except DomainError:
        raise Http404


def _run(request, fn, success: str, **kwargs):
    try:
        result = fn(**kwargs)
    except DomainError as error:
        messages.error(request, error.message)
        return None
    messages.success(request, success)
    return result


@login_required
def cards(request):
    person = _person(request)
    return render(request, "portal/cards.html", {
        "person": person, "cards": selectors.cards_of(person), "legacy": selectors.legacy_of(person),
        "photo": selectors.photo_status(person), "fees_due": selectors.fees_due(person=person)})


@login_required
def pay_code(request, number: str):
    person = _person(request)
    card = _card(person, number)
    context = {"person": person, "card": card, "step": settings.QR_STEP_SECONDS}
    if card.state == card.State.ACTIVE:
        credential = selectors.qr_credential(card)
        context["code"], context["svg"] = selectors.current_qr(card)
        typed = codes.numeric(context["code"], credential.pk)
        context["typed"] = " ".join(typed[i:i + 4] for i in range(0, len(typed), 4))
        context["ticket"] = codes.status_ticket(credential)
    template = "portal/_pay_code.html" if request.htmx else "portal/pay_code.html"
    return render(request, template, context)


@login_required
@require_POST
def offline_codes(request, number: str):
    """A fresh batch of one-time offline codes, pre-rendered, for the phone to keep (CARD-3)."""
    person = _person(request)
    card = _card(person, number)
    if card.state != card.State.ACTIVE:
        return JsonResponse({"codes": []})
    batch = codes.offline_codes_issue(credential=selectors.qr_credential(card))
    # the phone counts only codes that still work: they stop at this moment (a minute early, to be safe)
    expires = clock.now() + dt.timedelta(seconds=settings.OFFLINE_CODES_TTL_SECONDS - 60)
    return JsonResponse({"card": card.number, "limit": format_fen(settings.PASSWORD_FREE_LIMIT_FEN),
                         "expires": int(expires.timestamp() * 1000),
                         "codes": [{"code": c, "svg": selectors.qr_svg(c, scale=5)} for c in batch]})


@login_required
@require_POST
def report_lost(request, number: str):
    person = _person(request)
    _run(request, services.card_report_lost, _("Reported lost. The card is stopped everywhere."),
         actor=Actor.by_user(request.user), card=_card(person, number), channel="portal")
    return redirect("portal:cards")


@login_required
@require_POST
def unreport(request, number: str):
    person = _person(request)
    _run(request, services.card_unreport, _("Welcome back — the card works again."), actor=Actor.by_user(request.user),
         card=_card(person, number), channel="portal", password=request.POST.get("password", ""))
    return redirect("portal:cards")


@login_required
def replace(request, number: str):
    person = _person(request)
    card = _card(person, number)
    confirm_needed = card.state == card.State.ACTIVE  # a card not reported lost stops at once: ask first
    places = selectors.collect_places(person=person)
    preview = selectors.replacement_preview(card=card, fee=services.replacement_fee(card=card), channel="portal")
    if request.method == "POST":
        chosen = next((p for p in places if str(p.pk) == request.POST.get("collect_point")), None)
        if confirm_needed and request.POST.get("confirm") != "yes":
            messages.error(request, _("Tick the box to confirm: this card still works and stops at once."))
        else:
            new = _run(request, services.card_replace, _("Your new card is ready."), actor=Actor.by_user(request.user),
                       card=card, physical=request.POST.get("form") == "physical", channel="portal",
                       fee_payment=preview.fee_paid or "balance", collect_point=chosen)
            if new is not None:
                return redirect("portal:cards")
    return render(request, "portal/card_replace.html", {
        "person": person, "card": card, "confirm_needed": confirm_needed, "preview": preview, "places": places,
        "hours": settings.BALANCE_MOVE_AFTER_SECONDS // 3600, "days": settings.CARD_PRODUCTION_WORKING_DAYS,
        "window_only": "portal" not in services.REPLACE_CHANNELS[card.kind]})


@login_required
def migrate(request):
    person = _person(request)
    legacy = selectors.legacy_of(person)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        amount = _run(request, services.legacy_migrate, _("The old meal-card balance is now on your campus card."),
                      actor=Actor.by_user(request.user), person=person)
        if amount is not None:
            return redirect("portal:cards")
    return render(request, "portal/migrate.html", {"person": person, "legacy": legacy})


@login_required
def photo(request):
    person = _person(request)
    uploaded = request.method == "POST" and request.FILES.get("photo")
    if uploaded and _run(request, services.photo_upload, _("Photo uploaded. An operator will review it."),
                         actor=Actor.by_user(request.user), person=person, upload=uploaded):
        return redirect("portal:photo")
    return render(request, "portal/photo.html", {"person": person, "photo": selectors.photo_status(person)})


