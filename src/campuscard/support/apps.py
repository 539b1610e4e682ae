from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "campuscard.support"
    label = "support"
    verbose_name = _("Support and notifications")

    def ready(self) -> None:
        from campuscard.support import errors, signals  # noqa: F401  (refusals, the login receiver)
