"""People and their logins (ID-1 … ID-6)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.core.crypto import BlindIndexField, EncryptedCharField
from campuscard.core.models import Campus, Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.documents import IdType


class User(AbstractUser):
    """A login. Cardholders get one at their first login; operators are created by admins."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="users", verbose_name=_("institution"),
                                    help_text=_("empty only for platform administrators"))
    language = models.CharField(_("language"), max_length=10, blank=True)
    must_change_password = models.BooleanField(_("must change password"), default=False)

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def roles(self) -> list[str]:
        return [group.name for group in self.groups.all()]


class Person(models.Model):
    """Anyone who can hold a card: from the registrar, from HR, or entered by hand (ID-1)."""

    institution_path = "institution"

    class Kind(models.TextChoices):
        UNDERGRADUATE = "undergraduate", _("undergraduate")
        GRADUATE = "graduate", _("graduate student")
        EXCHANGE = "exchange", _("exchange student")
        STAFF = "staff", _("staff")
        TEMPORARY = "temporary", _("temporary (non-staff)")
        VISITOR = "visitor", _("visitor")
        ALUMNUS = "alumnus", _("alumnus")

    STUDENT_KINDS = (Kind.UNDERGRADUATE, Kind.GRADUATE, Kind.EXCHANGE)

    class Status(models.TextChoices):
        FULL_TIME = "full_time", _("registered, full-time")
        PART_TIME = "part_time", _("registered, part-time")
        SUSPENDED = "suspended", _("suspended")
        GRADUATED = "graduated", _("graduated")
        ACTIVE = "active", _("active")
        LEFT = "left", _("left")

    class Source(models.TextChoices):
        REGISTRAR = "registrar", _("registrar roster")
        HR = "hr", _("HR roster")
        MANUAL = "manual", _("manual entry")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="people",
                                    verbose_name=_("institution"))
    number = models.CharField(_("student / staff number"), max_length=32)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    id_type = models.CharField(_("ID type"), max_length=20, choices=IdType.choices, default=IdType.RESIDENT)
    # #18 item 7: encrypted at rest; found by its HMAC blind index (``id_number=…`` filters go there).
    id_number = EncryptedCharField(_("ID number"), max_length=32, blind_index="id_number_index")
    id_number_index = BlindIndexField(source="id_number")
    campus = models.ForeignKey(Campus, on_delete=models.PROTECT, null=True, blank=True, related_name="people",
                               verbose_name=_("campus"))
    department = models.CharField(_("department"), max_length=100, blank=True)
    title = models.CharField(_("title / programme"), max_length=100, blank=True)
    enrollment_year = models.PositiveSmallIntegerField(_("enrolment year"), null=True, blank=True)
    phone = EncryptedCharField(_("mobile phone"), max_length=20, blank=True, blind_index="phone_index")
    phone_index = BlindIndexField(source="phone")
    email = models.EmailField(_("e-mail"), blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    user = models.OneToOneField(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="person",
                                verbose_name=_("login"))
    # ID-5 / ID-6: separate secrets, Argon2 hashes. Empty query hash = the default (last six of ID).
    payment_password = models.CharField(max_length=256, blank=True, editable=False)
    payment_password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    query_password = models.CharField(max_length=256, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["institution", "number"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "number"], name="person_number_unique"),
        ]
        # Not unique: a graduate who studied here before has a second record under a new number.
        indexes = [models.Index(fields=["institution", "kind", "status"]),
                   models.Index(fields=["institution", "id_number_index"], name="person_id_number_index"),
                   models.Index(fields=["institution", "phone_index"], name="person_phone_index")]
        # #18 item 7: who sees ID and phone numbers unmasked (each look audited).
        permissions = [("reveal_personal_data", _("Can see ID and phone numbers unmasked"))]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @property
    def is_student(self) -> bool:
        return self.kind in self.STUDENT_KINDS

    @property
    def has_payment_password(self) -> bool:
        return bool(self.payment_password)


class APIToken(models.Model):
    """A bearer token for an integrated system (registrar, HR, library …). Only its hash is kept."""

    institution_path = "user__institution"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ChannelBinding(models.Model):
    """An outside channel (a messaging mini-program, an app) bound to a holder's card (ID-6).

    The channel holds a bearer token good for exactly ``scopes``; only its hash is kept, the plain value
    is shown once. Revoking takes effect at the next request."""

    institution_path = "person__institution"

    class Scope(models.TextChoices):
        RECHARGE = "recharge", _("recharge")
        BALANCE = "balance", _("balance")
        TRANSACTIONS = "transactions", _("transactions")
        LOSS_REPORT = "loss_report", _("loss report")
        NOTIFICATIONS = "notifications", _("notifications")

    class Via(models.TextChoices):
        QUERY_PASSWORD = "query_password", _("ID number and query password")
        PORTAL = "portal", _("portal login (password or single sign-on)")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="channel_bindings",
                               verbose_name=_("holder"))
    channel = models.CharField(_("channel"), max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    via = models.CharField(_("bound with"), max_length=20, choices=Via.choices)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   editable=False, verbose_name=_("revoked by"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("channel binding")
        verbose_name_plural = _("channel bindings")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["person", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.channel} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None

    def scope_labels(self) -> list[str]:
        labels = dict(self.Scope.choices)
        return [str(labels.get(scope, scope)) for scope in self.scopes]
