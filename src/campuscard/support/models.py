"""In-app notifications (SUP-4), also sent by e-mail when the holder has an address."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import ChannelBinding, Person, User
from campuscard.support.messages import render


class Notification(models.Model):
    """A message to a holder in the portal (SUP-4): application news, low balance, security events."""

    institution_path = "person__institution"

    class Kind(models.TextChoices):
        APPLICATION = "application", _("application status")
        CARD_READY = "card_ready", _("card ready for collection")
        LOW_BALANCE = "low_balance", _("low balance")
        LOAN_DUE = "loan_due", _("loan due")
        APPEAL = "appeal", _("appeal decided")
        PASSWORD_DUE = "password_due", _("payment password due")
        SECURITY = "security", _("security event")
        PHOTO = "photo", _("photo review")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="notifications",
                               verbose_name=_("holder"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # As written, in the holder's language then (the e-mail's words, and what older rows show) …
    title = models.CharField(_("title"), max_length=150)
    body = models.TextField(_("message"), blank=True)
    # … and what each reader sees in their own language: the source texts and their parameters (#17 item 8).
    title_msgid = models.CharField(_("title (source text)"), max_length=300, blank=True)
    body_msgid = models.TextField(_("message (source text)"), blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # One notification per event even when the job that finds it runs twice (SUP-4): e.g.
    # "low_balance:payment:42", "password_due:7:2026-12-01"; NULL for events that happen once by nature.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, null=True, blank=True, unique=True,
                                  editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.shown_title

    @property
    def shown_title(self) -> str:
        """The title in the active language (the reader's)."""
        return render(self.title_msgid, self.params, self.title)

    @property
    def shown_body(self) -> str:
        return render(self.body_msgid, self.params, self.body)


class AlertPreference(models.Model):
    """What a holder chose to hear about (SUP-4): the switched-off kinds (never security events) and the
    low-balance threshold (``None``: the institution default, ``settings.LOW_BALANCE_THRESHOLD_DEFAULT_FEN``)."""

    institution_path = "person__institution"

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="alert_preference",
                                  verbose_name=_("holder"))
    muted_kinds = models.JSONField(_("switched-off kinds"), default=list, blank=True)
    low_balance_threshold = models.PositiveIntegerField(_("low-balance threshold (fen)"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert preference")
        verbose_name_plural = _("alert preferences")

    def __str__(self) -> str:
        return str(self.person)


class Delivery(models.Model):
    """A notification sent on one channel by the worker, once: the unique pair is the guard against a job
    that runs twice (SUP-4). ``channel`` is ``email`` or ``binding:<id>`` (an outbox message)."""

    institution_path = "notification__person__institution"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(_("channel"), max_length=40)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [models.UniqueConstraint(fields=["notification", "channel"], name="support_delivery_once")]

    def __str__(self) -> str:
        return f"{self.notification_id} → {self.channel}"


class OutboxMessage(models.Model):
    """A notification waiting for a bound channel (ID-6) to fetch it with its token: the sandbox of a real
    push. The channel acknowledges what it has shown; ``signature`` lets it check the message came from
    us (HMAC-SHA256 keyed by the SHA-256 of its token)."""

    institution_path = "binding__person__institution"

    binding = models.ForeignKey(ChannelBinding, on_delete=models.CASCADE, related_name="outbox",
                                verbose_name=_("channel binding"))
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="outbox",
                                     verbose_name=_("notification"))
    created_at = models.DateTimeField(_("created at"), db_index=True)
    acked_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["binding", "notification"], name="support_outbox_once")]

    def __str__(self) -> str:
        return f"{self.binding_id}: {self.notification_id}"


class SeenDevice(models.Model):
    """A device an account has logged in from (SUP-4 security events): ``key`` is the SHA-256 of the
    device cookie's id, or of the user agent and the client address; a login from a device not seen for
    ``settings.NEW_DEVICE_DAYS`` days is reported to the holder."""

    institution_path = "user__institution"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="seen_devices")
    key = models.CharField(max_length=64)
    label = models.CharField(_("device"), max_length=200, blank=True)
    first_seen_at = models.DateTimeField(_("first seen at"))
    last_seen_at = models.DateTimeField(_("last seen at"))

    class Meta:
        verbose_name = _("seen device")
        verbose_name_plural = _("seen devices")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="support_seen_device_once")]

    def __str__(self) -> str:
        return self.label or self.key[:12]
