"""The face check page (APP-3): consent first, then the phone's front camera guides the holder through
the actions in the order the server chose, uploads the frames with the attempt's nonce, and follows the
worker's verdict. The page's script talks to the API (api/enrollment_face.py) with the session; this
view only decides what the page shows first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from campuscard.enrollment import face_selectors, faces, selectors
from campuscard.enrollment.models import Application
from campuscard.identity import selectors as identity_selectors


@login_required
def apply_face(request):
    person = identity_selectors.person_of_user(request.user)
    application = selectors.application_of(person=person) if person else None
    if application is None or application.state not in Application.OPEN_STATES:
        return redirect("portal:apply")
    if application.biometric_consent_at is None:
        return redirect("portal:apply_consent")
    status = face_selectors.face_status(application=application)
    return render(request, "portal/apply_face.html", {
        "application": application, "status": status,
        "start_url": reverse("api-v1:face_attempt_start"), "status_url": reverse("api-v1:face_status"),
        "frames_url": reverse("api-v1:face_attempt_frames", args=[0]).replace("/0/", "/{id}/"),
        "max_frames": faces.MAX_FRAMES, "max_width": faces.MAX_WIDTH, "max_height": faces.MAX_HEIGHT,
        "messages_js": _messages(),
    })


def _messages() -> dict[str, str]:
    """What the page's script says, in the reader's language."""
    return {
        "camera": _("Allow the camera when your phone asks."),
        "no_camera": _("The camera could not be opened. Allow it in the browser's settings, or apply at the Card "
                       "Center window."),
        "light": _("Good light, no backlight. Put your face in the oval."),
        "hold": _("Look at the screen and hold still"),
        "blink": _("Blink slowly"),
        "nod": _("Nod slowly: down, then back up"),
        "get_ready": _("Get ready: %(action)s"),
        "uploading": _("Sending the pictures…"),
        "checking": _("Checking your pictures…"),
        "passed": _("Face check passed."),
        "failed": _("The face check did not pass:"),
        "retry": _("Try again"),
        "attempts_left": _("Attempts left: %(n)s"),
        "error": _("Something went wrong. Try again."),
    }
