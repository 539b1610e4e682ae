"""Health records from the campus hospital (SVC-6): physical examinations and vaccinations, and the log of
every read by anyone but the holder.

The records are the hospital's: they arrive through its feed (API or CSV), keyed by the hospital's own
record number, and are never edited by hand. What they say is encrypted at rest (``core.crypto``, #18 item 7);
who, which record and when (holder, record number, dates) stay plain, for ordering and the feed's matching.
``RecordRead`` is append-only: the holder's "who read my data".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.crypto import (
    EncryptedCharField,
    EncryptedDecimalField,
    EncryptedPositiveSmallIntegerField,
)
from campuscard.core.models import Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class Examination(models.Model):
    """One physical examination (体检) as the hospital reported it."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="examinations",
                               verbose_name=_("holder"))
    external_id = models.CharField(_("hospital record number"), max_length=64)
    examined_on = models.DateField(_("examined on"))
    height_cm = EncryptedDecimalField(_("height (cm)"), max_digits=4, decimal_places=1, null=True, blank=True)
    weight_kg = EncryptedDecimalField(_("weight (kg)"), max_digits=4, decimal_places=1, null=True, blank=True)
    systolic = EncryptedPositiveSmallIntegerField(_("blood pressure, systolic (mmHg)"), null=True, blank=True)
    diastolic = EncryptedPositiveSmallIntegerField(_("blood pressure, diastolic (mmHg)"), null=True, blank=True)
    heart_rate = EncryptedPositiveSmallIntegerField(_("heart rate (/min)"), null=True, blank=True)
    vision_left = EncryptedDecimalField(_("vision, left"), max_digits=2, decimal_places=1, null=True, blank=True)
    vision_right = EncryptedDecimalField(_("vision, right"), max_digits=2, decimal_places=1, null=True, blank=True)
    conclusion = EncryptedCharField(_("conclusion"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("physical examination")
        verbose_name_plural = _("physical examinations")
        ordering = ["-examined_on", "-pk"]
        constraints = [models.UniqueConstraint(fields=["institution", "external_id"], name="health_exam_unique")]
        indexes = [models.Index(fields=["person", "examined_on"])]

    def __str__(self) -> str:
        return f"{self.examined_on} {self.external_id}"


class Vaccination(models.Model):
    """One vaccine dose given, as the hospital reported it."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="vaccinations",
                               verbose_name=_("holder"))
    external_id = models.CharField(_("hospital record number"), max_length=64)
    vaccine = EncryptedCharField(_("vaccine"), max_length=100)
    dose = EncryptedPositiveSmallIntegerField(_("dose"), default=1)
    given_on = models.DateField(_("given on"))
    batch = EncryptedCharField(_("batch"), max_length=50, blank=True)
    received_at = models.DateTimeField(_("received at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("vaccination")
        verbose_name_plural = _("vaccinations")
        ordering = ["-given_on", "-pk"]
        constraints = [models.UniqueConstraint(fields=["institution", "external_id"], name="health_vacc_unique")]
        indexes = [models.Index(fields=["person", "given_on"])]

    def __str__(self) -> str:
        return f"{self.vaccine} #{self.dose} {self.given_on}"


class RecordRead(models.Model):
    """One read of a holder's health data by someone else: who, when, what, through which channel."""

    institution_path = "institution"

    class Channel(models.TextChoices):
        BACKOFFICE = "backoffice", _("back office")
        API = "api", _("API")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="health_reads",
                               verbose_name=_("holder"))
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("read by"))
    reader_name = models.CharField(_("reader's name"), max_length=150)
    read_at = models.DateTimeField(_("read at"))
    what = models.CharField(_("what was read"), max_length=300)
    examinations = models.PositiveIntegerField(_("examinations shown"), default=0)
    vaccinations = models.PositiveIntegerField(_("vaccinations shown"), default=0)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("health record read")
        verbose_name_plural = _("health record reads")
        ordering = ["-read_at", "-pk"]
        indexes = [models.Index(fields=["person", "read_at"]), models.Index(fields=["institution", "read_at"])]

    def __str__(self) -> str:
        return f"{self.read_at:%Y-%m-%d %H:%M} {self.reader_name}"
