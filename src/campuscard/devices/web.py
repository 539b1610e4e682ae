"""Browser device pages (kiosk, later POS and gate) authenticate as the device.

A device page is enrolled once with the device id and secret (typed by the installer); the server
checks them and sets a signed cookie naming the device. Every request re-loads the device, so a
revocation in the back office takes effect on the next click.
"""

from __future__ import annotations

import functools
import hmac

from django.core import signing
from django.shortcuts import redirect

from campuscard.devices.models import Device

COOKIE = "cc_device"
SALT = "campuscard.devices.web"


def device_enrol(*, code: str, secret: str) -> Device | None:
    device = Device.objects.filter(code=code.strip(), revoked_at=None).first()
    if device is None or not hmac.compare_digest(device.secret, secret.strip()):
        return None
    return device


def set_device_cookie(response, device: Device) -> None:
    response.set_signed_cookie(COOKIE, str(device.pk), salt=SALT, httponly=True, samesite="Strict",
                               max_age=365 * 86400)


def current_device(request, kind: str) -> Device | None:
    try:
        pk = request.get_signed_cookie(COOKIE, salt=SALT)
    except (KeyError, signing.BadSignature):
        return None
    device = Device.objects.select_related("institution", "service_point").filter(pk=pk).first()
    if device is None or device.revoked_at is not None or device.kind != kind:
        return None
    return device


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
