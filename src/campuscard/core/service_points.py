"""Reads for the service points page, its API and the assistant's hand-off (SUP-2, SUP-3).

"Open now" is decided once, here, from the point's hours in the institution's time zone with the country's
public holidays (``core.hours``); the portal page, the API and the assistant all ask these functions.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.utils.translation import get_language

from campuscard.core import clock, hours
from campuscard.core.models import Area, Building, Campus, Institution, ServicePoint


def _local(obj, attr: str) -> str:
    """The English name when the reader reads English and there is one."""
    english = (get_language() or "").startswith("en")
    return (getattr(obj, f"{attr}_en", "") if english else "") or getattr(obj, attr)


@dataclass
class PointView:
    point: ServicePoint
    open_now: bool
    today: str  # today's hours, "" when closed all day
    holiday: str | None  # today's public holiday, when the point closes for it
    phone: str
    distance: float | None = None

    @property
    def name(self) -> str:
        return _local(self.point, "name")

    @property
    def location(self) -> str:
        return _local(self.point, "location")

    @property
    def capabilities(self) -> list[str]:
        return self.point.capabilities

    def as_dict(self) -> dict:
        p = self.point
        return {"code": p.code, "kind": p.kind, "name": self.name, "location": self.location,
                "campus": p.area.campus.code, "area": p.area.code, "capabilities": self.capabilities,
                "hours": p.hours, "closed_on_holidays": p.closed_on_holidays, "today": self.today,
                "holiday": self.holiday, "open_now": self.open_now, "phone": self.phone,
                "plan": {"x": p.plan_x, "y": p.plan_y} if p.plan_x is not None else None}


@dataclass
class AreaView:
    area: Area
    points: list[PointView] = field(default_factory=list)

    @property
    def name(self) -> str:
        return _local(self.area, "name")


@dataclass
class BuildingView:
    building: Building

    @property
    def pk(self) -> int:
        return self.building.pk

    @property
    def name(self) -> str:
        return _local(self.building, "name")


@dataclass
class CampusView:
    campus: Campus
    phone: str
    areas: list[AreaView] = field(default_factory=list)
    buildings: list[BuildingView] = field(default_factory=list)

    @property
    def name(self) -> str:
        return _local(self.campus, "name")

    @property
    def points(self) -> list[PointView]:
        return [p for a in self.areas for p in a.points]


def point_view(point: ServicePoint, *, institution: Institution, at: dt.datetime | None = None) -> PointView:
    local = (at or clock.now()).astimezone(clock.zone(institution.time_zone))
    holiday = hours.holiday_name(institution.country, local.date()) if point.closed_on_holidays else None
    try:
        today = hours.format_ranges(hours.today_ranges(hours=point.hours, closed_on_holidays=point.closed_on_holidays,
                                                       country=institution.country, day=local.date()))
        open_now = hours.is_open(hours=point.hours, closed_on_holidays=point.closed_on_holidays,
                                 country=institution.country, local=local)
    except hours.HoursError:  # unreadable hours (written before the check): shown as written, never "open"
        today, open_now = point.hours, False
    phone = point.phone or point.area.campus.phone or institution.hotline
    return PointView(point=point, open_now=open_now, today=today, holiday=holiday, phone=phone)


def campus_phone(campus: Campus, institution: Institution) -> str:
    return campus.phone or institution.hotline


def hotline_open(institution: Institution, at: dt.datetime | None = None) -> bool:
    local = (at or clock.now()).astimezone(clock.zone(institution.time_zone))
    try:
        return hours.is_open(hours=institution.hotline_hours or "", closed_on_holidays=False,
                             country=institution.country, local=local)
    except hours.HoursError:
        return False


def service_points(institution: Institution, *, at: dt.datetime | None = None) -> list[CampusView]:
    """Every campus of the institution with its areas' service points (areas without any left out)."""
    points = (ServicePoint.objects.filter(area__campus__institution=institution)
              .select_related("area__campus").order_by("area__campus__code", "area__code", "kind", "code"))
    campuses: dict[int, CampusView] = {}
    areas: dict[int, AreaView] = {}
    for campus in Campus.objects.filter(institution=institution).order_by("code"):
        campuses[campus.pk] = CampusView(campus=campus, phone=campus_phone(campus, institution))
    for point in points:
        if point.area_id not in areas:
            areas[point.area_id] = AreaView(area=point.area)
            campuses[point.area.campus_id].areas.append(areas[point.area_id])
        areas[point.area_id].points.append(point_view(point, institution=institution, at=at))
    for building in (Building.objects.filter(area__campus__institution=institution, plan_x__isnull=False)
                     .select_related("area").order_by("name")):
        campuses[building.area.campus_id].buildings.append(BuildingView(building))
    return [c for c in campuses.values() if c.areas]


def nearest(institution: Institution, *, campus_id: int | None = None, near: Building | None = None,
            kind: str | None = None, at: dt.datetime | None = None) -> list[PointView]:
    """Service points of one campus (the given building's, else ``campus_id``, else all), open ones first,
    then by distance on the campus plan from ``near`` (points without a place on the plan last)."""
    views = [p for c in service_points(institution, at=at) for p in c.points]
    if near is not None:
        campus_id = near.area.campus_id
    if campus_id is not None:
        views = [p for p in views if p.point.area.campus_id == campus_id] or views
    if kind:
        views = [p for p in views if p.point.kind == kind]
    for view in views:
        here, there = (near.plan_x, near.plan_y) if near else (None, None), (view.point.plan_x, view.point.plan_y)
        if None not in here and None not in there:
            view.distance = math.hypot(there[0] - here[0], there[1] - here[1])  # type: ignore[operator]
    return sorted(views, key=lambda v: (not v.open_now, v.distance if v.distance is not None else math.inf,
                                        v.point.area.code, v.point.code))


def open_first(institution: Institution, *, campus_id: int | None, kinds: tuple[str, ...] | None = None,
               at: dt.datetime | None = None) -> list[PointView]:
    """One campus's points (of ``kinds``), open ones first: the assistant's hand-off asks this on every unsure
    answer, so it is one query and no plan."""
    points = ServicePoint.objects.filter(area__campus__institution=institution).select_related("area__campus")
    if campus_id is not None:
        points = points.filter(area__campus_id=campus_id)
    if kinds:
        points = points.filter(kind__in=kinds)
    views = [point_view(p, institution=institution, at=at) for p in points.order_by("area__code", "kind", "code")]
    return sorted(views, key=lambda v: not v.open_now)
