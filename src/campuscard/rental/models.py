"""Equipment rental (SVC-4): sports and laboratory equipment lent at a desk, checked out and returned by card.

An ``Item`` is one physical piece with its own code (printed on its label, scanned at the desk), a
deposit held on the holder's wallet while it is out and/or a rate per started hour charged at its return,
both through ``payments.charges`` to the item's merchant (the equipment room), so they appear in its daily
settlement (PAY-5). A ``Rental`` is one check-out; an item has at most one open rental (a constraint).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.cards.models import Card
from campuscard.core.models import Institution
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person
from campuscard.payments.models import Merchant, Payment


class Item(models.Model):
    """One piece of equipment with its own label code, lent by one merchant (the equipment room)."""

    institution_path = "institution"

    class Category(models.TextChoices):
        SPORTS = "sports", _("sports equipment")
        LAB = "lab", _("laboratory equipment")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=40, help_text=_("printed on the item's label and scanned at the desk"))
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=100)
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="rental_items",
                                 verbose_name=_("lent by"), help_text=_("the equipment room paid the rates"))
    deposit = FenField(_("deposit (fen)"), default=0, help_text=_("held on the wallet while the item is out"))
    rate_per_hour = FenField(_("rate per started hour (fen)"), default=0)
    loan_hours = models.PositiveIntegerField(_("loan period (hours)"), default=4,
                                             help_text=_("overdue after this long"))
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("equipment item")
        verbose_name_plural = _("equipment items")
        ordering = ["institution", "category", "code"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="rental_item_code_unique"),
            models.CheckConstraint(condition=Q(deposit__gte=0) & Q(rate_per_hour__gte=0), name="rental_item_money"),
            models.CheckConstraint(condition=Q(loan_hours__gte=1), name="rental_item_loan_hours"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Rental(models.Model):
    """One check-out of an item to a holder: out, returned (fee fixed), settled (money moved)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="rentals", verbose_name=_("item"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="rentals", verbose_name=_("holder"))
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="+", verbose_name=_("card"))
    key = models.CharField(_("check-out key"), max_length=64, help_text=_("the desk's idempotency key"))
    out_at = models.DateTimeField(_("checked out at"))
    due_at = models.DateTimeField(_("due at"))
    out_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("checked out by"))
    deposit = FenField(_("deposit held (fen)"), default=0)
    hold_id = models.BigIntegerField(_("deposit hold"), null=True, blank=True, editable=False)  # payments.Hold
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)
    returned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("returned to"))
    fee = FenField(_("fee charged (fen)"), default=0)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("fee payment"))
    overdue_at = models.DateTimeField(_("flagged overdue at"), null=True, blank=True)
    # The item is back (returned_at) before the money is settled: a refused fee leaves it returned and unsettled
    # until the desk settles it; the fee is fixed at the return, so every retry charges the same amount once.
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("rental")
        verbose_name_plural = _("rentals")
        ordering = ["-out_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["item"], condition=Q(returned_at=None), name="rental_item_one_open"),
            models.UniqueConstraint(fields=["institution", "key"], name="rental_key_unique"),
            models.CheckConstraint(condition=Q(returned_at=None) | Q(returned_at__gte=models.F("out_at")),
                                   name="rental_returned_after_out"),
        ]
        indexes = [models.Index(fields=["person", "out_at"]), models.Index(fields=["institution", "out_at"]),
                   models.Index(fields=["due_at"], condition=Q(returned_at=None, overdue_at=None),
                                name="rental_open_due")]

    def __str__(self) -> str:
        return f"{self.item.code} → {self.person.number}"

    @property
    def is_open(self) -> bool:
        return self.returned_at is None

    @property
    def is_overdue(self) -> bool:
        return self.overdue_at is not None and self.returned_at is None
