from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DormConfig(AppConfig):
    name = "campuscard.dorm"
    label = "dorm"
    verbose_name = _("Dormitory services")

    def ready(self) -> None:
        from campuscard.dorm import errors  # noqa: F401
