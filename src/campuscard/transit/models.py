"""City buses (TRN-1, TRN-2): operators and their fare tables, card bindings, validators, taps, disputes.

Money is never stored here as balances: a charged tap points at its own ledger transfer (wallet →
the operator's transit clearing account), so every tap is traceable in the journal.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.core.money import FenField, format_fen
from campuscard.core.permissions import RestrictedQuerySet


def _default_student_discount() -> int:
    return int(getattr(settings, "TRANSIT_STUDENT_DISCOUNT_PERCENT", 50))


class Operator(models.Model):
    """A bus company the institution's cards ride with, with its fare rules (TRN-1)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    clearing_account_id = models.BigIntegerField(_("clearing account"), editable=False)
    student_discount_percent = models.PositiveSmallIntegerField(
        _("student discount (%)"), default=_default_student_discount,
        help_text=_("off the full fare for holders of an active student card"))
    staff_discount_percent = models.PositiveSmallIntegerField(_("staff discount (%)"), default=0)
    transfer_minutes = models.PositiveSmallIntegerField(
        _("transfer window (minutes)"), default=0,
        help_text=_("a ride on another route within this many minutes of the last one is a transfer; 0 = none"))
    transfer_discount = FenField(_("transfer discount (fen)"), default=0)
    terms = models.TextField(_("terms of the binding"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus operator")
        verbose_name_plural = _("bus operators")
        ordering = ["institution", "code"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="transit_operator_code_unique"),
            models.CheckConstraint(condition=Q(student_discount_percent__lte=100) & Q(staff_discount_percent__lte=100),
                                   name="transit_operator_discounts_percent"),
        ]

    def __str__(self) -> str:
        return self.name


class OperatorStaff(models.Model):
    """A back-office user who works for a bus operator (role ``bus_operator``): they see its clearing
    files and disputes only."""

    institution_path = "operator__institution"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bus_operator",
                                verbose_name=_("user"))
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="staff",
                                 verbose_name=_("bus operator"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus operator staff")
        verbose_name_plural = _("bus operator staff")

    def __str__(self) -> str:
        return f"{self.user} @ {self.operator}"


class Route(models.Model):
    """A route's fare: flat, or by stage (``fare`` for the first stage, ``stage_fare`` for each further one)."""

    institution_path = "operator__institution"

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="routes",
                                 verbose_name=_("bus operator"))
    code = models.CharField(_("route"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    fare = FenField(_("full fare (fen)"))
    stage_fare = FenField(_("each further stage (fen)"), default=0)
    max_stages = models.PositiveSmallIntegerField(_("stages"), default=1)
    active = models.BooleanField(_("in service"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        ordering = ["operator", "code"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "code"], name="transit_route_code_unique"),
            models.CheckConstraint(condition=Q(fare__gt=0) & Q(stage_fare__gte=0) & Q(max_stages__gte=1),
                                   name="transit_route_fare_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Binding(models.Model):
    """A card bound to the city buses (TRN-1). It belongs to ONE card: a re-issued card is bound anew
    (CARD-8); a loss report, a replacement or graduation ends it (CARD-4, CARD-9). It names what the
    validators accept for it (#20 item 1): the physical card's NFC UID (``with_card``) and/or the phone's
    HCE credential (``phone``, while ``phone_bound``). A replaced phone credential unbinds the phone (the new
    phone is bound anew, like a re-issued card); ``phone`` stays set after that so the old token stays on
    the validators' deny-list."""

    institution_path = "institution"

    class State(models.TextChoices):
        ACTIVE = "active", _("bound")
        SUSPENDED = "suspended", _("suspended")
        ENDED = "ended", _("ended")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    card = models.ForeignKey("cards.Card", on_delete=models.PROTECT, related_name="transit_bindings",
                             verbose_name=_("card"))
    person = models.ForeignKey("identity.Person", on_delete=models.PROTECT, related_name="transit_bindings",
                               verbose_name=_("holder"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    terms_accepted_at = models.DateTimeField(_("terms accepted at"))
    created_at = models.DateTimeField(_("bound at"))
    changed_at = models.DateTimeField(_("changed at"))
    end_reason = models.CharField(_("why it ended"), max_length=40, blank=True)
    with_card = models.BooleanField(_("physical card"), default=True,
                                    help_text=_("validators accept the card's NFC UID"))
    phone = models.ForeignKey("cards.Credential", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("phone (HCE)"))
    phone_bound = models.BooleanField(_("phone bound"), default=False,
                                      help_text=_("validators accept the phone's NFC (HCE) credential"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus binding")
        verbose_name_plural = _("bus bindings")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["card"], condition=~Q(state="ended"),
                                               name="transit_binding_one_live_per_card")]

    def __str__(self) -> str:
        return f"{self.card} {self.get_state_display()}"


class Validator(models.Model):
    """A registered bus validator (``devices.Device`` of kind validator) on an operator's route."""

    institution_path = "device__institution"

    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, related_name="transit_validator",
                                  verbose_name=_("device"))
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="validators",
                                 verbose_name=_("bus operator"))
    route = models.ForeignKey(Route, on_delete=models.PROTECT, related_name="validators", verbose_name=_("route"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus validator")
        verbose_name_plural = _("bus validators")

    def __str__(self) -> str:
        return f"{self.device} ({self.route})"


class DenyVersion(models.Model):
    """Transit's part of the validators' deny-list version (bound wallets below zero, bindings that
    ended); the version a validator sees is this plus the cards' ``DenyListVersion`` (both only grow)."""

    institution_path = "institution"

    institution = models.OneToOneField(Institution, on_delete=models.CASCADE, related_name="+")
    version = models.BigIntegerField(default=0)
    serial = models.BigIntegerField(default=0)  # the last snapshot serial given

    def __str__(self) -> str:
        return f"{self.institution_id}: {self.version}"


class Tap(models.Model):
    """One tap uploaded by a validator: ``(device, counter)`` is stored once (duplicates dropped exactly).
    A charged tap has its ledger transfer; a refused one is kept with its code (never lost)."""

    institution_path = "institution"

    class FareClass(models.TextChoices):
        STUDENT = "student", _("student fare")
        STAFF = "staff", _("staff fare")
        FULL = "full", _("full fare")

    class State(models.TextChoices):
        CHARGED = "charged", _("charged")
        REFUSED = "refused", _("not charged")

    class Medium(models.TextChoices):  # the values of cards.Credential.Kind
        CARD = "nfc", _("physical card")
        PHONE = "hce", _("phone (NFC)")

    # No database foreign keys (db_constraint=False), like the gates' event log: taps are written by one
    # statement that read the rows they name, nothing named is ever deleted (PROTECT still holds in Django),
    # and the six checks per tap at commit (with key-share locks on the same operator, route and validator
    # rows by every batch) were a third of the database's time per tap (docs/decisions.md).
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                    db_index=False)
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="taps", db_constraint=False,
                                 db_index=False, verbose_name=_("bus operator"))
    route = models.ForeignKey(Route, on_delete=models.PROTECT, related_name="taps", db_constraint=False,
                              db_index=False, verbose_name=_("route"))
    device = models.ForeignKey("devices.Device", on_delete=models.PROTECT, related_name="+", db_constraint=False,
                               db_index=False, verbose_name=_("validator"))
    counter = models.BigIntegerField(_("validator counter"))
    medium = models.CharField(_("presented"), max_length=4, choices=Medium.choices, default=Medium.CARD)
    nfc_uid = models.CharField(_("card UID or phone token"), max_length=32)
    phone_code = models.CharField(_("phone's one-time code"), max_length=8, blank=True)  # a code pays once
    card = models.ForeignKey("cards.Card", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             db_constraint=False, db_index=False, verbose_name=_("card"))
    person = models.ForeignKey("identity.Person", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="transit_taps", db_constraint=False, db_index=False,
                               verbose_name=_("holder"))
    tapped_at = models.DateTimeField(_("tapped at"))
    posted_at = models.DateTimeField(_("posted at"))
    stages = models.PositiveSmallIntegerField(_("stages"), default=1)
    fare_class = models.CharField(_("fare class"), max_length=10, choices=FareClass.choices, default=FareClass.FULL)
    fare = FenField(_("fare (fen)"), default=0)
    is_transfer = models.BooleanField(_("transfer"), default=False)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    refusal = models.CharField(_("why not charged"), max_length=40, blank=True)
    flagged = models.CharField(_("flag"), max_length=40, blank=True,
                               help_text=_("charged although the card was on a deny-list the validator did not have"))
    below_zero = models.BooleanField(_("took the wallet below zero"), default=False)
    deny_version = models.BigIntegerField(_("validator's deny-list version"), default=0)
    transfer_id = models.BigIntegerField(_("ledger transfer"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus tap")
        verbose_name_plural = _("bus taps")
        ordering = ["-tapped_at"]
        constraints = [models.UniqueConstraint(fields=["device", "counter"], name="transit_tap_once")]
        # each index is one more insert per tap: the clearing file's, and the card's (transfers, a holder's rides)
        indexes = [models.Index(fields=["operator", "posted_at"]), models.Index(fields=["card", "tapped_at"])]

    def __str__(self) -> str:
        return f"{localtime(self.tapped_at):%Y-%m-%d %H:%M} · {format_fen(self.fare)} · #{self.counter}"


class Dispute(models.Model):
    """A holder says a tap was not theirs (the appeal flow of PAY-4 for bus taps): within the appeal window
    counted from when the tap was posted; the operator adds its evidence; the Card Center decides; an
    accepted dispute refunds by a reversing transfer."""

    institution_path = "tap__institution"

    class State(models.TextChoices):
        OPEN = "open", _("waiting for a decision")
        ACCEPTED = "accepted", _("accepted — refunded")
        REJECTED = "rejected", _("rejected")

    tap = models.OneToOneField(Tap, on_delete=models.PROTECT, related_name="dispute", verbose_name=_("tap"))
    reason = models.CharField(_("reason"), max_length=300)
    evidence = models.TextField(_("operator's evidence"), blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    decision = models.CharField(_("decision reason"), max_length=300, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    refund_transfer_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(_("at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bus tap dispute")
        verbose_name_plural = _("bus tap disputes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.tap} {self.get_state_display()}"
