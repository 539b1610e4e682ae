from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo institutions and the ``demo``/``up`` commands: the top layer, it may use every app and
    none may use it."""

    name = "campuscard.demo"
    label = "demo"
