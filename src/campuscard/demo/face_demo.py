"""Demo data of the face checks (APP-3) and the face terminals (ID-7): registrar photos for the new
intake's undergraduate (a public-domain portrait, so a live check in front of a real camera shows the
"photo does not match" answer; the international student has none and goes to manual review), and a
registered face terminal whose id and secret are printed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from campuscard.core.actors import Actor
from campuscard.core.models import Institution
from campuscard.devices.models import Device
from campuscard.enrollment.models import RegistrarPhoto
from campuscard.enrollment.registrar import registrar_photo_store
from campuscard.identity.models import Person

FACES = Path(__file__).parent / "faces"
PHOTOS = {"2026NEW001": "obama2.jpg"}


def face_demo(institution: Institution, seed: int, login) -> list:
    logins = []
    for number, name in PHOTOS.items():
        if Person.objects.filter(institution=institution, number=number).exists() and not \
                RegistrarPhoto.objects.filter(person__institution=institution, person__number=number).exists():
            registrar_photo_store(actor=Actor.system("demo"), institution=institution, number=number,
                                  data=(FACES / name).read_bytes(), source="zip")
    code = f"{institution.code}-face1"
    secret = hashlib.sha256(f"{seed}:{code}".encode()).hexdigest()[:32]
    Device.objects.get_or_create(code=code, defaults={
        "institution": institution, "kind": Device.Kind.FACE, "name": "图书馆人脸闸机", "secret": secret})
    logins.append(login("face terminal (GET /api/v1/devices/face/templates, signed)", institution.code, code,
                        secret))
    return logins
