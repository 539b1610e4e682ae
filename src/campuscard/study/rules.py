"""The seat-holding rule (SVC-1), one place for the booking services, the live free seats and the job."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q

from campuscard.study.models import SeatBooking


def grace() -> dt.timedelta:
    """How long a booking waits to be taken up (scanned) after its start (our default 15 minutes)."""
    return dt.timedelta(minutes=settings.SEAT_GRACE_MINUTES)


def holding(now: dt.datetime) -> Q:
    """Bookings that hold their seat at ``now``: in use, or booked and still within the grace period
    (one not taken up by start + grace is released, whether or not the job has run yet)."""
    return Q(state=SeatBooking.State.IN_USE) | Q(state=SeatBooking.State.BOOKED, starts_at__gt=now - grace())
