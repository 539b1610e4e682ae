"""The registrar's photo feed (APP-3): the photos the face checks compare against.

A ZIP of photos named by student number (``2026000001.jpg``), from the command line
(``campuscard registrar_photos``), the back office, or one photo at a time through the API. Each photo's
face embedding is computed once, here, and stored encrypted with the photo (``enrollment.crypto``).
Every file stands alone: it is stored whole or not at all, and a bad one (unknown number, not an image,
no face, two faces) is reported by name while the others go in.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from django.db import transaction

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.enrollment import crypto, faces
from campuscard.enrollment.models import RegistrarPhoto
from campuscard.identity.models import Person

Progress = Callable[[int, int], None]  # (done, total)
PHOTO_MAX_BYTES = 5 * 1024 * 1024
SUFFIXES = {".jpg", ".jpeg", ".png"}
FACE_ERRORS = {"no_face": "registrar_photo_no_face", "many_faces": "registrar_photo_many_faces"}


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (file name, code, message)


def _authorize(actor: Actor, institution: Institution) -> None:
    """A user needs both registrar-photo permissions in that institution; the command line and the
    demo (system actors) are trusted callers."""
    if actor.kind == "user":
        authorize(actor.user, "enrollment.add_registrarphoto", institution.pk)
        authorize(actor.user, "enrollment.change_registrarphoto", institution.pk)


def photo_embedding(data: bytes) -> bytes | None:
    """The encrypted embedding of the one face on ``data``; None when the engine is not installed (the
    face checks then go to manual review). Raises ``DomainError`` for a bad picture."""
    try:
        image = faces.photo_load(data)
    except faces.FaceError as exc:
        raise DomainError("registrar_photo_invalid", reason=exc.detail or exc.code) from exc
    if not faces.engine_available():
        return None
    found = faces.frame_analyse(image)
    if found.faces != 1:
        raise DomainError(FACE_ERRORS["no_face" if found.faces == 0 else "many_faces"], count=found.faces)
    return crypto.encrypt(faces.embedding_bytes(faces.embedding(image, found)))


def registrar_photo_store(*, actor: Actor, institution: Institution, number: str, data: bytes,
                          source: str = "api") -> RegistrarPhoto:
    """One student's registrar photo, replacing an earlier one; the embedding computed before the
    transaction (70 ms of CPU need not hold a row lock)."""
    _authorize(actor, institution)
    person = Person.objects.filter(institution=institution, number=number).first()
    if person is None:
        raise DomainError("registrar_photo_unknown_number", number=number)
    if len(data) > PHOTO_MAX_BYTES:
        raise DomainError("registrar_photo_invalid", reason=f"over {PHOTO_MAX_BYTES // 1024 // 1024} MB")
    embedding = photo_embedding(data)
    with transaction.atomic():
        photo, created = RegistrarPhoto.objects.update_or_create(
            person=person, defaults={"image": crypto.encrypt(data), "embedding": embedding, "source": source,
                                     "imported_at": clock.now()})
        audit_record(actor=actor, action="registrar_photo_imported", obj=photo, institution_id=institution.pk,
                     after={"number": number, "source": source, "replaced": not created,
                            "embedding": embedding is not None})
    return photo


def registrar_photos_import(*, actor: Actor, institution: Institution, file: IO[bytes],
                            progress: Progress | None = None) -> ImportReport:
    """Every ``<number>.jpg|.jpeg|.png`` of a ZIP; other entries (folders, macOS metadata) are skipped."""
    _authorize(actor, institution)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DomainError("registrar_photo_zip_invalid") from exc
    report = ImportReport()
    with archive:
        entries = [info for info in archive.infolist()
                   if not info.is_dir() and not info.filename.startswith("__MACOSX/")
                   and not PurePosixPath(info.filename).name.startswith(".")]
        for done, info in enumerate(entries, start=1):
            name = PurePosixPath(info.filename)
            try:
                if name.suffix.lower() not in SUFFIXES:
                    raise DomainError("registrar_photo_invalid", reason=f"{name.suffix or 'no suffix'}")
                if info.file_size > PHOTO_MAX_BYTES:  # read no further than the header says
                    raise DomainError("registrar_photo_invalid",
                                      reason=f"over {PHOTO_MAX_BYTES // 1024 // 1024} MB")
                registrar_photo_store(actor=actor, institution=institution, number=name.stem,
                                      data=archive.read(info), source="zip")
                report.imported += 1
            except DomainError as error:
                report.errors.append((info.filename, error.code, error.message))
            except (zipfile.BadZipFile, OSError) as exc:
                report.errors.append((info.filename, "registrar_photo_zip_invalid", str(exc)))
            if progress:
                progress(done, len(entries))
    return report
