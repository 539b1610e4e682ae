from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "campuscard.ledger"
    label = "ledger"
    verbose_name = _("Ledger")

    def ready(self) -> None:
        from campuscard.core import metrics
        from campuscard.ledger import errors  # noqa: F401  (registers error codes)
        from campuscard.ledger.metrics import ledger_status

        metrics.scraped(ledger_status)  # the last check's result on /metrics (#18 item 8)
