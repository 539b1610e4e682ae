"""Dorm services (SVC-5): the reads for the portal, the API and the back office."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from campuscard.cards.models import PackageAddon
from campuscard.cards.selectors import has_addon
from campuscard.core import clock
from campuscard.dorm.models import Booking, DormStaff, Machine, Room, TopUp
from campuscard.dorm.services import room_of
from campuscard.identity.models import Person


@dataclass(frozen=True)
class ElectricityView:
    room: Room | None
    addon: bool
    top_ups: list[TopUp]

    @property
    def remaining_kwh(self) -> str | None:
        if self.room is None or self.room.remaining_wh is None:
            return None
        return f"{self.room.remaining_wh / 1000:.2f}"

    @property
    def low(self) -> bool:
        room = self.room
        return bool(room and room.remaining_wh is not None and room.remaining_wh < room.low_balance_wh)


def electricity_of(person: Person) -> ElectricityView:
    return ElectricityView(room=room_of(person=person),
                           addon=has_addon(person=person, addon=PackageAddon.Addon.DORM_ELECTRICITY),
                           top_ups=list(TopUp.objects.filter(person=person).select_related("room")[:10]))


def machines_of(person: Person) -> list[Machine]:
    """The machines of the buildings the holder lives in."""
    return list(Machine.objects.filter(dorm__rooms__residents=person, active=True,
                                       institution_id=person.institution_id)
                .select_related("dorm__building").distinct().order_by("dorm", "code"))


def machine_for(person: Person, pk: int) -> Machine | None:
    return next((m for m in machines_of(person) if m.pk == pk), None)


@dataclass(frozen=True)
class Slot:
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str  # free | taken | mine | past

    @property
    def value(self) -> str:
        return self.starts_at.isoformat()


def slots(machine: Machine, day: dt.date, person: Person | None = None) -> list[Slot]:
    """A machine's slots on a local day, each free, taken, the holder's own, or past (grace over)."""
    zone = clock.zone(machine.institution.time_zone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    step = dt.timedelta(minutes=machine.slot_minutes)
    live = {b.starts_at: b.person_id for b in Booking.objects.filter(
        machine=machine, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1))
        .exclude(state__in=Booking.RELEASED)}
    now = clock.now()
    grace = dt.timedelta(minutes=settings.LAUNDRY_GRACE_MINUTES)
    out = []
    moment = start
    while moment < start + dt.timedelta(days=1):
        # the wall-clock grid of the day (a DST change would shift it; China has none)
        owner = live.get(moment)
        if owner is not None:
            state = "mine" if person is not None and owner == person.pk else "taken"
        elif moment + grace <= now:
            state = "past"
        else:
            state = "free"
        out.append(Slot(moment, moment + step, state))
        moment += step
    return out


def bookings_of(person: Person, limit: int = 20) -> list[Booking]:
    return list(Booking.objects.filter(person=person).select_related("machine__dorm__building")
                .order_by("-starts_at")[:limit])


def booking_days(institution) -> list[dt.date]:
    today = clock.local_date(institution)
    return [today + dt.timedelta(days=i) for i in range(settings.LAUNDRY_BOOK_AHEAD_DAYS + 1)]


def shows_electricity(person: Person) -> bool:
    """The home shows the electricity tile to a dorm resident or a holder with the add-on (APP-4)."""
    return room_of(person=person) is not None or has_addon(person=person, addon=PackageAddon.Addon.DORM_ELECTRICITY)


def shows_laundry(person: Person) -> bool:
    return has_addon(person=person, addon=PackageAddon.Addon.LAUNDRY)


def dorm_scope(queryset, user, path: str = "dorm"):
    """A dorm operator linked to some buildings (``DormStaff``) sees only theirs; anyone else is left as
    ``restrict`` made them (their institution). ``path`` leads from the queryset's model to the building."""
    if user is None or not user.is_authenticated or user.is_superuser:
        return queryset
    link = DormStaff.objects.filter(user=user).first()
    if link is None:
        return queryset
    return queryset.filter(**{f"{path}__in": link.dorms.all()})
