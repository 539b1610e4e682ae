"""Double-entry ledger (LED-1 … LED-5). It knows accounts and transfers only — nothing of cards.

Design (after TigerBeetle):
* A **transfer** is one immutable journal row that debits one account and credits another by the
  same positive amount. Two-phase transfers are a *pending* row, later resolved by a *post* or
  *void* row that points at it; nothing is ever updated or deleted (a PostgreSQL trigger refuses it).
* **Balances** are stored per account in one or more **stripe** rows holding four running sums
  (debits/credits, posted/pending). A wallet has one stripe, so its "never below the floor" rule is a
  CHECK on one row and a conditional UPDATE. A hot account (a canteen at 12:05) has many stripes and
  each credit lands on a random one, so concurrent payments do not queue on a single row.
* Each row carries an HMAC of its fields; nightly **seals** chain a digest of each day's rows, so
  an edit behind the application's back is detected by ``campuscard ledger verify``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from campuscard.core.models import Institution
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet


class Account(models.Model):
    """A ledger account: a holder's wallet, a merchant's takings or a system account (LED-1)."""

    institution_path = "institution"

    class Kind(models.TextChoices):
        WALLET = "wallet", _("cardholder wallet")
        MERCHANT = "merchant", _("merchant takings")
        CASH_WINDOW = "cash_window", _("cash at the service window")
        CASH_KIOSK = "cash_kiosk", _("cash in kiosks")
        GATEWAY_CLEARING = "gateway_clearing", _("payment-gateway clearing")
        FEE_INCOME = "fee_income", _("fee income")
        TRANSIT_CLEARING = "transit_clearing", _("transit clearing")
        SUSPENSE = "suspense", _("suspense")
        LEGACY_MEAL = "legacy_meal", _("legacy meal cards")
        REFUNDS_PAYABLE = "refunds_payable", _("refunds paid out")
        UTILITIES = "utilities", _("utilities (meters)")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        FROZEN = "frozen", _("frozen")
        CLOSED = "closed", _("closed")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="accounts",
                                    verbose_name=_("institution"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    code = models.CharField(_("code"), max_length=80, help_text=_("unique within the institution"))
    name = models.CharField(_("name"), max_length=150)
    owner = models.CharField(_("owner reference"), max_length=80, blank=True, db_index=True,
                             help_text=_("e.g. person:42 or merchant:7 — the ledger does not interpret it"))
    floor = FenField(_("floor (fen)"), null=True, blank=True,
                     help_text=_("lowest allowed available balance; empty = unbounded (system accounts)"))
    stripes = models.PositiveSmallIntegerField(_("balance stripes"), default=1)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="account_code_unique"),
            models.CheckConstraint(condition=Q(stripes__gte=1) & Q(stripes__lte=256), name="account_stripes_range"),
            # A floor is only safe on an account whose whole balance lives on one row.
            models.CheckConstraint(condition=Q(floor__isnull=True) | Q(stripes=1), name="account_floor_unstriped"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Balance(models.Model):
    """Running sums of one stripe of an account. balance = credits_posted − debits_posted."""

    institution_path = "account__institution"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balances", db_index=False)
    stripe = models.PositiveSmallIntegerField(default=0)
    floor = FenField(null=True, blank=True)  # copied from the account so the CHECK sees it
    debits_posted = FenField(default=0)
    credits_posted = FenField(default=0)
    debits_pending = FenField(default=0)
    credits_pending = FenField(default=0)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "stripe"], name="balance_account_stripe_unique"),
            models.CheckConstraint(
                condition=Q(debits_posted__gte=0) & Q(credits_posted__gte=0) & Q(debits_pending__gte=0)
                & Q(credits_pending__gte=0), name="balance_sums_non_negative"),
            # LED-3: the database itself refuses a wallet below its floor.
            models.CheckConstraint(
                condition=Q(floor__isnull=True)
                | Q(credits_posted__gte=F("debits_posted") + F("debits_pending") + F("floor")),
                name="balance_not_below_floor"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.stripe}"


class Transfer(models.Model):
    """One immutable journal row (LED-2)."""

    institution_path = "institution"

    class Phase(models.TextChoices):
        POSTED = "posted", _("posted")
        PENDING = "pending", _("pending (hold)")
        POST = "post", _("post of a hold")
        VOID = "void", _("void of a hold")

    # Every index costs each payment an insert: those a composite index or constraint below already
    # covers are left out (docs/decisions.md, "Ledger").
    # No database foreign keys on the accounts and institution (docs/decisions.md, 2026-12-06): every write
    # of a journal row updates or locks both accounts' balance rows in the same statement, and accounts are
    # never deleted (a trigger refuses it); `ledger check` reports a row naming an account with no balance.
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", db_index=False,
                                    db_constraint=False)
    key = models.CharField(_("idempotency key"), max_length=160)
    request_hash = models.CharField(max_length=32)
    phase = models.CharField(_("phase"), max_length=8, choices=Phase.choices, default=Phase.POSTED)
    kind = models.CharField(_("kind"), max_length=40)
    debit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="debit_transfers",
                              verbose_name=_("debit account"), db_index=False, db_constraint=False)
    debit_stripe = models.PositiveSmallIntegerField(default=0)
    credit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credit_transfers",
                               verbose_name=_("credit account"), db_index=False, db_constraint=False)
    credit_stripe = models.PositiveSmallIntegerField(default=0)
    amount = FenField(_("amount (fen)"))
    pending = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="resolutions",
                                verbose_name=_("hold resolved"), db_index=False)  # set only on post/void: see below
    reverses = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals",
                                 verbose_name=_("reverses"), db_index=False)  # partial index below
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    expires_at = models.DateTimeField(_("hold expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    mac = models.CharField(max_length=64, editable=False)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("journal")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "key"], name="transfer_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(condition=~Q(debit=F("credit")), name="transfer_accounts_differ"),
            # A hold is resolved at most once (post or void).
            models.UniqueConstraint(fields=["pending"], condition=Q(phase__in=["post", "void"]),
                                    name="transfer_hold_resolved_once"),
        ]
        indexes = [
            models.Index(fields=["debit", "id"], name="transfer_debit_idx"),
            models.Index(fields=["credit", "id"], name="transfer_credit_idx"),
            # Only reversals have it: payments and recharges add nothing to this index.
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="transfer_reverses_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.amount}"


class Seal(models.Model):
    """The digest of one day's transfers, chained to the previous seal (tamper evidence)."""

    day = models.DateField(unique=True)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    count = models.PositiveIntegerField()
    total = FenField()
    digest = models.CharField(max_length=64)
    previous = models.CharField(max_length=64, blank=True)
    seal = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day} {self.seal[:12]}"


class CheckRun(models.Model):
    """One reconciliation run (LED-5): nightly and on demand; differences are kept, never hidden."""

    kind = models.CharField(_("kind"), max_length=10, default="check")  # check | verify
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    ok = models.BooleanField(_("clean"))
    accounts = models.PositiveIntegerField(_("accounts checked"), default=0)
    transfers = models.PositiveIntegerField(_("transfers checked"), default=0)
    problems = models.JSONField(_("problems"), default=list)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'DIFFERENCES'}"
