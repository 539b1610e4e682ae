"""The face check (APP-3) and the registrar's photo feed over the API. Thin: every change is an
``enrollment.face_checks`` / ``enrollment.registrar`` call.

Holder (portal session or app): start an attempt, upload its frames with the nonce, poll the status.
Registrar (an integration's bearer token with the registrar-photo permission): one photo by student
number, or a ZIP of photos named by student number."""

from __future__ import annotations

from datetime import datetime

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from campuscard.api.auth import DeviceSignature
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize
from campuscard.enrollment import face_checks, face_selectors, faces, registrar, selectors, terminal_faces
from campuscard.enrollment.models import Application
from campuscard.identity import selectors as identity_selectors

router = Router(tags=["face check"])


class AttemptOut(Schema):
    id: int
    nonce: str
    actions: list[str]
    expires_at: datetime
    min_frames: int
    max_frames: int
    max_width: int
    max_height: int


class FaceStatusOut(Schema):
    state: str
    label: str
    reason: str
    distance: float | None
    attempt_id: int | None
    attempt_state: str
    failed_action: str
    attempts_left: int
    consent: bool
    can_start: bool
    done: bool


class PhotoOut(Schema):
    number: str
    embedding: bool


class PhotoErrorOut(Schema):
    file: str
    code: str
    message: str


class PhotosReportOut(Schema):
    imported: int
    errors: list[PhotoErrorOut]


def _mine(request) -> Application:
    application = selectors.application_of_user(user=request.auth)
    if application is None:
        if identity_selectors.person_of_user(request.auth) is None:
            raise DomainError("application_no_person")
        raise DomainError("application_not_found")
    return application


def _attempt_out(attempt) -> dict:
    return {"id": attempt.pk, "nonce": attempt.nonce, "actions": attempt.actions, "expires_at": attempt.expires_at,
            "min_frames": faces.MIN_FRAMES, "max_frames": faces.MAX_FRAMES, "max_width": faces.MAX_WIDTH,
            "max_height": faces.MAX_HEIGHT}


@router.get("/applications/mine/face", response=FaceStatusOut, url_name="face_status",
            summary="My face check: state and what to do")
def face_status(request):
    return face_selectors.face_status(application=_mine(request)).__dict__


@router.post("/applications/mine/face/attempts", response={201: AttemptOut}, url_name="face_attempt_start",
             summary="Start a face-check attempt: the actions in the server's order, a nonce, a time window")
def attempt_start(request):
    attempt = face_checks.face_attempt_start(actor=Actor.by_user(request.auth), application=_mine(request))
    return Status(201, _attempt_out(attempt))


@router.post("/applications/mine/face/attempts/{attempt_id}/frames", response={202: FaceStatusOut},
             url_name="face_attempt_frames",
             summary="Upload the attempt's frames (JPEG/PNG, at most 30 of at most 640×480) with its nonce")
def attempt_frames(request, attempt_id: int, nonce: Form[str], frames: File[list[UploadedFile]]):
    application = _mine(request)
    attempt = face_selectors.face_attempt_for(application=application, pk=attempt_id)
    if attempt is None:
        raise DomainError("face_attempt_not_found")
    if len(frames) > faces.MAX_FRAMES:
        raise DomainError("face_frames_count", min=faces.MIN_FRAMES, max=faces.MAX_FRAMES)
    data = []
    for index, upload in enumerate(frames, start=1):
        if (upload.size or 0) > faces.FRAME_MAX_BYTES:  # read nothing that large
            raise DomainError("face_frame_invalid", index=index, details="frame_too_large")
        data.append(upload.read())
    face_checks.face_attempt_submit(actor=Actor.by_user(request.auth), attempt=attempt, nonce=nonce, frames=data)
    application.refresh_from_db()
    return Status(202, face_selectors.face_status(application=application).__dict__)


def _registrar_institution(request, code: str):
    institution = identity_selectors.institution_by_code(code)
    authorize(request.auth, "enrollment.add_registrarphoto", institution.pk)
    authorize(request.auth, "enrollment.change_registrarphoto", institution.pk)
    return institution


@router.post("/institutions/{code}/registrar-photos/{number}", response={200: PhotoOut},
            summary="The registrar's photo of one student (its face embedding computed once, stored encrypted)")
def registrar_photo(request, code: str, number: str, file: File[UploadedFile]):
    institution = _registrar_institution(request, code)
    if (file.size or 0) > registrar.PHOTO_MAX_BYTES:
        raise DomainError("registrar_photo_invalid", reason="over 5 MB")
    photo = registrar.registrar_photo_store(actor=Actor.by_user(request.auth), institution=institution,
                                            number=number, data=file.read(), source="api")
    return {"number": number, "embedding": photo.embedding is not None}


@router.post("/institutions/{code}/registrar-photos", response={200: PhotosReportOut},
             summary="A ZIP of registrar photos named by student number; each file in or reported")
def registrar_photos(request, code: str, file: File[UploadedFile]):
    institution = _registrar_institution(request, code)
    report = registrar.registrar_photos_import(actor=Actor.by_user(request.auth), institution=institution,
                                               file=file.file)
    return {"imported": report.imported,
            "errors": [{"file": name, "code": error, "message": message} for name, error, message in report.errors]}


@router.get("/devices/face/templates", auth=DeviceSignature(), url_name="face_terminal_templates",
            summary="Face terminals (ID-7): the signed, effective-dated face templates changed since a version")
def face_terminal_templates(request, since: int = 0, limit: int = terminal_faces.FEED_LIMIT, photos: bool = False):
    return terminal_faces.terminal_face_feed(device=request.auth, since=since, limit=limit, photos=photos)
