"""Browser device pages (kiosk, POS, gate) authenticate as the device.

A device page is enrolled once with the device id and secret (typed by the installer); the registry
(``devices.services``) checks them and the page keeps a signed cookie naming the device. Every request
re-loads the device there, so a revocation in the back office takes effect on the next click.
"""

from __future__ import annotations

import functools

from django.core import signing
from django.shortcuts import redirect

from campuscard.devices.models import Device
from campuscard.devices.services import device_for_page

COOKIE = "cc_device"
SALT = "campuscard.devices.web"  # the module's old name: enrolled devices keep their cookies


def set_device_cookie(response, device: Device) -> None:
    response.set_signed_cookie(COOKIE, str(device.pk), salt=SALT, httponly=True, samesite="Strict",
                               max_age=365 * 86400)


def current_device(request, kind: str) -> Device | None:
    try:
        pk = request.get_signed_cookie(COOKIE, salt=SALT)
    except (KeyError, signing.BadSignature):
        return None
    return device_for_page(pk=pk, kind=kind)


def device_page(kind: str):
    """Decorator: the view runs only on an enrolled, unrevoked device of that kind."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            device = current_device(request, kind)
            if device is None:
                return redirect("devices:enrol", kind=kind)
            request.device = device
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
