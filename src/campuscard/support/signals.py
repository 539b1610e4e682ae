"""Every login, whichever way (password, single sign-on): record its device, alert on a new one (SUP-4)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from campuscard.identity.throttle import client_address
from campuscard.support.alerts import DEVICE_COOKIE, device_login


@receiver(user_logged_in, dispatch_uid="support_device_login")
def _device_login(sender, request, user, **kwargs) -> None:
    if request is None:
        return
    device_id, _alerted = device_login(user=user, device_id=request.COOKIES.get(DEVICE_COOKIE),
                                       user_agent=request.META.get("HTTP_USER_AGENT", ""),
                                       address=client_address(request))
    request.cc_device_id = device_id  # the login view keeps it in a long-lived cookie
