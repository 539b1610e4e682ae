"""Cards, their credentials and the journeys around them (CARD-1 … CARD-9, ID-7, APP-5).

A **card** is what the holder owns: a number with a check digit, a kind, a state and its own wallet
account in the ledger. **Credentials** are the ways to present it: the physical card's NFC UID, the
phone's HCE token and the dynamic QR code (both TOTP-based). Every credential of a card stops the
moment the card stops (CARD-4).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.core.models import Institution, ServicePoint
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class Card(models.Model):
    """A holder's card: number, kind, state and its own wallet account in the ledger (CARD-1)."""

    institution_path = "institution"

    class Kind(models.TextChoices):
        STUDENT = "student", _("student card")
        STAFF = "staff", _("staff card")
        TEMPORARY = "temporary", _("temporary card")
        VISITOR = "visitor", _("visitor card")
        ALUMNI = "alumni", _("alumni card")

    class State(models.TextChoices):
        # "card state" context: "active" means something else for a person (在职) than for a card (正常).
        APPLIED = "applied", pgettext_lazy("card state", "applied")
        ACTIVE = "active", pgettext_lazy("card state", "active")
        LOST = "lost", pgettext_lazy("card state", "reported lost")
        REPLACED = "replaced", pgettext_lazy("card state", "replaced")
        FROZEN = "frozen", pgettext_lazy("card state", "frozen")
        CANCELLED = "cancelled", pgettext_lazy("card state", "cancelled")

    LIVE_STATES = (State.APPLIED, State.ACTIVE, State.LOST, State.FROZEN)

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="cards",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="cards", verbose_name=_("holder"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    number = models.CharField(_("card number"), max_length=20)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    physical = models.BooleanField(_("has a physical card"), default=False)
    wallet_account_id = models.BigIntegerField(_("wallet account"))
    replaces = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="replaced_by", verbose_name=_("replaces"))
    issued_at = models.DateTimeField(_("issued at"))
    state_changed_at = models.DateTimeField(_("state changed at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "number"], name="card_number_unique"),
            # CARD-1: one live card per holder and kind.
            models.UniqueConstraint(fields=["person", "kind"], condition=Q(state__in=["applied", "active", "lost",
                                                                                      "frozen"]),
                                    name="card_one_live_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_kind_display()})"


class Credential(models.Model):
    """One way to present a card: the physical card's NFC UID, the phone's HCE token or a dynamic QR."""

    institution_path = "card__institution"

    class Kind(models.TextChoices):
        NFC = "nfc", _("physical card (NFC)")
        HCE = "hce", _("phone NFC (HCE)")
        QR = "qr", _("dynamic QR code")

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="credentials", verbose_name=_("card"))
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices)
    token = models.CharField(_("public id"), max_length=16, unique=True)
    uid = models.CharField(_("NFC UID"), max_length=32, blank=True)
    secret = models.CharField(max_length=64, blank=True, editable=False)  # base32 TOTP seed (QR/HCE)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)
    created_at = models.DateTimeField(_("created at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        constraints = [
            models.UniqueConstraint(fields=["uid"], condition=Q(kind="nfc", active=True), name="nfc_uid_bound_once"),
        ]
        # a replaced card's UID still names it for the taps buses upload later (transit.services._credentials)
        indexes = [models.Index(fields=["uid"], condition=Q(kind="nfc", active=False), name="nfc_uid_retired")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.uid or self.token}"


class UsedCode(models.Model):
    """A one-time dynamic code already accepted (CARD-3): (credential, TOTP step) is used once."""

    institution_path = "credential__card__institution"

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="+", db_index=False)  # unique below
    step = models.BigIntegerField()
    used_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["credential", "step"], name="used_code_once")]

    def __str__(self) -> str:
        return f"{self.credential_id}@{self.step}"


class OfflineCode(models.Model):
    """A pre-issued one-time code the phone can show offline; only for password-free amounts."""

    institution_path = "credential__card__institution"

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="offline_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.credential_id} {self.code_hash[:8]}"


class DenyListVersion(models.Model):
    """Bumped on every loss report, un-report, freeze or cancel; offline devices sync to it (CARD-4)."""

    institution_path = "institution"

    institution = models.OneToOneField(Institution, on_delete=models.CASCADE, related_name="deny_list")
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.institution_id} v{self.version}"


class BalanceMove(models.Model):
    """CARD-6: an old card's remainder moves to the new card once late offline uploads have settled."""

    institution_path = "old_card__institution"

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        DONE = "done", _("done")

    old_card = models.OneToOneField(Card, on_delete=models.PROTECT, related_name="balance_move_out")
    new_card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="balance_moves_in")
    due_at = models.DateTimeField(_("due at"), db_index=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.SCHEDULED)
    amount = FenField(_("amount moved"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("balance move")
        verbose_name_plural = _("balance moves")

    def __str__(self) -> str:
        return f"{self.old_card_id} → {self.new_card_id}"


class LegacyMealCard(models.Model):
    """An old meal-card balance imported from the previous system's export (CARD-7)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="legacy_meal_cards")
    old_number = models.CharField(_("old card number"), max_length=30)
    balance = FenField(_("balance"))
    imported_at = models.DateTimeField()
    migrated_at = models.DateTimeField(_("transferred at"), null=True, blank=True)
    transfer_id = models.BigIntegerField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("old meal card")
        verbose_name_plural = _("old meal cards")
        constraints = [models.UniqueConstraint(fields=["institution", "old_number"], name="legacy_number_unique")]

    def __str__(self) -> str:
        return self.old_number


class Photo(models.Model):
    """A certificate photo (ID-7): approved photos take effect the next day (synced overnight)."""

    institution_path = "person__institution"

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for review")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="photos", verbose_name=_("holder"))
    image = models.ImageField(_("photo"), upload_to="photos/%Y/%m/")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded at"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("reviewed by"))
    effective_from = models.DateField(_("effective from"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.person} {self.get_state_display()}"


class IssueRun(models.Model):
    """One bulk-issuing selection of the roster (APP-7): who was chosen, how far the run is, who had no photo."""

    institution_path = "institution"

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    department = models.CharField(_("department"), max_length=100, blank=True)
    title = models.CharField(_("class / programme"), max_length=100, blank=True)
    enrollment_year = models.PositiveSmallIntegerField(_("enrolment year"), null=True, blank=True)
    person_kind = models.CharField(_("kind of person"), max_length=20, blank=True)
    physical = models.BooleanField(_("physical cards"), default=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(_("people selected"), default=0)
    done = models.PositiveIntegerField(_("people processed"), default=0)
    issued = models.PositiveIntegerField(_("cards issued"), default=0)
    already = models.PositiveIntegerField(_("already had a card"), default=0)
    # [{"id": person pk, "number": …, "name": …, "department": …}] — listed and told to upload a photo
    missing_photo = models.JSONField(_("without an approved photo"), default=list, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("started by"))
    created_at = models.DateTimeField(_("created at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("bulk issuing run")
        verbose_name_plural = _("bulk issuing runs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        parts = [self.department, self.title, str(self.enrollment_year or "")]
        return " · ".join(p for p in parts if p) or str(self.pk)


class IssueBatch(models.Model):
    """The cards of one unit from a bulk-issuing run (APP-7, HIT FAQ §4): printed together on one sheet,
    handed over to the unit (who received, when), then to each person there (their signature, when)."""

    institution_path = "institution"

    class State(models.TextChoices):
        OPEN = "open", _("being made")
        PRINTED = "printed", _("printed")
        HANDED_OVER = "handed_over", _("handed over to the unit")
        DONE = "done", _("all handed out")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    run = models.ForeignKey(IssueRun, on_delete=models.PROTECT, related_name="batches", verbose_name=_("run"))
    unit = models.CharField(_("unit"), max_length=100)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(_("created at"))
    printed_at = models.DateTimeField(_("printed at"), null=True, blank=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    received_by = models.CharField(_("received at the unit by"), max_length=100, blank=True)
    handed_over_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+", verbose_name=_("handed over by"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("issue batch")
        verbose_name_plural = _("issue batches")
        ordering = ["-created_at", "unit"]
        constraints = [models.UniqueConstraint(fields=["run", "unit"], name="issue_batch_unit_once")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.unit}"


class Production(models.Model):
    """A physical card being made (APP-5): requested → printed → ready at its collection place → collected."""

    institution_path = "card__institution"

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        PRINTED = "printed", _("printed")
        AT_KIOSK = "at_kiosk", _("ready for collection")  # at the kiosk, the window or the unit
        COLLECTED = "collected", _("collected")

    NEXT = {State.REQUESTED: State.PRINTED, State.PRINTED: State.AT_KIOSK, State.AT_KIOSK: State.COLLECTED}

    card = models.OneToOneField(Card, on_delete=models.PROTECT, related_name="production", verbose_name=_("card"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    due_date = models.DateField(_("ready by"))
    # The one place the holder collects the card (APP-5): a kiosk, the Card Center's window, or — for
    # bulk issuing (APP-7) — their unit (``collect_unit``, then ``collect_point`` is empty).
    collect_point = models.ForeignKey(ServicePoint, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("collect at"))
    collect_unit = models.CharField(_("collect at the unit"), max_length=100, blank=True)
    batch = models.ForeignKey("IssueBatch", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="productions", verbose_name=_("issue batch"))
    # Bulk issuing: the holder signs for the card at the unit (name as signed); collected_at is the time.
    signed_by = models.CharField(_("signed for by"), max_length=100, blank=True)
    requested_at = models.DateTimeField(_("requested at"))
    printed_at = models.DateTimeField(_("printed at"), null=True, blank=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    collected_at = models.DateTimeField(_("collected at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("card production")
        verbose_name_plural = _("card production")
        ordering = ["due_date"]

    def __str__(self) -> str:
        return f"{self.card} {self.get_state_display()}"

    @property
    def collect_where(self) -> str:
        """Where the card is collected, as the holder reads it (every message and page use this)."""
        if self.collect_point_id is not None:
            point = self.collect_point
            return f"{point.name} · {point.location}" if point.location else point.name
        return self.collect_unit


class PackageAddon(models.Model):
    """An optional add-on of the holder's card package (APP-4); the base package (canteen, library,
    door) is mandatory and not stored. Rows are never deleted: a removal sets ``revoked_at``."""

    institution_path = "person__institution"

    class Addon(models.TextChoices):
        DORM_ELECTRICITY = "dorm_electricity", _("dorm electricity top-up")
        LAUNDRY = "laundry", _("laundry booking")
        LAB = "lab", _("laboratory access")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="package_addons",
                               verbose_name=_("holder"))
    addon = models.CharField(_("add-on"), max_length=20, choices=Addon.choices)
    granted_at = models.DateTimeField(_("granted at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("package add-on")
        verbose_name_plural = _("package add-ons")
        constraints = [models.UniqueConstraint(fields=["person", "addon"], condition=Q(revoked_at=None),
                                               name="package_addon_once")]

    def __str__(self) -> str:
        return f"{self.person} {self.get_addon_display()}"


class ReplacementFee(models.Model):
    """How a replaced card's fee is paid (CARD-5, #17 item 10): from its balance, in cash at the window or a
    kiosk, or — when the lost card holds too little — from the new card's first recharge. One per replaced
    card; its ledger key is the card's, so the fee is taken once whichever way it comes."""

    institution_path = "old_card__institution"

    class Method(models.TextChoices):
        BALANCE = "balance", _("from the card's balance")
        CASH_WINDOW = "cash_window", _("in cash at the service window")
        CASH_KIOSK = "cash_kiosk", _("in cash at a kiosk")
        FIRST_RECHARGE = "first_recharge", _("from the new card's first recharge")

    class State(models.TextChoices):
        DUE = "due", _("due")
        PAID = "paid", _("paid")

    old_card = models.OneToOneField(Card, on_delete=models.PROTECT, related_name="replacement_fee",
                                    verbose_name=_("replaced card"))
    new_card = models.ForeignKey(Card, on_delete=models.PROTECT, null=True, blank=True, related_name="fees_due",
                                 verbose_name=_("new card"))
    amount = FenField(_("fee"))
    method = models.CharField(_("paid by"), max_length=16, choices=Method.choices)
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    transfer_id = models.BigIntegerField(_("ledger transfer"), null=True, blank=True)
    request_key = models.CharField(max_length=160, blank=True)  # a kiosk acceptor's request: its retry is no new fee
    created_at = models.DateTimeField(_("created at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("replacement fee")
        verbose_name_plural = _("replacement fees")

    def __str__(self) -> str:
        return f"{self.old_card_id} {self.amount} {self.method}"
