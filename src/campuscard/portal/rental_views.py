"""My equipment rentals (SVC-4): what I have out and when it is due (overdue flagged), what I borrowed and
for how long, fees still owed, and what the equipment desks lend. Presentation only: ``rental.selectors``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from campuscard.core import clock
from campuscard.portal.card_views import _person
from campuscard.rental import selectors


@login_required
def rentals(request):
    person = _person(request)
    return render(request, "portal/rentals.html", {
        "person": person, "open": selectors.open_rentals_of(person), "history": selectors.rentals_of(person),
        "unsettled": selectors.unsettled_of(person), "usage": selectors.my_usage(person),
        "catalogue": selectors.catalogue(person.institution_id), "now": clock.now()})
