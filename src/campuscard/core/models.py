"""Tenancy (TEN-1, TEN-2), the audit trail and the idempotency-key store."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from campuscard.core.permissions import RestrictedQuerySet


def in_reader_language(name: str, name_en: str) -> str:
    """A place's name in the language being rendered: the English name for an English reader when there is one."""
    from django.utils.translation import get_language

    return name_en if name_en and (get_language() or "").startswith("en") else name


class Institution(models.Model):
    """A university served by this deployment (TEN-1). Everything else belongs to exactly one."""

    institution_path = "pk"

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=50, default="Asia/Shanghai")
    country = models.CharField(_("country (for working days)"), max_length=2, default="CN")
    hotline = models.CharField(_("hotline"), max_length=50, blank=True)
    hotline_hours = models.CharField(_("hotline hours"), max_length=50, blank=True, default="08:30-21:00")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["code"]

    def __str__(self) -> str:
        return in_reader_language(self.name, self.name_en)


class Campus(models.Model):
    """A campus of an institution, with its own address (TEN-2); areas and people belong to one."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="campuses",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("service telephone"), max_length=50, blank=True,
                             help_text=_("the Card Center's number on this campus; empty: the institution's hotline"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("campus")
        verbose_name_plural = _("campuses")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="campus_code_unique")]

    def __str__(self) -> str:
        return in_reader_language(self.name, self.name_en)


class Area(models.Model):
    """A part of a campus, e.g. "Area 1" or "Science Park" (TEN-2)."""

    institution_path = "campus__institution"

    campus = models.ForeignKey(Campus, on_delete=models.PROTECT, related_name="areas", verbose_name=_("campus"))
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    # the area's rectangle on the campus plan (0-100 across and down)
    plan_x = models.PositiveSmallIntegerField(_("plan x"), null=True, blank=True)
    plan_y = models.PositiveSmallIntegerField(_("plan y"), null=True, blank=True)
    plan_w = models.PositiveSmallIntegerField(_("plan width"), null=True, blank=True)
    plan_h = models.PositiveSmallIntegerField(_("plan height"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["campus", "code"]
        constraints = [models.UniqueConstraint(fields=["campus", "code"], name="area_code_unique")]

    def __str__(self) -> str:
        return f"{self.campus} · {in_reader_language(self.name, self.name_en)}"


class Building(models.Model):
    """A building in an area: canteens, dormitories, laboratories, gates … (TEN-2)."""

    institution_path = "area__campus__institution"

    class Kind(models.TextChoices):
        TEACHING = "teaching", _("teaching building")
        DORMITORY = "dormitory", _("dormitory")
        CANTEEN = "canteen", _("canteen")
        LIBRARY = "library", _("library")
        LABORATORY = "laboratory", _("laboratory")
        SERVICE_HALL = "service_hall", _("service hall")
        SHOP = "shop", _("shop")
        SPORTS = "sports", _("sports venue")
        GATE = "gate", _("campus gate")
        OTHER = "other", _("other")

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="buildings", verbose_name=_("area"))
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    plan_x = models.PositiveSmallIntegerField(_("plan x"), null=True, blank=True)
    plan_y = models.PositiveSmallIntegerField(_("plan y"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["area", "code"]
        constraints = [models.UniqueConstraint(fields=["area", "code"], name="building_code_unique")]

    def __str__(self) -> str:
        return in_reader_language(self.name, self.name_en)


class ServicePoint(models.Model):
    """Where holders get help: the Card Center window, self-service kiosks, info desks (SUP-2)."""

    institution_path = "area__campus__institution"

    class Kind(models.TextChoices):
        WINDOW = "window", _("service window")
        KIOSK = "kiosk", _("self-service kiosk")
        DESK = "desk", _("help desk")

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="service_points", verbose_name=_("area"))
    building = models.ForeignKey(Building, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="service_points", verbose_name=_("building"))
    code = models.SlugField(_("code"), max_length=30)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    location_en = models.CharField(_("English location"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    hours = models.CharField(_("opening hours"), max_length=120, blank=True, help_text=_(
        'e.g. "08:30-21:00", "24h", "mon-fri 08:30-12:00,13:30-17:00; sat-sun closed"'))
    closed_on_holidays = models.BooleanField(_("closed on public holidays"), default=False)
    # SUP-3: what can be done here (kiosks: recharge, loss, collection, replacement)
    does_recharge = models.BooleanField(_("recharge"), default=False)
    does_loss = models.BooleanField(_("loss reporting"), default=False)
    does_collection = models.BooleanField(_("card collection"), default=False)
    does_replacement = models.BooleanField(_("card replacement"), default=False)
    # where it is drawn on the campus plan (0-100 across and down the campus)
    plan_x = models.PositiveSmallIntegerField(_("plan x"), null=True, blank=True)
    plan_y = models.PositiveSmallIntegerField(_("plan y"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("service point")
        verbose_name_plural = _("service points")
        ordering = ["area", "kind", "code"]
        constraints = [models.UniqueConstraint(fields=["area", "code"], name="service_point_code_unique")]

    def __str__(self) -> str:
        return in_reader_language(self.name, self.name_en)

    CAPABILITIES = (("recharge", "does_recharge"), ("loss", "does_loss"), ("collection", "does_collection"),
                    ("replacement", "does_replacement"))

    @property
    def capabilities(self) -> list[str]:
        return [name for name, field in self.CAPABILITIES if getattr(self, field)]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from campuscard.core import hours

        try:
            hours.parse(self.hours)
        except hours.HoursError as exc:
            raise ValidationError({"hours": _("Cannot read the opening hours near \"%(part)s\".") % {"part": exc}})


class AuditLog(models.Model):
    """Who changed what, written in the same transaction as the change (ARCHITECTURE rule 5).

    Rows are append-only: the back office shows them read-only and nothing in the code updates them.
    """

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("institution"))
    at = models.DateTimeField(_("at"), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("actor"))
    actor_label = models.CharField(_("actor label"), max_length=100, blank=True,
                                   help_text=_("device, job or system name when no user acted"))
    action = models.CharField(_("action"), max_length=60, db_index=True)
    object_type = models.CharField(_("object type"), max_length=60)
    object_id = models.CharField(_("object id"), max_length=64)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"


class IdempotencyKey(models.Model):
    """First outcome of a keyed request, returned again on retry (LED-4)."""

    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
