from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "campuscard.payments"
    label = "payments"
    verbose_name = _("Payments and recharge")

    def ready(self) -> None:
        from campuscard.payments import errors  # noqa: F401
        from campuscard.payments.gateways import sandbox  # noqa: F401  (registers the sandbox gateway)
