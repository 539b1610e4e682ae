"""Browser laundry machine (SVC-5): the machine's card reader and cycle report, for a machine controller
that shows a web page (or to try the machine side without hardware).

Enrolled like the gate (``/devices/enrol/laundry/``: device id + secret → signed cookie). A tapped card
(its NFC UID) starts the machine only for the holder of the slot's booking (``dorm.services.laundry_start``);
the end of the cycle is reported as done or failed (failed: refunded). Presentation only.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_POST

from campuscard.core.errors import DomainError
from campuscard.dorm import services
from campuscard.dorm.models import Booking
from campuscard.terminals.web import device_page

KIND = services.MACHINE_DEVICE_KIND


def _page(request, **context):
    try:
        machine = services.machine_of(device=request.device)
    except DomainError as error:
        return render(request, "terminals/laundry.html", {"device": request.device, "error": error})
    running = Booking.objects.filter(machine=machine, state=Booking.State.STARTED).select_related("person").first()
    return render(request, "terminals/laundry.html", {"device": request.device, "machine": machine,
                                                      "running": running, **context})


@device_page(KIND)
def machine_page(request):
    return _page(request)


@require_POST
@device_page(KIND)
def start(request):
    try:
        booking = services.laundry_start(device=request.device, nfc_uid=request.POST.get("nfc_uid", ""))
    except DomainError as error:
        return _page(request, refused=error)
    return _page(request, started=booking)


@require_POST
@device_page(KIND)
def cycle(request, pk: int):
    ok = request.POST.get("outcome") == "done"
    try:
        booking = services.laundry_cycle_end(device=request.device, booking_id=pk, ok=ok,
                                             failure="" if ok else request.POST.get("failure", "")[:100])
    except DomainError as error:
        return _page(request, refused=error)
    return _page(request, ended=booking)
