"""The face check of a card application (APP-3): attempts, frames, the worker's verdict.

1. ``face_attempt_start`` — after the biometric consent, the server picks the order of the actions
   (``blink``, ``nod``) with ``secrets``, a nonce and a time window;
2. ``face_attempt_submit`` — the frames arrive with the nonce inside the window; a frame seen before
   (by sha256, in any attempt) is refused; the frames are stored encrypted and the worker is queued;
3. ``face_attempt_check`` — in the worker (``enrollment.tasks.face_check``): liveness over the frames,
   the best frame's embedding against the registrar photo's, the result on the attempt and the
   application, then ``services.application_checks_settled``.

Engine missing or no registrar photo: the application goes to manual review with the reason shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.enrollment import crypto, faces, services
from campuscard.enrollment.models import Application, FaceAttempt, RegistrarPhoto, SeenFrame

CHECK_JOB = Actor.system("job:face_check")
FaceState = Application.FaceState

# The messages the holder reads (stored as their English text, shown translated: gettext at display).
REASON_ACTION = _("Move slowly and keep your face in the frame: nod and blink when asked")
REASON_MISMATCH = _("The photo does not match — contact the academic affairs office to update your student photo")
REASON_STILL = _("The camera saw a still picture. Do the check live in front of your phone's camera")
REASON_MANY = _("Only your face may be in the frame")
REASON_NO_PHOTO = _("The registrar has no photo of you yet: a Card Center operator will compare your photo by hand")
REASON_NO_ENGINE = _("The face-recognition engine is not installed here: a Card Center operator will check by hand")
REASON_FRAMES = _("The pictures could not be read. Try again")
LIVENESS_REASONS = {"still_image": REASON_STILL, "many_faces": REASON_MANY}


def thresholds() -> faces.Thresholds:
    return faces.Thresholds(match=settings.FACE_MATCH_THRESHOLD, ear_closed=settings.FACE_EAR_CLOSED,
                            ear_open=settings.FACE_EAR_OPEN, nod_change=settings.FACE_NOD_CHANGE,
                            still_diff=settings.FACE_STILL_DIFF)


def _message(reason: object) -> str:
    """The English source text of a lazy message, which is what the row keeps (translated when shown)."""
    from django.utils import translation

    with translation.override(None):
        return str(reason)


def _audit(actor: Actor, action: str, attempt: FaceAttempt, application: Application, **after: object) -> None:
    audit_record(actor=actor, action=action, obj=attempt, institution_id=application.person.institution_id,
                 after=after or None)


def face_attempt_start(*, actor: Actor, application: Application) -> FaceAttempt:
    """A new attempt for a draft application with the biometric consent given; any attempt still open
    expires. Refuses after ``FACE_ATTEMPTS_MAX`` attempts."""
    with transaction.atomic():
        application = Application.objects.select_for_update().select_related("person").get(pk=application.pk)
        if application.state != Application.State.DRAFT:
            raise DomainError("application_state_invalid", state=application.get_state_display())
        if application.biometric_consent_at is None:
            raise DomainError("face_consent_missing")
        if application.face_state == FaceState.CHECKING:
            raise DomainError("face_attempt_closed")
        if application.face_state == FaceState.PASSED:
            raise DomainError("face_check_passed")
        limit = settings.FACE_ATTEMPTS_MAX
        if FaceAttempt.objects.filter(application=application).count() >= limit:
            raise DomainError("face_attempts_exhausted", limit=limit)
        now = clock.now()
        FaceAttempt.objects.filter(application=application, state=FaceAttempt.State.OPEN).update(
            state=FaceAttempt.State.EXPIRED)
        actions = list(faces.ACTIONS)
        secrets.SystemRandom().shuffle(actions)
        attempt = FaceAttempt.objects.create(
            application=application, nonce=secrets.token_urlsafe(32), actions=actions, created_at=now,
            expires_at=now + timedelta(seconds=settings.FACE_ATTEMPT_SECONDS))
        _audit(actor, "face_attempt_started", attempt, application, actions=actions)
    return attempt


def face_attempt_submit(*, actor: Actor, attempt: FaceAttempt, nonce: str, frames: list[bytes]) -> FaceAttempt:
    """The attempt's frames (JPEG/PNG, at most 30 of at most 640×480): checked, recorded by hash (a frame
    seen before is refused — the insert fails, so two concurrent submits cannot both pass), stored
    encrypted, and the worker queued once this commits. A refusal changes nothing."""
    if not faces.MIN_FRAMES <= len(frames) <= faces.MAX_FRAMES:
        raise DomainError("face_frames_count", min=faces.MIN_FRAMES, max=faces.MAX_FRAMES)
    for index, frame in enumerate(frames, start=1):
        try:
            faces.frame_check(frame)
        except faces.FaceError as exc:
            raise DomainError("face_frame_invalid", index=index, details=exc.code) from exc
    digests = sorted({hashlib.sha256(frame).hexdigest() for frame in frames})
    with transaction.atomic():
        attempt = FaceAttempt.objects.select_for_update().select_related("application__person").get(pk=attempt.pk)
        if not hmac.compare_digest(attempt.nonce.encode(), str(nonce).encode()):
            raise DomainError("face_nonce_invalid")
        if attempt.state != FaceAttempt.State.OPEN:
            raise DomainError("face_attempt_closed")
        now = clock.now()
        if now > attempt.expires_at:
            raise DomainError("face_attempt_expired")
        application = Application.objects.select_for_update().get(pk=attempt.application_id)
        if application.state != Application.State.DRAFT:
            raise DomainError("application_state_invalid", state=application.get_state_display())
        try:
            with transaction.atomic():  # a savepoint: the unique digest decides, not a read before it
                SeenFrame.objects.bulk_create([SeenFrame(digest=digest, seen_at=now) for digest in digests])
        except IntegrityError as exc:
            raise DomainError("face_frame_replayed") from exc
        attempt.frames = crypto.encrypt(crypto.pack(frames))
        attempt.frame_count = len(frames)
        attempt.state = FaceAttempt.State.CHECKING
        attempt.save(update_fields=["frames", "frame_count", "state"])
        application.face_state, application.face_distance, application.face_reason = FaceState.CHECKING, None, ""
        application.save(update_fields=["face_state", "face_distance", "face_reason", "updated_at"])
        attempt.application = application
        _audit(actor, "face_attempt_submitted", attempt, application, frames=len(frames))
        attempt_id = attempt.pk
        transaction.on_commit(lambda: _queue(attempt_id))
    return attempt


def _queue(attempt_id: int) -> None:
    # By name: the task module imports this one (no import cycle inside the app).
    import_string("campuscard.enrollment.tasks.face_check")(attempt_id)


def _registrar_embedding(application: Application) -> faces.np.ndarray | None:
    photo = RegistrarPhoto.objects.filter(person_id=application.person_id).first()
    if photo is None or photo.embedding is None:
        return None
    return faces.embedding_from_bytes(crypto.decrypt(photo.embedding))


def face_attempt_check(*, actor: Actor = CHECK_JOB, attempt: FaceAttempt) -> FaceAttempt:
    """The worker's verdict on a submitted attempt (idempotent: an attempt no longer ``checking`` is
    returned unchanged). Writes liveness, failed action, distance, reason and CPU seconds on the
    attempt, the face state, distance and reason on the application, then settles the checks."""
    # this thread's CPU: Huey's workers are threads of one process, so process_time() would also count
    # whatever the other workers did meanwhile (dlib's detector and encoder run in the calling thread)
    started = time.thread_time()
    attempt = FaceAttempt.objects.select_related("application__person").get(pk=attempt.pk)
    if attempt.state != FaceAttempt.State.CHECKING or attempt.frames is None:
        return attempt
    application = attempt.application
    state, reason_code = FaceAttempt.State.FAILED, ""
    message: object = ""
    distance: float | None = None
    liveness_ok: bool | None = None
    failed_action = ""
    try:
        reference = _registrar_embedding(application)
        if not faces.engine_available():
            reason_code, message = "engine_missing", REASON_NO_ENGINE
        elif reference is None:
            reason_code, message = "no_registrar_photo", REASON_NO_PHOTO
        else:
            frames = [faces.frame_load(frame) for frame in crypto.unpack(crypto.decrypt(attempt.frames))]
            limits = thresholds()
            verdict = faces.liveness(frames, list(attempt.actions), limits)
            liveness_ok, failed_action = verdict.ok, verdict.failed_action
            if not verdict.ok:
                reason_code = verdict.reason
                message = LIVENESS_REASONS.get(verdict.reason, REASON_ACTION)
            else:
                assert verdict.best is not None
                found = faces.embedding(frames[verdict.best], verdict.best_face)
                distance = round(faces.distance(found, reference), 4)
                if distance <= limits.match:
                    state = FaceAttempt.State.PASSED
                else:
                    reason_code, message = "mismatch", REASON_MISMATCH
    except (faces.FaceError, crypto.InvalidToken, ValueError) as exc:
        reason_code = getattr(exc, "code", "frames_unreadable")
        message = REASON_NO_ENGINE if reason_code == "engine_missing" else REASON_FRAMES
    face_state = {FaceAttempt.State.PASSED: FaceState.PASSED}.get(state, FaceState.FAILED)
    if reason_code in ("engine_missing", "no_registrar_photo"):
        face_state = FaceState.MANUAL
    with transaction.atomic():
        attempt = FaceAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.state != FaceAttempt.State.CHECKING:
            return attempt
        application = Application.objects.select_for_update().select_related("person").get(
            pk=attempt.application_id)
        attempt.state, attempt.liveness_ok, attempt.failed_action = state, liveness_ok, failed_action
        attempt.distance, attempt.reason, attempt.checked_at = distance, reason_code[:40], clock.now()
        attempt.cpu_seconds = round(time.thread_time() - started, 3)
        attempt.save(update_fields=["state", "liveness_ok", "failed_action", "distance", "reason", "checked_at",
                                    "cpu_seconds"])
        application.face_state, application.face_distance = face_state, distance
        application.face_reason = _message(message)[:200] if message else ""
        application.save(update_fields=["face_state", "face_distance", "face_reason", "updated_at"])
        _audit(actor, "face_attempt_checked", attempt, application, state=state, reason=reason_code,
               distance=distance, failed_action=failed_action)
    services.application_checks_settled(application=application)
    return attempt
