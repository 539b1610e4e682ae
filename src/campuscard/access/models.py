"""Access control (ACC-1 … ACC-5): zones, who may enter them, visitor passes and the decision log.

Rules themselves live in ``rules.decide`` (pure, shared by online and offline gates); these models are
the facts it reads. The lab add-on is part of the holder's card package (APP-4), kept by the cards app
(``cards.models.PackageAddon``, read through ``cards.selectors``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.cards.models import Card
from campuscard.core.crypto import EncryptedCharField
from campuscard.core.models import Building, Campus, Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.devices.models import Device
from campuscard.identity.models import Person


class Zone(models.Model):
    """A place behind gates or doors, with a level that decides its rules (ACC-1)."""

    institution_path = "institution"

    class Level(models.TextChoices):
        CAMPUS_GATE = "campus_gate", _("campus gate")
        TEACHING = "teaching", _("teaching area")
        DORMITORY = "dormitory", _("dormitory")
        LABORATORY = "laboratory", _("laboratory")
        LIBRARY = "library", _("library")
        OTHER = "other", _("other")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    campus = models.ForeignKey(Campus, on_delete=models.PROTECT, related_name="zones", verbose_name=_("campus"))
    building = models.ForeignKey(Building, on_delete=models.PROTECT, null=True, blank=True, related_name="zones",
                                 verbose_name=_("building"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=20, choices=Level.choices)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)
    gates = models.ManyToManyField(Device, blank=True, related_name="access_zones", verbose_name=_("gates"),
                                   help_text=_("gate and door controllers that guard this zone"))
    managers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="managed_zones",
                                      verbose_name=_("managers"),
                                      help_text=_("who approves lab permits for this zone (empty: any zone manager)"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("zone")
        verbose_name_plural = _("zones")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="zone_code_unique")]

    def __str__(self) -> str:
        return self.name


class ZoneException(models.Model):
    """A holiday or schedule exception for one zone and date: closed, or open only between two times."""

    institution_path = "zone__institution"

    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="exceptions", verbose_name=_("zone"))
    date = models.DateField(_("date"))
    closed = models.BooleanField(_("closed all day"), default=False)
    open_from = models.TimeField(_("open from"), null=True, blank=True)
    open_to = models.TimeField(_("open until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("zone exception")
        verbose_name_plural = _("zone exceptions")
        ordering = ["zone", "date"]
        constraints = [
            models.UniqueConstraint(fields=["zone", "date"], name="zone_exception_once_a_day"),
            models.CheckConstraint(condition=Q(closed=True) | (Q(open_from__isnull=False) & Q(open_to__isnull=False)),
                                   name="zone_exception_closed_or_hours"),
        ]

    def __str__(self) -> str:
        return f"{self.zone} {self.date}"


class DormResidence(models.Model):
    """Who lives in a dormitory building, and from when to when (dates inclusive; open end allowed)."""

    institution_path = "person__institution"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="residences", verbose_name=_("resident"))
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="residents",
                                 verbose_name=_("building"))
    room = models.CharField(_("room"), max_length=20, blank=True)
    valid_from = models.DateField(_("from"))
    valid_to = models.DateField(_("until"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("dormitory residence")
        verbose_name_plural = _("dormitory residences")
        indexes = [models.Index(fields=["building", "person"])]

    def __str__(self) -> str:
        return f"{self.person} @ {self.building}"


class Reviewed(models.Model):
    """What every application a person makes and someone decides carries (entry, lab permits)."""

    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"))
    requested_at = models.DateTimeField(_("requested at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        abstract = True


class CampusEntryApproval(Reviewed):
    """ACC-2: the card identifies; this approval lets it open the campus gates."""

    institution_path = "institution"

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        REVOKED = "revoked", _("revoked")  # approved, then withdrawn: the holder may apply again

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="campus_entries",
                               verbose_name=_("holder"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("campus entry approval")
        verbose_name_plural = _("campus entry approvals")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["person"], condition=Q(state__in=["requested", "approved"]),
                                    name="campus_entry_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.get_state_display()}"


class LabPermit(Reviewed):
    """A time-slot permit for a laboratory (ACC-1), applied for by the holder, decided by the zone's manager.

    ``weekly_slots``: ``[{"weekday": 0-6 (Monday 0), "start": "HH:MM", "end": "HH:MM"}]``;
    ``dated_slots``: ``[{"date": "YYYY-MM-DD", "start": "HH:MM", "end": "HH:MM"}]``. A slot admits from
    its start up to (not including) its end, institution time, on days between ``valid_from`` and
    ``valid_to`` inclusive.
    """

    institution_path = "institution"

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        REVOKED = "revoked", _("revoked")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="lab_permits", verbose_name=_("holder"))
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="lab_permits", verbose_name=_("zone"))
    weekly_slots = models.JSONField(_("weekly slots"), default=list, blank=True)
    dated_slots = models.JSONField(_("dated slots"), default=list, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("lab permit")
        verbose_name_plural = _("lab permits")
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["zone", "state"]), models.Index(fields=["person", "zone"])]

    def __str__(self) -> str:
        return f"{self.person} @ {self.zone} ({self.get_state_display()})"


class AccessSigningKey(models.Model):
    """Ed25519 keys that sign visitor codes and gate snapshots (ACC-3, ACC-5).

    One key per institution is ``active`` (signs new passes); older keys keep verifying the passes
    they signed until an operator retires them (``retired_at``): a retired key verifies nothing any
    more, online or in new offline snapshots. The private key is stored encrypted (Fernet, key derived
    from SECRET_KEY); gates get only the public keys.
    """

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    key_id = models.PositiveIntegerField(_("key id"))
    private_key = models.TextField(editable=False)
    public_key = models.CharField(_("public key"), max_length=64, editable=False)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)
    created_at = models.DateTimeField(_("created at"))
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("access signing key")
        verbose_name_plural = _("access signing keys")
        ordering = ["institution", "-key_id"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "key_id"], name="access_key_id_unique"),
            models.UniqueConstraint(fields=["institution"], condition=Q(active=True), name="access_key_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}#{self.key_id}"


class SnapshotSerial(models.Model):
    """The last serial number of an institution's offline snapshots (ACC-5). Each snapshot carries the
    next one, signed, so a gate can refuse a snapshot older than the one it holds (a replayed download)."""

    institution_path = "institution"

    institution = models.OneToOneField(Institution, on_delete=models.PROTECT, primary_key=True, related_name="+",
                                       verbose_name=_("institution"))
    last = models.BigIntegerField(_("last serial"), default=0)

    class Meta:
        verbose_name = _("snapshot serial")
        verbose_name_plural = _("snapshot serials")

    def __str__(self) -> str:
        return f"{self.institution_id}: {self.last}"


class VisitorPass(models.Model):
    """ACC-3: a temporary pass for a visitor, shown as a signed QR code (``CV1.…``)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    host = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="hosted_passes", verbose_name=_("host"))
    visitor_name = models.CharField(_("visitor name"), max_length=100)
    visitor_phone = EncryptedCharField(_("visitor phone"), max_length=20)  # #18 item 7
    zones = models.ManyToManyField(Zone, related_name="visitor_passes", verbose_name=_("zones"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid until"))
    key_id = models.PositiveIntegerField(_("key id"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("visitor pass")
        verbose_name_plural = _("visitor passes")
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return f"{self.visitor_name} ({self.valid_from:%Y-%m-%d %H:%M})"


class VisitorInvite(models.Model):
    """ACC-3: a link a host shares so that visitors ask for their own pass. Creating it is the host's
    approval of the link; each request then waits for the host (or, if the host chose so, is granted at
    once) and becomes an ordinary visitor pass, with every pass rule applied at that moment."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    host = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="visitor_invites", verbose_name=_("host"))
    token = models.CharField(max_length=43, unique=True, editable=False)
    purpose = models.CharField(_("purpose of the visit"), max_length=100)
    zones = models.ManyToManyField(Zone, related_name="+", verbose_name=_("zones"))
    max_visitors = models.PositiveSmallIntegerField(_("visitors at most"), default=1)
    needs_approval = models.BooleanField(_("I approve each visitor"), default=True)
    expires_at = models.DateTimeField(_("link valid until"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("visitor invitation link")
        verbose_name_plural = _("visitor invitation links")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.purpose


class VisitorRequest(Reviewed):
    """A visitor's own request through a host's link; approved, it carries the pass it became."""

    institution_path = "invite__institution"

    class State(models.TextChoices):
        REQUESTED = "requested", _("waiting for the host")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("declined")

    invite = models.ForeignKey(VisitorInvite, on_delete=models.CASCADE, related_name="requests",
                               verbose_name=_("invitation link"))
    token = models.CharField(max_length=43, unique=True, editable=False)  # the visitor's own page
    visitor_name = models.CharField(_("visitor name"), max_length=100)
    visitor_phone = EncryptedCharField(_("visitor phone"), max_length=20)  # #18 item 7
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid until"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    visitor_pass = models.OneToOneField(VisitorPass, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="request", verbose_name=_("visitor pass"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("visitor request")
        verbose_name_plural = _("visitor requests")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.visitor_name} ({self.get_state_display()})"


class AccessEvent(models.Model):
    """Every gate decision, online or uploaded by an offline gate (ACC-5). Append-only."""

    institution_path = "institution"

    class CredentialKind(models.TextChoices):
        NFC = "nfc", _("physical card (NFC)")
        CODE = "code", _("dynamic code (QR/HCE)")
        VISITOR = "visitor", _("visitor code")
        NONE = "none", _("unreadable")

    class Source(models.TextChoices):
        ONLINE = "online", _("online")
        OFFLINE = "offline", _("offline (uploaded)")

    # The log keeps no database foreign keys (db_constraint=False): its rows are written by statements that
    # read the rows they name, nothing it names is ever deleted (PROTECT still holds in Django), and the
    # checks cost the class-change rush dearly — six more look-ups per logged decision at its commit, key-share
    # locks on the same few hot rows (the institution, the zone, the gate) by every batch (docs/decisions.md).
    # Indexes: each one is one more insert per decision, so only those a look-up needs, each leading with
    # the column filtered on and ending with decided_at (the order every listing uses).
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"), db_constraint=False, db_index=False)
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="events", verbose_name=_("zone"),
                             db_constraint=False, db_index=False)
    device = models.ForeignKey(Device, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("gate"), db_constraint=False, db_index=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, null=True, blank=True, related_name="access_events",
                               verbose_name=_("holder"), db_constraint=False, db_index=False)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("card"), db_constraint=False, db_index=False)
    visitor_pass = models.ForeignKey(VisitorPass, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="events", verbose_name=_("visitor pass"), db_constraint=False,
                                     db_index=False)
    credential_kind = models.CharField(_("credential"), max_length=10, choices=CredentialKind.choices)
    decided_at = models.DateTimeField(_("decided at"))
    admitted = models.BooleanField(_("admitted"))
    rule = models.CharField(_("rule"), max_length=60)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.ONLINE)
    sequence = models.BigIntegerField(_("device sequence number"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("access event")
        verbose_name_plural = _("access events")
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["device", "sequence"], condition=Q(sequence__isnull=False),
                                    name="access_event_device_sequence_once"),
        ]
        indexes = [
            models.Index(fields=["zone", "decided_at"]), models.Index(fields=["person", "decided_at"]),
            models.Index(fields=["institution", "decided_at"]), models.Index(fields=["device", "decided_at"]),
            # most decisions are holders': a visitor pass's entries are indexed without them
            models.Index(fields=["visitor_pass", "decided_at"], condition=Q(visitor_pass__isnull=False),
                         name="access_event_visitor_pass"),
        ]

    def __str__(self) -> str:
        return f"{self.decided_at:%Y-%m-%d %H:%M:%S} {self.zone_id} {self.rule}"
