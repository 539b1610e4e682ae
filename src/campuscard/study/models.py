"""Study services: desk/seat booking (SVC-1) and exam check-in (SVC-2).

Seats carry a printed QR (``Seat.token``); a booking holds a seat for a time slot and must be taken up
(scanned) within the grace period or it is released. Exams: a session has rooms, each roster row
(``ExamEntry``) names the holder's room; a check-in marks the row once.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campuscard.core.models import Institution
from campuscard.core.permissions import RestrictedQuerySet
from campuscard.identity.models import Person


def new_seat_token() -> str:
    return secrets.token_urlsafe(12)


class StudyRoom(models.Model):
    """A reading room or classroom whose desks can be booked (SVC-1)."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    location = models.CharField(_("location"), max_length=200, blank=True)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("study room")
        verbose_name_plural = _("study rooms")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="study_room_code_unique")]

    def __str__(self) -> str:
        return self.name


class Seat(models.Model):
    """One desk; its printed QR carries ``token`` (a link to the portal's seat page)."""

    institution_path = "room__institution"

    room = models.ForeignKey(StudyRoom, on_delete=models.CASCADE, related_name="seats", verbose_name=_("room"))
    label = models.CharField(_("seat"), max_length=20)
    token = models.CharField(_("QR token"), max_length=32, unique=True, default=new_seat_token, editable=False)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("seat")
        verbose_name_plural = _("seats")
        ordering = ["room", "label"]
        constraints = [models.UniqueConstraint(fields=["room", "label"], name="study_seat_label_unique")]

    def __str__(self) -> str:
        return f"{self.room} {self.label}"


class SeatBooking(models.Model):
    """A seat held for [starts_at, ends_at). ``booked`` until scanned (then ``in_use``); a booking not
    taken up within the grace period is ``released``; the holder may cancel one not yet started."""

    institution_path = "seat__room__institution"

    class State(models.TextChoices):
        BOOKED = "booked", _("booked")
        IN_USE = "in_use", _("in use")
        RELEASED = "released", _("released (not taken up)")
        CANCELLED = "cancelled", _("cancelled")
        ENDED = "ended", _("ended")

    HOLDING = (State.BOOKED, State.IN_USE)  # states that keep the seat

    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="bookings", verbose_name=_("seat"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="seat_bookings",
                               verbose_name=_("holder"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.BOOKED)
    created_at = models.DateTimeField(_("created at"))
    checked_in_at = models.DateTimeField(_("taken up at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("seat booking")
        verbose_name_plural = _("seat bookings")
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["seat", "starts_at"]), models.Index(fields=["person", "starts_at"]),
                   models.Index(fields=["state", "starts_at"], name="study_booking_open",
                                condition=Q(state="booked"))]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="study_booking_positive")]

    def __str__(self) -> str:
        return f"{self.seat} {self.starts_at:%Y-%m-%d %H:%M}"


class ExamSession(models.Model):
    """One sitting of an exam (SVC-2): its rooms and roster come from the academic system."""

    institution_path = "institution"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("institution"))
    code = models.SlugField(_("code"), max_length=60)
    title = models.CharField(_("course / exam"), max_length=150)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("exam session")
        verbose_name_plural = _("exam sessions")
        ordering = ["-starts_at"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="exam_session_code_unique"),
                       models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="exam_session_positive")]

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"


class ExamRoom(models.Model):
    """A room of a session; its invigilators may check holders in here (room-scoped)."""

    institution_path = "session__institution"

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="rooms",
                                verbose_name=_("exam session"))
    code = models.CharField(_("room"), max_length=40)
    invigilators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="exam_rooms",
                                          verbose_name=_("invigilators"))

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("exam room")
        verbose_name_plural = _("exam rooms")
        ordering = ["session", "code"]
        constraints = [models.UniqueConstraint(fields=["session", "code"], name="exam_room_code_unique")]

    def __str__(self) -> str:
        return self.code


class ExamEntry(models.Model):
    """A roster row: the holder sits this session in ``room``; ``checked_in_at`` is set once, at the door."""

    institution_path = "session__institution"

    class Method(models.TextChoices):
        CARD = "card", _("card (NFC)")
        CODE = "code", _("check-in code")

    session = models.ForeignKey(ExamSession, on_delete=models.CASCADE, related_name="entries",
                                verbose_name=_("exam session"))
    room = models.ForeignKey(ExamRoom, on_delete=models.PROTECT, related_name="entries", verbose_name=_("room"))
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="exam_entries",
                               verbose_name=_("holder"))
    seat = models.CharField(_("seat"), max_length=20, blank=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_in_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("checked in by"))
    method = models.CharField(_("method"), max_length=10, choices=Method.choices, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name = _("roster entry")
        verbose_name_plural = _("exam roster")
        ordering = ["session", "room", "seat"]
        constraints = [models.UniqueConstraint(fields=["session", "person"], name="exam_entry_once")]

    def __str__(self) -> str:
        return f"{self.person} @ {self.room}"
