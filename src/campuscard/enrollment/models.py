"""Mobile-card applications (APP-1 … APP-7): materials, phone check, face checks, review, activation.

Biometric data (registrar photos' embeddings, liveness frames) and phone numbers are stored encrypted
(`core.crypto`, #18 item 7)
and the frames are deleted once the application is decided (PIPL)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campuscard.core.crypto import BlindIndexField, EncryptedCharField
from campuscard.core.models import Institution, ServicePoint
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class Application(models.Model):
    """One person's application for a mobile (virtual + physical) card (APP-1 … APP-5)."""

    institution_path = "person__institution"

    class State(models.TextChoices):
        DRAFT = "draft", _("being filled in")
        CHECKING = "checking", _("automatic checks running")
        REVIEW = "review", _("waiting for review")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    OPEN_STATES = (State.DRAFT, State.CHECKING, State.REVIEW)

    class FaceState(models.TextChoices):
        NOT_STARTED = "not_started", _("not started")
        CHECKING = "checking", _("being checked")
        PASSED = "passed", _("passed")
        FAILED = "failed", _("failed")
        MANUAL = "manual", _("manual review")

    class Collect(models.TextChoices):
        KIOSK = "kiosk", _("a self-service kiosk of my campus")
        WINDOW = "window", _("the Card Center window")
        UNIT = "unit", _("my unit (bulk issuing)")

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="applications",
                               verbose_name=_("applicant"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    phone = EncryptedCharField(_("mobile phone"), max_length=20, blank=True)  # #18 item 7
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)
    id_checked_at = models.DateTimeField(_("ID document checked at"), null=True, blank=True)
    status_proof = models.CharField(_("proof of student status"), max_length=64, blank=True,
                                    help_text=_("the registrar's reference for the electronic proof"))
    addons = models.JSONField(_("add-ons"), default=list, blank=True)
    collect = models.CharField(_("collect the card at"), max_length=10, choices=Collect.choices,
                               default=Collect.KIOSK)
    collect_point = models.ForeignKey(ServicePoint, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("service point"))
    biometric_consent_at = models.DateTimeField(_("face-check consent given at"), null=True, blank=True)
    face_state = models.CharField(_("face check"), max_length=12, choices=FaceState.choices,
                                  default=FaceState.NOT_STARTED)
    face_distance = models.FloatField(_("face distance"), null=True, blank=True)
    face_reason = models.CharField(_("face-check reason"), max_length=200, blank=True)
    checks_passed = models.BooleanField(_("all automatic checks passed"), null=True, blank=True)
    checks_failed = models.JSONField(_("automatic checks not passed"), default=list, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    card = models.ForeignKey("cards.Card", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("card"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("card application")
        verbose_name_plural = _("card applications")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["person"], condition=Q(state__in=["draft", "checking", "review"]),
                                    name="one_open_application"),
        ]
        indexes = [models.Index(fields=["state", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.person} {self.get_state_display()}"


class Document(models.Model):
    """An uploaded supporting document (APP-2): served only to the holder and entitled operators."""

    institution_path = "application__person__institution"

    class Kind(models.TextChoices):
        ID_DOCUMENT = "id_document", _("ID document")
        PERMIT = "permit", _("travel or residence permit")
        ACCOMMODATION = "accommodation", _("temporary accommodation registration")
        ISSC_LETTER = "issc_letter", _("International Student Service Center letter")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents",
                                    verbose_name=_("application"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="documents/%Y/%m/")
    content_type = models.CharField(_("content type"), max_length=50)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_at = models.DateTimeField(_("uploaded at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["application", "kind"]

    def __str__(self) -> str:
        return f"{self.application} {self.get_kind_display()}"


class PhoneCode(models.Model):
    """A one-time SMS code sent to a mobile number (APP-2); only its hash is kept."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+",
                                    verbose_name=_("institution"))
    phone = EncryptedCharField(_("mobile phone"), max_length=20, blind_index="phone_index")  # #18 item 7
    phone_index = BlindIndexField(source="phone")
    code_hash = models.CharField(max_length=128, editable=False)
    client_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"))
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong guesses"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("SMS code")
        verbose_name_plural = _("SMS codes")
        indexes = [models.Index(fields=["phone_index", "sent_at"], name="phone_code_phone_index")]

    def __str__(self) -> str:
        return f"{self.phone} {self.sent_at:%Y-%m-%d %H:%M}"


class RegistrarPhoto(models.Model):
    """The registrar's photo of a student and its face embedding, computed once at import (APP-3)."""

    institution_path = "person__institution"

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="registrar_photo",
                                  verbose_name=_("student"))
    image = models.BinaryField(editable=False)  # encrypted JPEG
    embedding = models.BinaryField(null=True, editable=False)  # encrypted 128 float64; null: no face found
    source = models.CharField(_("source"), max_length=10, default="zip")
    imported_at = models.DateTimeField(_("imported at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("registrar photo")
        verbose_name_plural = _("registrar photos")

    def __str__(self) -> str:
        return str(self.person)


class FaceAttempt(models.Model):
    """One face-check attempt: the actions in the order the server chose, within a time window (APP-3)."""

    institution_path = "application__person__institution"

    class State(models.TextChoices):
        OPEN = "open", _("waiting for frames")
        CHECKING = "checking", _("being checked")
        PASSED = "passed", _("passed")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="face_attempts",
                                    verbose_name=_("application"))
    nonce = models.CharField(max_length=43, unique=True, editable=False)
    actions = models.JSONField(_("actions"), default=list)  # e.g. ["nod", "blink"]
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    frames = models.BinaryField(null=True, editable=False)  # encrypted; deleted once the application is decided
    frame_count = models.PositiveSmallIntegerField(_("frames"), default=0)
    liveness_ok = models.BooleanField(_("liveness passed"), null=True)
    failed_action = models.CharField(_("failed action"), max_length=10, blank=True)
    distance = models.FloatField(_("distance to the registrar photo"), null=True, blank=True)
    reason = models.CharField(_("reason code"), max_length=40, blank=True)
    cpu_seconds = models.FloatField(_("CPU seconds"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("face-check attempt")
        verbose_name_plural = _("face-check attempts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.application} {self.get_state_display()}"


class SeenFrame(models.Model):
    """The hash of every frame ever submitted: a frame seen before is a replay and is refused (APP-3)."""

    digest = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = _("seen frame")
        verbose_name_plural = _("seen frames")

    def __str__(self) -> str:
        return self.digest


class TerminalFace(models.Model):
    """A holder's face as the face terminals know it (ID-7): the embedding of an approved photo, from the
    day the photo takes effect. Rows are appended, never changed: ``version`` orders them per institution
    (given under a lock on the institution, so a terminal asking "since N" never skips one)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+",
                                    verbose_name=_("institution"))
    version = models.BigIntegerField(_("version"))
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="terminal_faces",
                               verbose_name=_("holder"))
    photo = models.ForeignKey("cards.Photo", on_delete=models.CASCADE, related_name="+", verbose_name=_("photo"))
    embedding = models.BinaryField(null=True, editable=False)  # encrypted 128 float64; null: no face on the photo
    effective_from = models.DateField(_("effective from"))
    computed_at = models.DateTimeField(_("computed at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("face-terminal template")
        verbose_name_plural = _("face-terminal templates")
        ordering = ["institution", "version"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "version"], name="terminal_face_version"),
            models.UniqueConstraint(fields=["photo"], name="terminal_face_one_per_photo"),
        ]

    def __str__(self) -> str:
        return f"{self.person} v{self.version}"
