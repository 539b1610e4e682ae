"""Recharge orders (TOP-1) and what payment gateways told us."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.core.models import Institution
from campuscard.core.money import FenField
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


class RechargeOrder(models.Model):
    """Money into a wallet (TOP-1): cash at a window or kiosk, or an online payment through a gateway."""

    institution_path = "institution"

    class Channel(models.TextChoices):
        WINDOW = "window", _("cash at the service window")
        KIOSK = "kiosk", _("cash at a kiosk")
        ONLINE = "online", _("online payment")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for payment")
        PAID = "paid", _("credited")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        REVIEW = "review", _("needs review")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    order_no = models.CharField(_("order number"), max_length=40, unique=True)
    key = models.CharField(_("idempotency key"), max_length=120)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="recharges", verbose_name=_("holder"))
    amount = FenField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    provider = models.CharField(_("gateway"), max_length=20, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, db_index=True)
    hold_transfer_id = models.BigIntegerField(null=True, blank=True)
    transfer_id = models.BigIntegerField(_("ledger transfer"), null=True, blank=True)
    provider_txn = models.CharField(_("gateway transaction"), max_length=80, blank=True)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("operator"))
    device = models.ForeignKey("devices.Device", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("device"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("recharge")
        verbose_name_plural = _("recharges")
        ordering = ["-created_at"]
        constraints = [
            # A client's idempotency key is its own: two holders may both send "1" (LED-4).
            models.UniqueConstraint(fields=["person", "key"], name="recharge_person_key_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="recharge_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.order_no


class GatewayNotification(models.Model):
    """Every callback a gateway sent, kept as received (signed or not) for audit and disputes."""

    institution_path = "order__institution"

    provider = models.CharField(max_length=20)
    received_at = models.DateTimeField(db_index=True)
    event_id = models.CharField(max_length=80, blank=True)
    order = models.ForeignKey(RechargeOrder, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="notifications")
    signature_ok = models.BooleanField()
    outcome = models.CharField(max_length=40)
    body = models.TextField()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("gateway notification")
        verbose_name_plural = _("gateway notifications")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.outcome}"


class SandboxPayment(models.Model):
    """The sandbox gateway's own record (what the real gateway would keep on its side)."""

    order_no = models.CharField(max_length=40, unique=True)
    amount = FenField()
    status = models.CharField(max_length=10, default="created")  # created | paid | failed
    gateway_txn = models.CharField(max_length=40)
    callback_url = models.URLField(max_length=300)
    return_url = models.CharField(max_length=300)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.order_no} {self.status}"


class Merchant(models.Model):
    """A canteen, supermarket, print shop or laundry that takes payments (PAY-1)."""

    institution_path = "institution"

    class Category(models.TextChoices):
        CANTEEN = "canteen", _("canteen")
        SUPERMARKET = "supermarket", _("supermarket")
        PRINT_SHOP = "print_shop", _("print shop")
        LAUNDRY = "laundry", _("laundry")
        OTHER = "other", _("other")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="merchants",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    category = models.CharField(_("category"), max_length=12, choices=Category.choices)
    building = models.ForeignKey("core.Building", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="merchants", verbose_name=_("building"))
    account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="merchant",
                                   verbose_name=_("takings account"), editable=False)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="merchant_code_unique")]

    def __str__(self) -> str:
        return self.name


class Terminal(models.Model):
    """A POS terminal: a registered device at one merchant's counter."""

    institution_path = "merchant__institution"

    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, related_name="terminal",
                                  verbose_name=_("device"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminals",
                                 verbose_name=_("merchant"))
    counter = models.CharField(_("counter / window"), max_length=60, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("POS terminal")
        verbose_name_plural = _("POS terminals")

    def __str__(self) -> str:
        return f"{self.merchant} · {self.counter or self.device.code}"


class SpendingLimit(models.Model):
    """The holder's own daily limit (PAY-2); absent = the institution default."""

    institution_path = "person__institution"

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="spending_limit")
    daily_limit = FenField(_("daily limit"))

    def __str__(self) -> str:
        return f"{self.person_id}: {self.daily_limit}"


class DailyUsage(models.Model):
    """What a holder spent today and their wrong payment passwords today (PAY-2, PAY-3)."""

    institution_path = "person__institution"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+", db_index=False)  # unique below
    day = models.DateField()
    spent = FenField(default=0)
    wrong_passwords = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "day"], name="daily_usage_unique")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.day}"


class Payment(models.Model):
    """One accepted card payment at a POS terminal, with the ledger transfer that moved the money (PAY-1);
    or a service charge (``payments.charges``: laundry, electricity, rentals) with no terminal, whose
    ``txn_id`` is the caller's idempotency key, unique per merchant."""

    institution_path = "institution"

    class Method(models.TextChoices):
        QR = "qr", _("QR code")
        NFC = "nfc", _("card (NFC)")
        HCE = "hce", _("phone (NFC)")
        OFFLINE = "offline", _("offline code")
        IN_APP = "in_app", _("in the app")  # started by the logged-in holder (portal, phone app)
        DESK = "desk", _("at a service desk")  # an operator charged the card the holder presented

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    db_index=False)  # (institution, created_at) index
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="payments",
                                 verbose_name=_("terminal"), db_index=False,  # (terminal, txn_id) is unique
                                 null=True, blank=True)  # none: a service charge
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments",
                                 verbose_name=_("merchant"), db_index=False)  # (merchant, created_at) index
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="payments", verbose_name=_("holder"))
    card = models.ForeignKey("cards.Card", on_delete=models.PROTECT, related_name="payments", verbose_name=_("card"))
    txn_id = models.CharField(_("terminal transaction id"), max_length=64)
    amount = FenField(_("amount (fen)"))
    method = models.CharField(_("method"), max_length=8, choices=Method.choices)
    transfer_id = models.BigIntegerField()
    balance_after = FenField(_("balance after"))
    refunded = FenField(_("refunded (fen)"), default=0)
    created_at = models.DateTimeField(_("at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["terminal", "txn_id"], name="payment_terminal_txn_unique"),
            models.UniqueConstraint(fields=["merchant", "txn_id"], condition=models.Q(terminal=None),
                                    name="payment_service_key_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=models.Q(refunded__lte=models.F("amount")), name="payment_refund_bound"),
        ]
        # Every index costs each payment an insert: one per way payments are looked up, no more.
        indexes = [models.Index(fields=["merchant", "created_at"]), models.Index(fields=["institution", "created_at"])]

    def __str__(self) -> str:
        return f"{self.merchant} {self.amount} {self.txn_id}"


class Hold(models.Model):
    """A deposit held on the holder's wallet for a service (``payments.charges``: a rental's deposit):
    a pending ledger transfer to the merchant, later captured (all or part, becoming a Payment) or
    released. The held amount counts as spent on the day it is placed (PAY-2); what is released comes
    off that day's total again."""

    institution_path = "institution"

    class State(models.TextChoices):
        HELD = "held", _("held")
        CAPTURED = "captured", _("captured")
        RELEASED = "released", _("released")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="holds",
                                 verbose_name=_("merchant"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="holds", verbose_name=_("holder"))
    card = models.ForeignKey("cards.Card", on_delete=models.PROTECT, related_name="+", verbose_name=_("card"))
    key = models.CharField(_("idempotency key"), max_length=64)
    amount = FenField(_("amount (fen)"))
    method = models.CharField(_("method"), max_length=8, choices=Payment.Method.choices)
    transfer_id = models.BigIntegerField()
    day = models.DateField()  # the holder's day whose spending it counts in
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.HELD)
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="hold",
                                   verbose_name=_("captured as"))
    created_at = models.DateTimeField(_("at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("deposit hold")
        verbose_name_plural = _("deposit holds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="hold_merchant_key_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.amount} {self.key}"


class Refund(models.Model):
    """Money back to the holder by a reversing transfer: a merchant refund or an accepted appeal."""

    institution_path = "payment__institution"

    class Kind(models.TextChoices):
        REFUND = "refund", _("merchant refund")
        APPEAL = "appeal", _("accepted appeal")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    amount = FenField(_("amount (fen)"))
    transfer_id = models.BigIntegerField()
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    key = models.CharField(_("idempotency key"), max_length=80, blank=True)
    created_at = models.DateTimeField(_("at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [models.UniqueConstraint(fields=["payment", "key"], condition=~models.Q(key=""),
                                               name="refund_key_once")]

    def __str__(self) -> str:
        return f"{self.payment_id} −{self.amount}"


class Appeal(models.Model):
    """A mistaken-charge appeal (误刷申诉, PAY-4), within 72 hours of the payment."""

    institution_path = "payment__institution"

    class State(models.TextChoices):
        OPEN = "open", _("waiting for a decision")
        ACCEPTED = "accepted", _("accepted — refunded")
        REJECTED = "rejected", _("rejected")

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="appeal")
    reason = models.CharField(_("reason"), max_length=300)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    decision = models.CharField(_("decision reason"), max_length=300, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(_("at"))
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.payment} {self.get_state_display()}"


class MerchantStaff(models.Model):
    """Links a back-office user with the ``merchant_operator`` role to the one merchant they work for.

    A merchant operator sees only this merchant's payments, refunds, appeals and statements; without
    a link they see none (``payments.settlement.merchant_scope``).
    """

    institution_path = "merchant__institution"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_staff",
                                verbose_name=_("user"))
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="staff",
                                 verbose_name=_("merchant"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("merchant staff member")
        verbose_name_plural = _("merchant staff")

    def __str__(self) -> str:
        return f"{self.user} · {self.merchant}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.user_id and self.merchant_id and self.user.institution_id != self.merchant.institution_id:
            raise ValidationError({"user": _("This user belongs to another institution.")})  # TEN-1


class CashShift(models.Model):
    """One operator's shift at a service window's cash drawer (#18 item 8, TOP-1): opened with the drawer's
    float, closed with the count. At the close the cash the ledger says the operator took in (cash
    recharges and replacement fees) and paid out (balance refunds in cash) is frozen with the count, so the
    report shows expected against counted and the difference — never corrected silently."""

    institution_path = "institution"

    class State(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("operator"))
    service_point = models.ForeignKey("core.ServicePoint", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("service window"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN)
    opened_at = models.DateTimeField(_("shift start"))
    closed_at = models.DateTimeField(_("shift end"), null=True, blank=True)
    opening_float = FenField(_("opening float (fen)"), default=0)
    # frozen at the close, from the ledger
    recharges = FenField(_("cash recharges (fen)"), default=0)
    fees = FenField(_("fees in cash (fen)"), default=0)
    refunds = FenField(_("refunds paid in cash (fen)"), default=0)
    expected = FenField(_("expected in the drawer (fen)"), null=True, blank=True)
    counted = FenField(_("counted (fen)"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("closed by"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("cash shift")
        verbose_name_plural = _("cash shifts")
        ordering = ["-opened_at"]
        constraints = [
            # one drawer at a time per operator: two open shifts would both claim the same recharges
            models.UniqueConstraint(fields=["operator"], condition=models.Q(state="open"),
                                    name="cash_shift_one_open_per_operator"),
            models.CheckConstraint(condition=models.Q(opening_float__gte=0), name="cash_shift_float_non_negative"),
            models.CheckConstraint(condition=models.Q(counted__isnull=True) | models.Q(counted__gte=0),
                                   name="cash_shift_counted_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def difference(self) -> int | None:
        """Counted minus expected: below zero the drawer is short, above it is over."""
        return None if self.counted is None or self.expected is None else self.counted - self.expected


class CashBoxEmptying(models.Model):
    """A kiosk's cash box emptied and counted (#18 item 8, SUP-3): what the ledger says the box took since
    the previous emptying (``expected``) against what was counted. The ``*_total`` fields are everything the
    ledger ever booked to this kiosk's cash at that moment; each emptying expects the growth since the previous
    one, so a recharge committed while a box was being emptied is expected at the next emptying, never lost."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    device = models.ForeignKey("devices.Device", on_delete=models.PROTECT, related_name="+", verbose_name=_("kiosk"))
    sequence = models.PositiveIntegerField(_("emptying number"))
    since = models.DateTimeField(_("previous emptying"), null=True, blank=True)
    emptied_at = models.DateTimeField(_("emptied at"))
    emptied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("emptied by"))
    # everything the ledger had booked to this kiosk's cash by then, and the growth since the previous emptying
    recharges_total = FenField(_("cash recharges ever (fen)"))
    fees_total = FenField(_("fees in cash ever (fen)"))
    recharges = FenField(_("cash recharges (fen)"))
    fees = FenField(_("fees in cash (fen)"))
    expected = FenField(_("expected (fen)"))
    counted = FenField(_("counted (fen)"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("kiosk cash-box emptying")
        verbose_name_plural = _("kiosk cash-box emptyings")
        ordering = ["-emptied_at"]
        constraints = [
            # two people emptying one box at once: the second is refused, not counted twice
            models.UniqueConstraint(fields=["device", "sequence"], name="cash_box_emptying_once"),
            models.CheckConstraint(condition=models.Q(counted__gte=0), name="cash_box_counted_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.device} #{self.sequence}"

    @property
    def difference(self) -> int:
        return self.counted - self.expected
