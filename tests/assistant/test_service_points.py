"""Service points and "open now" (SUP-2, SUP-3): hours at their edges in the institution's time zone, public
holidays and make-up working days, the portal page with its plan, the API, and who may see what."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from campuscard.core import clock, hours
from campuscard.core import service_points as points
from campuscard.core.models import Area, Building, Campus, ServicePoint

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=SHANGHAI)


@pytest.fixture
def places(institution):
    area = Area.objects.get(campus__institution=institution, code="area1")
    area.plan_x, area.plan_y, area.plan_w, area.plan_h = 5, 5, 90, 60
    area.save()
    institution.hotline, institution.hotline_hours = "0451-86413000", "08:30-21:00"
    institution.save()
    library = Building.objects.create(area=area, code="library", name="图书馆", name_en="Library",
                                      kind=Building.Kind.LIBRARY, plan_x=80, plan_y=50)
    canteen = Building.objects.create(area=area, code="canteen", name="学苑餐厅", name_en="Xueyuan Restaurant",
                                      kind=Building.Kind.CANTEEN, plan_x=10, plan_y=10)
    desk = ServicePoint.objects.create(area=area, building=library, code="desk", kind=ServicePoint.Kind.DESK,
                                       name="图书馆一楼人工服务点", name_en="Library help desk", location="图书馆一楼",
                                       location_en="Library, first floor", hours="08:30-21:00", closed_on_holidays=True,
                                       does_loss=True, plan_x=80, plan_y=52)
    kiosk_far = ServicePoint.objects.create(area=area, building=library, code="kiosk-library",
                                            kind=ServicePoint.Kind.KIOSK, name="图书馆自助机", hours="06:00-22:00",
                                            does_recharge=True, does_loss=True, does_collection=True,
                                            does_replacement=True, plan_x=79, plan_y=50)
    kiosk_near = ServicePoint.objects.create(area=area, building=canteen, code="kiosk-canteen",
                                             kind=ServicePoint.Kind.KIOSK, name="学苑餐厅自助机", hours="24h",
                                             does_recharge=True, does_loss=True, does_collection=True,
                                             does_replacement=True, plan_x=11, plan_y=12)
    return {"desk": desk, "kiosk_far": kiosk_far, "kiosk_near": kiosk_near, "library": library, "canteen": canteen}


@pytest.mark.parametrize(("time", "is_open"), [("08:29", False), ("08:30", True), ("20:59", True), ("21:00", False),
                                               ("23:59", False), ("00:00", False)])
def test_open_now_at_the_edges_of_08_30_21_00(institution, places, time, is_open):
    # 2026-12-07 is an ordinary Monday
    view = points.point_view(places["desk"], institution=institution, at=at("2026-12-07", time))
    assert view.open_now is is_open
    assert view.today == "08:30-21:00"


def test_open_now_is_decided_in_the_institutions_time_zone(institution, places):
    moment = at("2026-12-07", "08:30").astimezone(dt.UTC)  # 00:30 UTC
    assert points.point_view(places["desk"], institution=institution, at=moment).open_now
    institution.time_zone = "Europe/London"  # the same instant is 00:30 there
    assert not points.point_view(places["desk"], institution=institution, at=moment).open_now


def test_a_public_holiday_closes_staffed_points_but_not_kiosks(institution, places):
    national_day = at("2026-10-01", "10:00")
    desk = points.point_view(places["desk"], institution=institution, at=national_day)
    kiosk = points.point_view(places["kiosk_far"], institution=institution, at=national_day)
    assert not desk.open_now and desk.holiday == "National Day" and desk.today == ""
    assert kiosk.open_now
    # a substituted day off counts as a holiday too; the next ordinary day the desk opens again
    assert not points.point_view(places["desk"], institution=institution, at=at("2026-10-07", "10:00")).open_now
    assert points.point_view(places["desk"], institution=institution, at=at("2026-10-08", "10:00")).open_now


def test_a_make_up_working_day_keeps_weekday_hours():
    sign = "mon-fri 08:30-17:00; sat-sun closed"
    # 2026-10-10 is a Saturday worked in exchange for a National Day holiday (调休); 2026-10-17 an ordinary one
    assert hours.is_open(hours=sign, closed_on_holidays=True, country="CN", local=at("2026-10-10", "09:00"))
    assert not hours.is_open(hours=sign, closed_on_holidays=True, country="CN", local=at("2026-10-17", "09:00"))
    assert not hours.is_open(hours=sign, closed_on_holidays=True, country="CN", local=at("2026-10-10", "17:00"))


@pytest.mark.parametrize(("text", "monday", "sunday"), [
    ("08:30-21:00", ((510, 1260),), ((510, 1260),)),
    ("24h", ((0, 1440),), ((0, 1440),)),
    ("mon-fri 08:30-12:00,13:30-17:00; sat-sun closed", ((510, 720), (810, 1020)), ()),
    ("08:00-20:00; sun 10:00-16:00", ((480, 1200),), ((600, 960),)),
    ("", (), ()),
])
def test_hours_are_read_like_a_sign(text, monday, sunday):
    schedule = hours.parse(text)
    assert schedule.ranges(0) == monday and schedule.ranges(6) == sunday


@pytest.mark.parametrize("text", ["8点半到9点", "21:00-08:30", "mon-xyz 08:00-09:00", "25:00-26:00", "08:30-21:61"])
def test_unreadable_hours_are_refused_when_saved(places, text):
    with pytest.raises(hours.HoursError):
        hours.parse(text)
    point = places["desk"]
    point.hours = text
    with pytest.raises(ValidationError):
        point.full_clean()


def test_nearest_open_point_from_a_building(institution, places):
    evening = at("2026-12-07", "22:30")  # the desk (21:00) and the library kiosk (22:00) are closed
    ranked = points.nearest(institution, near=places["library"], at=evening)
    assert [v.point.code for v in ranked] == ["kiosk-canteen", "kiosk-library", "desk"]
    noon = at("2026-12-07", "12:00")
    assert points.nearest(institution, near=places["library"], at=noon)[0].point.code == "kiosk-library"


def test_portal_page_lists_points_per_area_with_plan_and_open_now(client, institution, places):
    with clock.frozen_at(at("2026-12-07", "08:29")):
        page = client.get("/service-points/", {"near": places["library"].pk}, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-point="desk" data-open="0"' in html and 'data-point="kiosk-library" data-open="1"' in html
    assert '<svg class="plan"' in html and 'data-code="kiosk-library"' in html
    assert 'data-testid="nearest-name" data-code="kiosk-library"' in html
    assert 'data-cap="replacement"' in html
    with clock.frozen_at(at("2026-12-07", "08:30")):
        html = client.get("/service-points/").content.decode()
    assert 'data-point="desk" data-open="1"' in html


def test_api_lists_service_points_for_anonymous_callers(client, institution, places, other_institution):
    with clock.frozen_at(at("2026-12-07", "21:00")):
        body = client.get("/api/v1/support/service-points", {"institution": "uni"}).json()
    assert body["hotline"] == "0451-86413000" and body["hotline_open_now"] is False
    [campus] = body["campuses"]
    [area] = campus["areas"]
    by_code = {p["code"]: p for p in area["points"]}
    assert by_code["desk"]["open_now"] is False and by_code["kiosk-canteen"]["open_now"] is True
    assert by_code["kiosk-library"]["capabilities"] == ["recharge", "loss", "collection", "replacement"]
    assert by_code["desk"]["plan"] == {"x": 80, "y": 52}
    # another institution's list holds only its own points
    other = client.get("/api/v1/support/service-points", {"institution": "other"}).json()
    assert other["campuses"] == []
    assert client.get("/api/v1/support/service-points", {"institution": "nope"}).status_code == 404


def test_campus_phone_falls_back_to_the_hotline(institution, places):
    campus = Campus.objects.get(institution=institution, code="main")
    assert points.point_view(places["desk"], institution=institution).phone == institution.hotline
    campus.phone = "0451-86414000"
    campus.save()
    places["desk"].refresh_from_db()
    assert points.point_view(places["desk"], institution=institution).phone == "0451-86414000"
