from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HealthConfig(AppConfig):
    name = "campuscard.health"
    label = "health"
    verbose_name = _("Health records")

    def ready(self) -> None:
        from campuscard.health import errors  # noqa: F401 (registers the refusal codes)
