from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RentalConfig(AppConfig):
    name = "campuscard.rental"
    label = "rental"
    verbose_name = _("Equipment rental")

    def ready(self) -> None:
        from campuscard.rental import errors  # noqa: F401 (registers the refusal codes)
