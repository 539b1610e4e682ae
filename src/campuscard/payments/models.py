"""Recharge orders (TOP-1) and what payment gateways told us."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class RechargeOrder(models.Model):
    institution_path = "institution"

    class Channel(models.TextChoices):
        WINDOW = "window", _("cash at the service window")
        KIOSK = "kiosk", _("cash at a kiosk")
        ONLINE = "online", _("online payment")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for payment")
        PAID = "paid", _("credited")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        REVIEW = "review", _("needs review")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    order_no = models.CharField(_("order number"), max_length=40, unique=True)
    key = models.CharField(_("idempotency key"), max_length=120)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="recharges", verbose_name=_("holder"))
    amount = FenField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    provider = models.CharField(_("gateway"), max_length=20, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, db_index=True)
    hold_transfer_id = models.BigIntegerField(null=True, blank=True)
    transfer_id = models.BigIntegerField(_("ledger transfer"), null=True, blank=True)
    provider_txn = models.CharField(_("gateway transaction"), max_length=80, blank=True)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("operator"))
    device = models.ForeignKey("devices.Device", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("device"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("recharge")
        verbose_name_plural = _("recharges")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "key"], name="recharge_key_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="recharge_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.order_no


class GatewayNotification(models.Model):
    """Every callback a gateway sent, kept as received (signed or not) for audit and disputes."""

    institution_path = "order__institution"

    provider = models.CharField(max_length=20)
    received_at = models.DateTimeField(db_index=True)
    event_id = models.CharField(max_length=80, blank=True)
    order = models.ForeignKey(RechargeOrder, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="notifications")
    signature_ok = models.BooleanField()
    outcome = models.CharField(max_length=40)
    body = models.TextField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.outcome}"


class SandboxPayment(models.Model):
    """The sandbox gateway's own record (what the real gateway would keep on its side)."""

    order_no = models.CharField(max_length=40, unique=True)
    amount = FenField()
    status = models.CharField(max_length=10, default="created")  # created | paid | failed
    gateway_txn = models.CharField(max_length=40)
    callback_url = models.URLField(max_length=300)
    return_url = models.CharField(max_length=300)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.order_no} {self.status}"
