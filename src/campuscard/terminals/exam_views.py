"""Exam check-in at the room entrance (SVC-2): the invigilator's scanner page.

The invigilator signs in (back-office login; the ``invigilator`` role, named for the room) on a tablet at
the door. A keyboard-wedge reader types the card's UID or the holder's identify-only code (``CI1.…``,
shown in the portal) and Enter; the page shows the holder's photo, name and seat — or which room is
theirs — and keeps the missing list current. Presentation only: ``study.services.exam_check_in`` decides
and records.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.study import selectors, services

_login = login_required(login_url="admin:login")


def _room(request, pk: int):
    room = selectors.room_for(request.user, pk)
    if room is None:
        raise Http404
    return room


@_login
def rooms(request):
    return render(request, "terminals/exam_rooms.html", {"rooms": selectors.invigilated_rooms(request.user)})


@_login
def room(request, pk: int):
    exam_room = _room(request, pk)
    context = {"room": exam_room, "status": selectors.room_status(exam_room)}
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "terminals/exam_status.html", context)
    return render(request, "terminals/exam.html", context)


@require_POST
@_login
def check_in(request, pk: int):
    exam_room = _room(request, pk)
    context: dict = {"room": exam_room}
    try:
        result = services.exam_check_in(actor=Actor.by_user(request.user), room=exam_room,
                                        presented=request.POST.get("credential", ""))
    except DomainError as error:
        context["error"] = error
        number = (error.details or {}).get("person") if isinstance(error.details, dict) else None
        if number:  # show the invigilator who it is, even when refused (wrong room, not on the roster)
            person = selectors.person_by_number(exam_room.session.institution_id, number)
            context.update(person=person, photo=selectors.photo_data_uri(person) if person else None)
    else:
        context.update(result=result, person=result.entry.person, photo=selectors.photo_data_uri(result.entry.person))
    context["status"] = selectors.room_status(exam_room)
    if not request.htmx:
        return render(request, "terminals/exam.html", context)
    return render(request, "terminals/exam_result.html", context)


@_login
def export(request, pk: int):
    exam_room = _room(request, pk)
    response = HttpResponse(selectors.attendance_csv(exam_room.session, exam_room), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="attendance-{exam_room.session.code}-{exam_room.pk}.csv"'
    return response
