"""Photos reach the face terminals (ID-7).

An approved certificate photo (``cards.Photo``, effective the next day) gets its face embedding computed
in the worker — when it is approved in the back office and by an hourly catch-up job — and stored
encrypted as a ``TerminalFace`` row with the next version of its institution. A ``face`` terminal asks
for the rows after the version it holds and gets them effective-dated, in a body signed with the
institution's access signing key (Ed25519, the key gates already trust; ``access.keys``): it verifies the
signature, stores each template under its holder from its ``effective_from`` day, drops the holder's
template when ``embedding`` is null (the photo showed no usable face), and asks again from ``version``.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max

from campuscard.access import keys
from campuscard.access.offline import canonical
from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.devices.models import Device
from campuscard.enrollment import crypto, faces
from campuscard.enrollment.models import TerminalFace

log = logging.getLogger(__name__)
FEED_VERSION = 1
FEED_LIMIT = 500  # templates per answer; ``more`` says to ask again from ``version``
SYNC_JOB = Actor.system("job:terminal_faces")


def _embedding_of(photo: Photo) -> bytes | None:
    """The encrypted embedding of the photo's one face; None if it shows none or several."""
    with photo.image.open("rb") as file:
        data = file.read()
    try:
        image = faces.photo_load(data)
        found = faces.frame_analyse(image)
        if found.faces != 1:
            return None
        return crypto.encrypt(faces.embedding_bytes(faces.embedding(image, found)))
    except faces.FaceError as exc:
        if exc.code == "engine_missing":
            raise
        return None


def terminal_face_compute(*, actor: Actor, photo: Photo) -> TerminalFace | None:
    """The terminals' template of an approved photo (once per photo; a repeated call returns the row).
    None for a photo that is not approved, or when the face engine is not installed (retried later)."""
    photo = Photo.objects.select_related("person").get(pk=photo.pk)
    if photo.state != Photo.State.APPROVED or photo.effective_from is None:
        return None
    existing = TerminalFace.objects.filter(photo=photo).first()
    if existing is not None:
        return existing
    try:
        embedding = _embedding_of(photo)  # before the lock: 100 ms of CPU need not hold it
    except faces.FaceError:
        log.warning("face engine missing: photo %s waits for the terminals' template", photo.pk)
        return None
    institution_id = photo.person.institution_id
    with transaction.atomic():
        # one writer per institution at a time: versions commit in order, so "since N" never skips one
        Institution.objects.select_for_update().filter(pk=institution_id).values_list("pk").first()
        existing = TerminalFace.objects.filter(photo=photo).first()
        if existing is not None:
            return existing
        latest = TerminalFace.objects.filter(institution_id=institution_id).aggregate(v=Max("version"))["v"] or 0
        row = TerminalFace.objects.create(
            institution_id=institution_id, version=latest + 1, person=photo.person, photo=photo,
            embedding=embedding, effective_from=photo.effective_from, computed_at=clock.now())
        audit_record(actor=actor, action="terminal_face_computed", obj=row, institution_id=institution_id,
                     after={"version": row.version, "photo": photo.pk, "face": embedding is not None,
                            "effective_from": photo.effective_from.isoformat()})
    return row


def terminal_faces_sync(*, actor: Actor = SYNC_JOB, limit: int = 2000) -> int:
    """Every approved photo without a template yet, oldest approval first; how many were made."""
    done = 0
    pending = (Photo.objects.filter(state=Photo.State.APPROVED, effective_from__isnull=False)
               .exclude(pk__in=TerminalFace.objects.values("photo")).order_by("reviewed_at", "pk")[:limit])
    for photo in pending:
        if terminal_face_compute(actor=actor, photo=photo) is not None:
            done += 1
    return done


def terminal_face_feed(*, device: Device, since: int = 0, limit: int = FEED_LIMIT,
                       photos: bool = False) -> dict[str, Any]:
    """The signed templates of the device's institution after version ``since`` (face terminals only)."""
    if device.kind != Device.Kind.FACE:
        raise DomainError("face_terminal_required")
    if since < 0 or not 0 < limit <= FEED_LIMIT:
        raise DomainError("validation_error")
    institution_id = device.institution_id
    rows = list(TerminalFace.objects.filter(institution_id=institution_id, version__gt=since)
                .select_related("person", "photo").order_by("version")[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    templates = []
    for row in rows:
        vector = (faces.embedding_from_bytes(crypto.decrypt(row.embedding)).astype("<f4")
                  if row.embedding is not None else None)
        item: dict[str, Any] = {
            "version": row.version, "person": row.person_id, "number": row.person.number,
            "effective_from": row.effective_from.isoformat(),
            "embedding": base64.b64encode(vector.tobytes()).decode() if vector is not None else None,
        }
        if photos:
            with row.photo.image.open("rb") as file:
                item["photo"] = base64.b64encode(file.read()).decode()
        templates.append(item)
    key = keys.active_key(institution_id)
    body: dict[str, Any] = {
        "v": FEED_VERSION, "institution": institution_id, "device": device.code, "since": since,
        "version": rows[-1].version if rows else since, "more": more, "generated_at": clock.now().isoformat(),
        "embedding_format": "128 x float32 little-endian, base64; compare by Euclidean distance",
        "templates": templates, "key_id": key.key_id,
    }
    body["signature"] = base64.b64encode(keys.sign(key, canonical(body))).decode()
    return body


def terminal_face_feed_verify(feed: dict[str, Any], public_keys: dict[int, str]) -> bool:
    """What the terminal does: the signature by a key it trusts (key id → base64 Ed25519 public key)."""
    from cryptography.exceptions import InvalidSignature

    text = public_keys.get(int(feed.get("key_id", -1)))
    if text is None or "signature" not in feed:
        return False
    body = {k: v for k, v in feed.items() if k != "signature"}
    try:
        keys.public_key_from_b64(text).verify(base64.b64decode(feed["signature"]), canonical(body))
    except (InvalidSignature, ValueError):
        return False
    return True


def embedding_from_feed(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
