"""Dormitory services (SVC-5): electricity top-ups of a room's meter account, and laundry booking.

Energy is counted in whole watt-hours (Wh, integers), money in fen. The rounding rule of a top-up:
``Wh = floor(amount_fen × 1000 / price_fen_per_kWh)`` — the holder pays exactly the amount chosen and
gets the energy it buys rounded down to the watt-hour, so what is lost to rounding is always less than
one fen (``dorm.rules.energy_for``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.core.models import Building, Institution
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


def _default_low_wh() -> int:
    return settings.DORM_LOW_BALANCE_KWH * 1000


class DormBuilding(models.Model):
    """A dormitory building's services: who is paid for its electricity and its laundry (PAY-5)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    building = models.OneToOneField(Building, on_delete=models.PROTECT, related_name="dorm",
                                    verbose_name=_("building"))
    electricity_merchant = models.ForeignKey("payments.Merchant", on_delete=models.PROTECT, related_name="+",
                                             verbose_name=_("electricity paid to"))
    laundry_merchant = models.ForeignKey("payments.Merchant", on_delete=models.PROTECT, related_name="+",
                                         verbose_name=_("laundry paid to"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("dormitory building")
        verbose_name_plural = _("dormitory buildings")
        ordering = ["institution", "building__code"]

    def __str__(self) -> str:
        return self.building.name


class Room(models.Model):
    """A dorm room with its electricity meter account (SVC-5): the price per kWh and what the meter
    system last reported. ``remaining_wh`` is the meter's own balance at ``read_at``."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    dorm = models.ForeignKey(DormBuilding, on_delete=models.PROTECT, related_name="rooms",
                             verbose_name=_("dormitory building"))
    number = models.CharField(_("room"), max_length=20)
    meter = models.SlugField(_("meter id"), max_length=40, help_text=_("The meter system's id of this room's meter."))
    price = FenField(_("price (fen per kWh)"), default=60)
    low_balance_wh = models.PositiveIntegerField(_("low-balance alert below (Wh)"), default=_default_low_wh)
    remaining_wh = models.IntegerField(_("remaining (Wh)"), null=True, blank=True)
    consumed_wh = models.BigIntegerField(_("meter total (Wh)"), null=True, blank=True)
    read_at = models.DateTimeField(_("last reading at"), null=True, blank=True)
    alerted = models.BooleanField(_("low-balance alert sent"), default=False)
    residents = models.ManyToManyField(Person, related_name="dorm_rooms", blank=True, verbose_name=_("residents"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("dorm room")
        verbose_name_plural = _("dorm rooms")
        ordering = ["dorm", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dorm", "number"], name="dorm_room_number_unique"),
            models.UniqueConstraint(fields=["institution", "meter"], name="dorm_room_meter_unique"),
            models.CheckConstraint(condition=Q(price__gt=0), name="dorm_room_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dorm} {self.number}"


class MeterSystem(models.Model):
    """The electricity meter system's integration: a registered device that signs its requests."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, related_name="meter_system",
                                  verbose_name=_("device"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("meter system")
        verbose_name_plural = _("meter systems")

    def __str__(self) -> str:
        return str(self.device)


class TopUp(models.Model):
    """Electricity bought from the wallet for a room: ``paid`` until the meter system confirms it put the
    energy on the meter (``delivered``, with the Wh it applied); a top-up the meter could not take is
    ``refunded``. One per (holder, key): a retried top-up is the same top-up."""

    institution_path = "institution"

    class State(models.TextChoices):
        PAID = "paid", _("paid, waiting for the meter")
        DELIVERED = "delivered", _("on the meter")
        REFUNDED = "refunded", _("refunded")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="top_ups", verbose_name=_("room"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+", verbose_name=_("holder"))
    key = models.CharField(_("idempotency key"), max_length=40)
    amount = FenField(_("amount (fen)"))
    price = FenField(_("price (fen per kWh)"))
    energy_wh = models.PositiveIntegerField(_("energy (Wh)"))
    payment_id = models.BigIntegerField(unique=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PAID, db_index=True)
    delivered_wh = models.PositiveIntegerField(_("applied by the meter (Wh)"), null=True, blank=True)
    meter_ref = models.CharField(_("meter system reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("at"), db_index=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("electricity top-up")
        verbose_name_plural = _("electricity top-ups")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["person", "key"], name="dorm_topup_key_unique"),
                       models.CheckConstraint(condition=Q(amount__gt=0), name="dorm_topup_amount_positive")]

    def __str__(self) -> str:
        return f"{self.room} {self.amount}"


class Reading(models.Model):
    """What the meter system reported for a room at a moment (kept for the reconciliation and history)."""

    institution_path = "room__institution"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="readings", verbose_name=_("room"))
    remaining_wh = models.IntegerField(_("remaining (Wh)"))
    consumed_wh = models.BigIntegerField(_("meter total (Wh)"))
    read_at = models.DateTimeField(_("read at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("meter reading")
        verbose_name_plural = _("meter readings")
        ordering = ["-read_at"]
        constraints = [models.UniqueConstraint(fields=["room", "read_at"], name="dorm_reading_once")]

    def __str__(self) -> str:
        return f"{self.room} {self.read_at:%Y-%m-%d %H:%M}"


class Reconciliation(models.Model):
    """One institution-day of top-ups against the meter system and the ledger (SVC-5, LED-5)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    day = models.DateField(_("day"))
    top_ups = models.PositiveIntegerField(_("top-ups"), default=0)
    paid = FenField(_("paid (fen)"), default=0)
    charged = FenField(_("in the settlement (fen)"), default=0)
    sold_wh = models.BigIntegerField(_("energy sold (Wh)"), default=0)
    delivered_wh = models.BigIntegerField(_("energy on the meters (Wh)"), default=0)
    differences = models.JSONField(_("differences"), default=list, blank=True)
    ok = models.BooleanField(_("matches"), default=False)
    run_at = models.DateTimeField(_("run at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("electricity reconciliation")
        verbose_name_plural = _("electricity reconciliations")
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["institution", "day"], name="dorm_reconciliation_day")]

    def __str__(self) -> str:
        return f"{self.day}"


# --- laundry -------------------------------------------------------------------------------------

class Machine(models.Model):
    """A washing machine or dryer in a dorm building, booked by fixed slots of ``slot_minutes`` from
    midnight; its controller is a registered device that asks whether it may start."""

    institution_path = "institution"

    class Kind(models.TextChoices):
        WASHER = "washer", _("washing machine")
        DRYER = "dryer", _("dryer")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    dorm = models.ForeignKey(DormBuilding, on_delete=models.PROTECT, related_name="machines",
                             verbose_name=_("dormitory building"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.WASHER)
    price = FenField(_("price per slot (fen)"), default=400)
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"), default=60)
    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="laundry_machine", verbose_name=_("device"))
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("laundry machine")
        verbose_name_plural = _("laundry machines")
        ordering = ["dorm", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="dorm_machine_code_unique"),
                       models.CheckConstraint(condition=Q(price__gt=0), name="dorm_machine_price_positive"),
                       models.CheckConstraint(condition=Q(slot_minutes__gte=10) & Q(slot_minutes__lte=240),
                                              name="dorm_machine_slot_length")]

    def __str__(self) -> str:
        return f"{self.dorm} {self.name}"


class Booking(models.Model):
    """A machine slot paid from the wallet. ``booked`` → ``started`` (the holder's card at the machine) →
    ``done`` or ``failed`` (refunded); ``cancelled`` (refunded, until N minutes before) or ``no_show``
    (released after the grace period, not refunded). A slot has at most one live booking."""

    institution_path = "institution"

    class State(models.TextChoices):
        BOOKED = "booked", _("booked")
        STARTED = "started", _("running")
        DONE = "done", _("finished")
        FAILED = "failed", _("failed — refunded")
        CANCELLED = "cancelled", _("cancelled — refunded")
        NO_SHOW = "no_show", _("not used — released")

    RELEASED = (State.CANCELLED, State.NO_SHOW)

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="bookings",
                                verbose_name=_("machine"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="laundry_bookings",
                               verbose_name=_("holder"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    key = models.CharField(_("idempotency key"), max_length=40)
    amount = FenField(_("amount (fen)"))
    payment_id = models.BigIntegerField(unique=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.BOOKED, db_index=True)
    created_at = models.DateTimeField(_("booked at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    failure = models.CharField(_("failure reported"), max_length=100, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("laundry booking")
        verbose_name_plural = _("laundry bookings")
        ordering = ["-starts_at"]
        constraints = [
            # the database refuses a second live booking of a slot, also under concurrency
            models.UniqueConstraint(fields=["machine", "starts_at"], condition=~Q(state__in=["cancelled", "no_show"]),
                                    name="dorm_booking_slot_once"),
            models.UniqueConstraint(fields=["person", "key"], name="dorm_booking_key_unique"),
        ]
        indexes = [models.Index(fields=["state", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.machine} {self.starts_at:%Y-%m-%d %H:%M}"


class DormStaff(models.Model):
    """Narrows a dormitory electricity or laundry operator to some buildings of their institution; an
    operator without a link works for the whole institution (``dorm.selectors.dorm_scope``)."""

    institution_path = "user__institution"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dorm_staff",
                                verbose_name=_("user"))
    dorms = models.ManyToManyField(DormBuilding, related_name="staff", verbose_name=_("dormitory buildings"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("dormitory staff member")
        verbose_name_plural = _("dormitory staff")

    def __str__(self) -> str:
        return str(self.user)
