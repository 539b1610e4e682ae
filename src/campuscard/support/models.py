"""In-app notifications (SUP-4), also sent by e-mail when the holder has an address."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person
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
