"""The card application's background work: the face check runs in the Huey worker, not in the request."""

from huey.contrib.djhuey import db_task

from campuscard.enrollment import face_checks
from campuscard.enrollment.models import FaceAttempt


@db_task()
def face_check(attempt_id: int) -> str:
    """APP-3: liveness and comparison of one submitted attempt (face_checks.face_attempt_check)."""
    attempt = FaceAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:  # the application went away meanwhile
        return "gone"
    return face_checks.face_attempt_check(attempt=attempt).state
