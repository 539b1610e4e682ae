"""Read-only selectors for the access pages (portal, gate page, back office); rules stay in ``services``.

Nothing here decides who may enter: it lists what the services wrote (applications, permits, passes,
events) for one holder, one gate or one zone, in the institution's time.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import ExtractHour

from campuscard.access.errors import rule_message
from campuscard.access.models import (
    AccessEvent,
    CampusEntryApproval,
    LabPermit,
    VisitorInvite,
    VisitorPass,
    VisitorRequest,
    Zone,
)
from campuscard.access.services import VISITOR_ZONE_LEVELS, is_zone_manager
from campuscard.cards.models import PackageAddon
from campuscard.cards.selectors import has_addon
from campuscard.core import clock
from campuscard.core.exports import SafeCsvWriter
from campuscard.core.permissions import restrict
from campuscard.devices.models import Device
from campuscard.identity.models import Person

SEARCH_LIMIT = 500  # rows on the security search page (the CSV has them all)


# --- the holder's portal ---------------------------------------------------------------------------

def campus_entry_of(person: Person) -> CampusEntryApproval | None:
    """The open or approved application if any, else the latest decided one."""
    rows = CampusEntryApproval.objects.filter(person=person)
    return rows.filter(state__in=["requested", "approved"]).first() or rows.first()


def has_lab_addon(person: Person) -> bool:
    return has_addon(person=person, addon=PackageAddon.Addon.LAB)


def lab_zones(person: Person) -> QuerySet[Zone]:
    return Zone.objects.filter(institution_id=person.institution_id, level=Zone.Level.LABORATORY, active=True)


def visitor_zones(person: Person) -> QuerySet[Zone]:
    return Zone.objects.filter(institution_id=person.institution_id, level__in=VISITOR_ZONE_LEVELS, active=True)


def permits_of(person: Person) -> list[LabPermit]:
    permits = list(LabPermit.objects.filter(person=person).select_related("zone")[:50])
    today = clock.local_date(person.institution)
    for permit in permits:
        permit.expired = permit.valid_to < today
    return permits


@dataclass
class PassView:
    visitor_pass: VisitorPass
    status: str  # "revoked" | "expired" | "upcoming" | "valid"
    zones: list[str]


def pass_status(visitor_pass: VisitorPass, now: dt.datetime | None = None) -> str:
    now = now or clock.now()
    if visitor_pass.revoked_at is not None:
        return "revoked"
    if visitor_pass.valid_to <= now:
        return "expired"
    return "upcoming" if visitor_pass.valid_from > now else "valid"


def passes_of(person: Person) -> list[PassView]:
    now = clock.now()
    rows = VisitorPass.objects.filter(host=person).prefetch_related("zones").order_by("-created_at")[:30]
    return [PassView(p, pass_status(p, now), [z.name for z in p.zones.all()]) for p in rows]


def pass_of(person: Person, pk: int) -> VisitorPass | None:
    return VisitorPass.objects.filter(host=person, pk=pk).prefetch_related("zones").first()


@dataclass
class InviteView:
    invite: VisitorInvite
    zones: list[str]
    places_left: int
    waiting: list[VisitorRequest]
    answered: list[VisitorRequest]


def invites_of(person: Person) -> list[InviteView]:
    """The host's links that still work, or that have requests still waiting, with their requests."""
    from campuscard.access.invites import places_left

    now = clock.now()
    rows = (VisitorInvite.objects.filter(host=person).prefetch_related("zones", "requests__visitor_pass")
            .order_by("-created_at")[:20])
    views = []
    for invite in rows:
        requests = sorted(invite.requests.all(), key=lambda r: r.requested_at, reverse=True)
        waiting = [r for r in requests if r.state == VisitorRequest.State.REQUESTED]
        if invite.revoked_at is None and invite.expires_at > now or waiting:
            views.append(InviteView(invite, [z.name for z in invite.zones.all()], places_left(invite=invite), waiting,
                                    [r for r in requests if r.state != VisitorRequest.State.REQUESTED]))
    return views


def request_of(person: Person, pk: int) -> VisitorRequest | None:
    return VisitorRequest.objects.filter(invite__host=person, pk=pk).select_related("invite").first()


def max_ahead_hours() -> int:
    return getattr(settings, "VISITOR_PASS_MAX_AHEAD_HOURS", 6)


def max_duration_hours() -> int:
    return getattr(settings, "VISITOR_PASS_MAX_DURATION_HOURS", 24)


@dataclass
class EventView:
    event: AccessEvent
    message: str


def events_of(person: Person, limit: int = 30) -> list[EventView]:
    rows = AccessEvent.objects.filter(person=person).select_related("zone").order_by("-decided_at", "-id")[:limit]
    return [EventView(e, rule_message(e.rule)) for e in rows]


# --- the gate page ---------------------------------------------------------------------------------

def gate_zones(device: Device) -> list[Zone]:
    return list(Zone.objects.filter(institution_id=device.institution_id, gates=device, active=True)
                .order_by("name"))


def gate_recent(device: Device, limit: int = 10) -> list[EventView]:
    rows = (AccessEvent.objects.filter(device=device).select_related("zone", "person", "visitor_pass")
            .order_by("-decided_at", "-id")[:limit])
    return [EventView(e, rule_message(e.rule)) for e in rows]


# --- the back office -------------------------------------------------------------------------------

def managed_only(queryset: QuerySet, user, path: str = "") -> QuerySet:
    """What a zone manager may see and change: the zones they manage and zones with no named managers
    (``path`` leads from the rows to their zone, e.g. ``"zone__"``); the same zones the services let them
    act on. Anyone else: the queryset as it is."""
    if not is_zone_manager(user=user):
        return queryset
    return queryset.filter(Q(**{f"{path}managers": user}) | Q(**{f"{path}managers": None})).distinct()


def permits_visible(queryset: QuerySet[LabPermit], user) -> QuerySet[LabPermit]:
    return managed_only(queryset, user, "zone__")


def local_day_bounds(day: dt.date, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    zone = clock.zone(time_zone)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + dt.timedelta(days=1)
    return start, end


def entries_by_hour(zone: Zone, day: dt.date, time_zone: str) -> dict[str, list[int]]:
    """Admitted and refused decisions at ``zone`` on local ``day``, per local hour 0–23."""
    start, end = local_day_bounds(day, time_zone)
    rows = (AccessEvent.objects.filter(zone=zone, decided_at__gte=start, decided_at__lt=end)
            .annotate(hour=ExtractHour("decided_at", tzinfo=clock.zone(time_zone)))
            .values("hour", "admitted").order_by().annotate(n=Count("id")))
    admitted, refused = [0] * 24, [0] * 24
    for row in rows:
        (admitted if row["admitted"] else refused)[row["hour"]] += row["n"]
    return {"admitted": admitted, "refused": refused}


def events_search(user, *, number: str = "", zone: Zone | None = None, start: dt.datetime | None = None,
                  end: dt.datetime | None = None) -> QuerySet[AccessEvent]:
    """Security staff's search over the event log, within what ``restrict`` lets ``user`` see."""
    rows = restrict(AccessEvent.objects.all(), user, "view")
    if number:
        rows = rows.filter(person__number=number.strip())
    if zone is not None:
        rows = rows.filter(zone=zone)
    if start is not None:
        rows = rows.filter(decided_at__gte=start)
    if end is not None:
        rows = rows.filter(decided_at__lt=end)
    return rows.select_related("zone", "person", "device", "visitor_pass").order_by("-decided_at", "-id")


def events_csv(rows, time_zone: str) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 with Chinese names correctly
    writer = SafeCsvWriter(out)
    writer.writerow(["decided_at", "zone", "person_number", "person_name", "visitor", "credential", "admitted",
                     "rule", "message", "source", "gate"])
    local = clock.zone(time_zone)
    for e in rows.iterator(chunk_size=2000):
        writer.writerow([e.decided_at.astimezone(local).isoformat(timespec="seconds"), e.zone.code,
                         e.person.number if e.person else "", e.person.name if e.person else "",
                         e.visitor_pass.visitor_name if e.visitor_pass else "", e.credential_kind,
                         "1" if e.admitted else "0", e.rule, rule_message(e.rule), e.source,
                         e.device.code if e.device else ""])
    return out.getvalue()
