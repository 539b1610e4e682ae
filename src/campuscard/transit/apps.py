from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _card_saved(sender, instance, update_fields=None, created=False, **kwargs) -> None:
    """A card's state or kind changed: transit unbinds it when it may no longer ride (TRN-1)."""
    if created or (update_fields is not None and not {"state", "kind"} & set(update_fields)):
        return
    from campuscard.transit.services import on_card_changed

    on_card_changed(card=instance)


def _credential_saved(sender, instance, created=False, **kwargs) -> None:
    """A new phone (HCE) credential replaces the card's previous one: transit unbinds the old phone (#20 item 1)."""
    if not created or instance.kind != "hce":
        return
    from campuscard.transit.services import on_phone_replaced

    on_phone_replaced(credential=instance)


class TransitConfig(AppConfig):
    name = "campuscard.transit"
    label = "transit"
    verbose_name = _("Transit")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from campuscard.cards.models import Card, Credential
        from campuscard.transit import errors  # noqa: F401

        post_save.connect(_card_saved, sender=Card, dispatch_uid="transit-card-saved")
        post_save.connect(_credential_saved, sender=Credential, dispatch_uid="transit-credential-saved")
