"""Browser bus validator (TRN-2): a simulator of the validator on a bus, online or offline.

Enrolled like the gate (``/devices/enrol/validator/``: device id + secret → signed cookie). The page
downloads the validator's signed snapshot (``transit.offline.snapshot_build``: fares, bound cards,
deny-list with its version) while "online", verifies its Ed25519 signature in the browser with the keys it
was provisioned with (``offline.trusted_keys``, then each verified snapshot's ``visitor_keys``) and refuses
a list that does not verify (#20 item 2), decides each tap — a card's NFC UID or a phone's one-time code
(HCE) — in the browser from it with no network
(the buffer of taps is shown), and uploads the buffer when online again
(``transit.services.taps_upload``: the same batch twice charges once). Presentation only.
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.terminals.web import device_page
from campuscard.transit import offline, services


def _texts() -> dict[str, str]:
    return {
        "ride": _("Have a good ride"), "denied": _("Card refused: recharge or contact the Card Center"),
        "not_bound": _("This card is not bound to the buses"), "no_list": _("No list yet: go online and download it"),
        "offline": _("Offline"), "online": _("Online"), "student": _("student fare"), "staff": _("staff fare"),
        "full": _("full fare"), "phone": _("phone (NFC)"),
        "verified": _("Signature verified"),
        "forged": _("The list's signature does not verify: it was not used. Check the network and the keys."),
        "uploaded": _("Uploaded: %(charged)s charged, %(duplicates)s already there, %(refused)s not charged, "
                      "%(flagged)s flagged."),
        "upload_offline": _("No network: the taps stay in the buffer."),
        "upload_failed": _("Upload failed; the taps stay in the buffer."),
    }


def _error(error: DomainError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status)


@device_page(Device.Kind.VALIDATOR)
def validator_page(request):
    try:
        validator = services.validator_of(device=request.device)
    except DomainError as error:
        return render(request, "terminals/validator.html", {"device": request.device, "error": error})
    return render(request, "terminals/validator.html", {
        "device": request.device, "validator": validator, "texts": _texts(),
        "trusted_keys": offline.trusted_keys(request.device.institution_id)})


@require_GET
@device_page(Device.Kind.VALIDATOR)
def snapshot(request):
    try:
        return JsonResponse(offline.snapshot_build(validator=services.validator_of(device=request.device)))
    except DomainError as error:
        return _error(error)


@require_POST
@device_page(Device.Kind.VALIDATOR)
def upload(request):
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error(DomainError("validation_error"))
    if not isinstance(body, dict) or not isinstance(body.get("taps"), list):
        return _error(DomainError("validation_error"))
    version = body.get("deny_version", 0)
    try:
        result = services.taps_upload(device=request.device, taps=body["taps"],
                                      deny_version=version if isinstance(version, int) else 0)
    except DomainError as error:
        return _error(error)
    return JsonResponse(result.as_dict())
