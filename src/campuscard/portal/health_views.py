"""My health records (SVC-6): examinations and vaccinations from the campus hospital, and "who read my data"
— every read by a clinician, with when and what. Presentation only: ``health.services`` hands out the
records (the holder's own read is not logged), ``health.selectors`` the read log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from campuscard.health import selectors, services
from campuscard.portal.card_views import _person

READS_SHOWN = 200


@login_required
def health(request):
    person = _person(request)
    records = services.health_records_read(reader=request.user, person=person)
    return render(request, "portal/health.html", {
        "person": person, "examinations": records.examinations, "vaccinations": records.vaccinations,
        "reads": selectors.reads_of(person, limit=READS_SHOWN)})
