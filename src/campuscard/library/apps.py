from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LibraryConfig(AppConfig):
    name = "campuscard.library"
    label = "library"
    verbose_name = _("Library")

    def ready(self) -> None:
        from campuscard.library import errors  # noqa: F401
