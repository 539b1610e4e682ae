"""Self-service kiosk (SUP-3, CARD-5): loss report, replacement, card collection, cash recharge —
for students and temporary holders identified by their ID card or special certificate number."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards import selectors as card_selectors
from campuscard.cards import services as card_services
from campuscard.cards.models import Card, Production
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.devices.models import Device
from campuscard.devices.services import device_enrol
from campuscard.identity import throttle
from campuscard.identity.documents import normalise
from campuscard.identity.models import Person
from campuscard.identity.services import query_password_verify
from campuscard.terminals.web import device_page, set_device_cookie

SESSION_KEY = "kiosk_person"
IDLE_SECONDS = 120  # a kiosk forgets the holder after two idle minutes
KIOSK_KINDS = (Person.Kind.UNDERGRADUATE, Person.Kind.GRADUATE, Person.Kind.EXCHANGE, Person.Kind.TEMPORARY)

def enrol(request, kind: str):
    error = None
    if request.method == "POST":
        device = device_enrol(code=request.POST.get("code", ""), secret=request.POST.get("secret", ""))
        if device is not None and device.kind == kind:
            response = redirect(f"devices:{kind}")
            set_device_cookie(response, device)
            return response
        error = _("Unknown device id or wrong secret.")
    return render(request, "terminals/enrol.html", {"kind": kind, "error": error})


def _holder(request) -> Person | None:
    data = request.session.get(SESSION_KEY)
    if not data or clock.now().timestamp() - data["at"] > IDLE_SECONDS:
        request.session.pop(SESSION_KEY, None)
        return None
    data["at"] = clock.now().timestamp()
    request.session[SESSION_KEY] = data
    return Person.objects.filter(pk=data["id"], institution=request.device.institution).first()


@device_page(Device.Kind.KIOSK)
def kiosk(request):
    person = _holder(request)
    if person is None:
        return render(request, "terminals/kiosk_identify.html", {"device": request.device})
    cards = list(Card.objects.filter(person=person, state__in=[Card.State.ACTIVE, Card.State.LOST, Card.State.FROZEN])
                 .select_related("production"))
    for card in cards:  # the fee, how it can be paid here, what moves (#17 item 10)
        card.preview = card_selectors.replacement_preview(card=card, fee=card_services.replacement_fee(card=card),
                                                          channel="kiosk")
    waiting = list(Production.objects.filter(card__person=person, state=Production.State.AT_KIOSK)
                   .select_related("card", "collect_point"))
    # The one place the holder chose (APP-5): only that card is handed out here; any other is named.
    ready = [p for p in waiting if collectable_here(p, request.device)]
    elsewhere = [p for p in waiting if not collectable_here(p, request.device)]
    return render(request, "terminals/kiosk_home.html", {
        "device": request.device, "person": person, "cards": cards, "ready": ready, "elsewhere": elsewhere,
        "here": _here(request.device), "fees_due": card_selectors.fees_due(person=person)})


def _here(device: Device) -> ServicePoint | None:
    """The kiosk's own place: a physical card replaced here waits here."""
    point = device.service_point
    return point if point is not None and point.kind == ServicePoint.Kind.KIOSK else None


def collectable_here(production: Production, device: Device) -> bool:
    """A card waits for its holder at the one kiosk they chose (APP-5, #17 item 7): only that kiosk hands it
    out. A kiosk not placed at a service point cannot tell where it stands and hands out no card; a card for
    the window or a unit is never handed out by a kiosk."""
    point = production.collect_point
    if point is None or point.kind != ServicePoint.Kind.KIOSK:
        return False
    return device.service_point_id == point.pk


@require_POST
@device_page(Device.Kind.KIOSK)
def identify(request):
    """The certificate number (read from the ID card, or typed for a special certificate) AND the
    query password (ID-6) identify the holder; wrong attempts are throttled like logins."""
    number = normalise("", request.POST.get("id_number", ""))
    account = f"kiosk:{request.device.institution_id}:{number}"
    minutes = throttle.locked_for_minutes(account)
    # id_number=… is answered by the HMAC blind index, never the (encrypted) number (#18 item 7)
    person = (Person.objects.filter(institution=request.device.institution, id_number=number)
              .order_by("-updated_at").first()) if number and not minutes else None
    if minutes:
        messages.error(request, DomainError("login_locked", minutes=minutes).message)
    elif person is None or not query_password_verify(person=person, secret=request.POST.get("query_password", "")):
        throttle.record_failure(account)
        messages.error(request, DomainError("card_identity_mismatch").message)
    elif person.kind not in KIOSK_KINDS:
        messages.error(request, DomainError("kiosk_staff_go_to_window").message)
    else:
        throttle.clear(account)
        request.session[SESSION_KEY] = {"id": person.pk, "at": clock.now().timestamp()}
    return redirect("devices:kiosk")


@require_POST
@device_page(Device.Kind.KIOSK)
def action(request):
    person = _holder(request)
    if person is None:
        return redirect("devices:kiosk")
    what = request.POST.get("action")
    actor = Actor.by_device(request.device)
    try:
        if what == "done":
            request.session.pop(SESSION_KEY, None)
            return redirect("devices:kiosk")
        card = Card.objects.get(person=person, number=request.POST.get("card"))
        if what == "lost":
            card_services.card_report_lost(actor=actor, card=card, channel="kiosk")
            messages.success(request, _("Card %(number)s is reported lost and stopped everywhere.")
                             % {"number": card.number})
        elif what == "replace":
            physical = request.POST.get("form") == "physical"
            new = card_services.card_replace(actor=actor, card=card, physical=physical, channel="kiosk",
                                             fee_payment=request.POST.get("fee_payment", "balance"),
                                             collect_point=_here(request.device) if physical else None)
            messages.success(request, _("New card %(number)s issued.") % {"number": new.number})
        elif what == "collect":
            production = Production.objects.filter(card=card).select_related("collect_point").first()
            if production is not None and not collectable_here(production, request.device):
                raise DomainError("collect_elsewhere", where=production.collect_where)
            if production is None:
                raise DomainError("production_state_invalid", state="—", target=Production.State.COLLECTED.label)
            card_services.production_advance(actor=actor, production=production, target=Production.State.COLLECTED)
            messages.success(request, _("Please take your card from the tray."))
    except DomainError as error:
        messages.error(request, error.message, extra_tags=error.code)  # the page shows the code (data-code)
    except (ValueError, KeyError, Card.DoesNotExist):
        messages.error(request, DomainError("validation_error").message, extra_tags="validation_error")
    return redirect("devices:kiosk")
