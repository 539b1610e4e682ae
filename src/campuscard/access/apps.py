from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "campuscard.access"
    label = "access"
    verbose_name = _("Access control")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from campuscard.access import (
            errors,  # noqa: F401
            facts,
        )
        from campuscard.access.models import Zone, ZoneException

        # A zone or exception changed in this process: forget its cached facts at once (other processes
        # reload after ACCESS_ZONE_CACHE_SECONDS).
        for model in (Zone, ZoneException):
            post_save.connect(facts.on_zone_changed, sender=model, dispatch_uid=f"access-forget-{model.__name__}")
            post_delete.connect(facts.on_zone_changed, sender=model, dispatch_uid=f"access-forget-d-{model.__name__}")
        m2m_changed.connect(facts.on_zone_changed, sender=Zone.gates.through, dispatch_uid="access-forget-gates")
