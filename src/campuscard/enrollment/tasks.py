"""The card application's background work: the face check runs in the Huey worker, not in the request."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from campuscard.cards.models import Photo
from campuscard.enrollment import face_checks, terminal_faces
from campuscard.enrollment.models import FaceAttempt


@db_task()
def face_check(attempt_id: int) -> str:
    """APP-3: liveness and comparison of one submitted attempt (face_checks.face_attempt_check)."""
    attempt = FaceAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:  # the application went away meanwhile
        return "gone"
    return face_checks.face_attempt_check(attempt=attempt).state


@db_task()
def terminal_face(photo_id: int) -> bool:
    """ID-7: the face terminals' template of one photo, queued when it is approved."""
    photo = Photo.objects.filter(pk=photo_id).first()
    return photo is not None and terminal_faces.terminal_face_compute(actor=terminal_faces.SYNC_JOB,
                                                                      photo=photo) is not None


@db_periodic_task(crontab(minute="40"))
def terminal_faces_catch_up() -> int:
    """ID-7: every approved photo still without a template (approved elsewhere, or the engine was missing)."""
    return terminal_faces.terminal_faces_sync()
