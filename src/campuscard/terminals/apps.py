from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    """The pages a device's browser shows (POS, kiosk, gate): presentation over the device registry
    (``devices``) and the domains they serve; no models, no rules."""

    name = "campuscard.terminals"
    label = "terminals"
