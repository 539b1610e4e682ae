from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "campuscard.identity"
    label = "identity"
    verbose_name = _("People and identity")

    def ready(self) -> None:
        from campuscard.identity import errors  # noqa: F401  (registers error codes)
        from campuscard.identity.roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self)
