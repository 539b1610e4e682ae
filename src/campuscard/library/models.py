"""Library loans fed by the library system (SVC-3): the holder sees them, a reminder goes out before
the due date (``reminded_at`` is claimed once per loan)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class Loan(models.Model):
    """One loan as the library system reported it; ``external_id`` is the library's own loan id."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    external_id = models.CharField(_("library loan id"), max_length=64)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="loans", verbose_name=_("holder"))
    barcode = models.CharField(_("item barcode"), max_length=64)
    title = models.CharField(_("title"), max_length=300)
    loaned_at = models.DateTimeField(_("loaned at"))
    due_on = models.DateField(_("due on"))
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        ordering = ["-loaned_at"]
        constraints = [models.UniqueConstraint(fields=["institution", "external_id"], name="library_loan_once")]
        indexes = [models.Index(fields=["person", "loaned_at"]),
                   # the nightly reminder reads only open, not yet reminded loans by due date
                   models.Index(fields=["due_on"], name="library_loan_to_remind",
                                condition=Q(returned_at__isnull=True, reminded_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.title} ({self.barcode})"
