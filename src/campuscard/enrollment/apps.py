from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnrollmentConfig(AppConfig):
    name = "campuscard.enrollment"
    label = "enrollment"
    verbose_name = _("Card applications")

    def ready(self) -> None:
        from campuscard.enrollment import errors  # noqa: F401
