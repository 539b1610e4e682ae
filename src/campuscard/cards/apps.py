from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CardsConfig(AppConfig):
    name = "campuscard.cards"
    label = "cards"
    verbose_name = _("Cards and credentials")

    def ready(self) -> None:
        from campuscard.cards import errors  # noqa: F401
