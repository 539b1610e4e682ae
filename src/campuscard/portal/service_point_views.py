"""Service points per campus and area (SUP-2, SUP-3): what each window, desk and kiosk does, its hours and
telephone, open now, on a drawn campus plan; "near" a chosen building sorts the nearest open first.
Presentation only: ``core.service_points``."""

from __future__ import annotations

from django.shortcuts import render

from campuscard.core import clock
from campuscard.core import service_points as points
from campuscard.core.models import Building
from campuscard.portal.assistant_views import holder_and_institution


def service_points(request):
    person, institution = holder_and_institution(request)
    campuses = points.service_points(institution)
    near = None
    if request.GET.get("near"):
        near = (Building.objects.select_related("area__campus")
                .filter(area__campus__institution=institution, pk=request.GET["near"] if request.GET["near"].isdigit()
                        else 0).first())
    campus_id = near.area.campus_id if near else (person.campus_id if person else None)
    ranked = points.nearest(institution, near=near, campus_id=campus_id) if (near or campus_id) else []
    return render(request, "portal/service_points.html", {
        "person": person, "institution": institution, "campuses": campuses, "near": near,
        "nearest": ranked[0] if ranked and ranked[0].open_now else None, "ranked": ranked[:5],
        "hotline_open": points.hotline_open(institution),
        "now": clock.institution_now(institution)})
