from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnrollmentConfig(AppConfig):
    name = "campuscard.enrollment"
    label = "enrollment"
    verbose_name = _("Card applications")

    def ready(self) -> None:
        from campuscard.core.crypto import register_blobs
        from campuscard.enrollment import errors  # noqa: F401

        # the biometric blobs encrypted by hand (enrollment.crypto), for `campuscard pii rotate` (#18 item 7)
        register_blobs("enrollment.RegistrarPhoto", "image", "embedding")
        register_blobs("enrollment.FaceAttempt", "frames")
        register_blobs("enrollment.TerminalFace", "embedding")
