"""Reads of the face check (APP-3): where the holder stands, for the portal page and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

from campuscard.enrollment.models import Application, FaceAttempt

FaceState = Application.FaceState


@dataclass(frozen=True)
class FaceStatus:
    state: str  # Application.FaceState
    label: str
    reason: str  # what to do, in the reader's language ('' when nothing to say)
    distance: float | None
    attempt_id: int | None
    attempt_state: str
    failed_action: str
    attempts_left: int
    consent: bool
    can_start: bool  # a new attempt may be started now
    done: bool  # the face check has a result (passed, failed, manual)


def face_attempts_of(*, application: Application) -> list[FaceAttempt]:
    # without the frames: an attempt's encrypted frames are ~1 MB, and the status is polled while it is checked
    return list(FaceAttempt.objects.filter(application=application).defer("frames").order_by("-created_at"))


def face_attempt_for(*, application: Application, pk: int) -> FaceAttempt | None:
    """One of this application's attempts (never another holder's)."""
    return FaceAttempt.objects.filter(application=application, pk=pk).first()


def face_status(*, application: Application) -> FaceStatus:
    attempts = face_attempts_of(application=application)
    latest = attempts[0] if attempts else None
    left = max(0, settings.FACE_ATTEMPTS_MAX - len(attempts))
    consent = application.biometric_consent_at is not None
    state = application.face_state
    can_start = (application.state == Application.State.DRAFT and consent and left > 0
                 and state in (FaceState.NOT_STARTED, FaceState.FAILED, FaceState.MANUAL))
    return FaceStatus(
        state=state, label=str(FaceState(state).label),
        # stored as the English source text of a gettext'd message: shown in the reader's language
        reason=gettext(application.face_reason) if application.face_reason else "",
        distance=application.face_distance, attempt_id=latest.pk if latest else None,
        attempt_state=latest.state if latest else "", failed_action=latest.failed_action if latest else "",
        attempts_left=left, consent=consent, can_start=can_start,
        done=state in (FaceState.PASSED, FaceState.FAILED, FaceState.MANUAL))
