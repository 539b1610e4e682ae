"""Browser gate (ACC-1 … ACC-5; issue 6 item 8): a turnstile simulator for the device's zone(s).

Enrolled like the kiosk and POS (``/devices/enrol/gate/``: device id + secret → signed cookie). A
keyboard-wedge reader types the card UID, the holder's QR code or a visitor code (``CV1.…``) and Enter
into the focused field; htmx posts it and swaps in a big ADMIT or REFUSE with the rule's message, in the
page's language, then the last ten decisions. Presentation only: ``access.services.gate_decide`` decides
and logs.
"""

from __future__ import annotations

import re

from django.shortcuts import render
from django.views.decorators.http import require_POST

from campuscard.access import pages, services
from campuscard.access.errors import rule_message
from campuscard.access.keys import PREFIX as VISITOR_PREFIX
from campuscard.cards import codes
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.terminals.web import device_page

_CARD_UID = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){3,9}$")  # what a wedge NFC reader types


def credential(presented: str) -> dict[str, str]:
    """Which kind of credential the reader typed: visitor code, card UID or a holder's dynamic code."""
    presented = presented.strip()
    if presented.upper().startswith(VISITOR_PREFIX):
        return {"visitor_code": presented}
    if _CARD_UID.match(presented) and not codes.is_numeric(presented):
        return {"nfc_uid": presented}
    return {"code": presented}


def _zone(request, zones):
    wanted = request.POST.get("zone") or request.GET.get("zone") or ""
    return next((z for z in zones if z.code == wanted), zones[0] if zones else None)


@device_page(Device.Kind.GATE)
def gate_page(request):
    zones = pages.gate_zones(request.device)
    zone = _zone(request, zones)
    context = {"device": request.device, "zones": zones, "zone": zone, "recent": pages.gate_recent(request.device),
               "kind": Device.Kind.GATE}
    if request.htmx and request.GET.get("part") == "recent":
        return render(request, "terminals/gate_recent.html", context)
    return render(request, "terminals/gate.html", context)


@require_POST
@device_page(Device.Kind.GATE)
def decide(request):
    """One presentation at the turnstile; answers with the verdict panel and the refreshed list."""
    zones = pages.gate_zones(request.device)
    zone = _zone(request, zones)
    presented = request.POST.get("credential", "").strip()
    context = {"device": request.device, "zone": zone}
    if zone is None:
        context.update(error=DomainError("gate_zone_not_bound"))
    elif not presented:
        context.update(error=DomainError("credential_missing"))
    else:
        try:
            outcome = services.gate_decide(device=request.device, zone_code=zone.code, **credential(presented))
        except DomainError as error:
            context.update(error=error)
        else:
            context.update(admitted=outcome.decision.admitted, rule=outcome.decision.rule,
                           message=rule_message(outcome.decision.rule))
    context["recent"] = pages.gate_recent(request.device)
    if not request.htmx:
        return render(request, "terminals/gate.html", {**context, "zones": zones, "kind": Device.Kind.GATE})
    return render(request, "terminals/gate_result.html", context)
