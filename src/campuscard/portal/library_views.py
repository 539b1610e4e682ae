"""My library loans (SVC-3) — presentation only (``library.selectors``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from campuscard.library import selectors
from campuscard.portal.card_views import _person


@login_required
def loans(request):
    person = _person(request)
    return render(request, "portal/library.html", {
        "person": person, "loans": selectors.loans_of(person), "may_borrow": selectors.borrowing_rights(person),
        "days": settings.LIBRARY_REMINDER_DAYS})
