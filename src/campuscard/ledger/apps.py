from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "campuscard.ledger"
    label = "ledger"
    verbose_name = _("Ledger")

    def ready(self) -> None:
        from campuscard.ledger import errors  # noqa: F401  (registers error codes)
