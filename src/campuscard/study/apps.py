from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudyConfig(AppConfig):
    name = "campuscard.study"
    label = "study"
    verbose_name = _("Study services")

    def ready(self) -> None:
        from campuscard.study import errors  # noqa: F401
