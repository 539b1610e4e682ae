"""Devices (POS, kiosks, gates, validators) that authenticate every call as themselves."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution, ServicePoint
from campuscard.core.permissions import RestrictedQuerySet


class Device(models.Model):
    """A registered POS, kiosk, gate, validator or face terminal; it signs every call with its own secret."""

    institution_path = "institution"

    class Kind(models.TextChoices):
        POS = "pos", _("POS terminal")
        KIOSK = "kiosk", _("self-service kiosk")
        GATE = "gate", _("gate / door controller")
        VALIDATOR = "validator", _("bus validator")
        FACE = "face", _("face terminal")
        METER = "meter", _("dormitory meter system")
        LAUNDRY = "laundry", _("laundry machine")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="devices",
                                    verbose_name=_("institution"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    code = models.SlugField(_("device id"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    service_point = models.ForeignKey(ServicePoint, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="devices", verbose_name=_("location"))
    secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["institution", "kind", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class RequestNonce(models.Model):
    """A gate's request nonce, claimed in the same statement that logs the gate's decision (so a gate that
    retries a request whose batch failed is not refused as a replay). Other devices' nonces live in the
    cache. Kept twice the request window (``devices.tasks.purge_request_nonces``)."""

    device_id = models.BigIntegerField()  # a replay-protection record, not a relation: no constraint to check
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device_id", "nonce"], name="device_request_nonce_once")]

    def __str__(self) -> str:
        return f"{self.device_id}:{self.nonce}"
