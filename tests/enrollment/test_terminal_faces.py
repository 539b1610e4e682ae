"""Photos reach the face terminals (ID-7): approved photos' embeddings, effective-dated, in a signed feed.

dlib is imported unconditionally (no skip). The photos are the public-domain test portraits."""

from __future__ import annotations

import datetime as dt

import dlib  # noqa: F401  (unconditional: no skip without the engine)
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client

from campuscard.access.models import AccessSigningKey
from campuscard.cards.models import Photo
from campuscard.cards.services import photo_review
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.enrollment import crypto, faces, terminal_faces
from campuscard.enrollment.models import TerminalFace
from tests.enrollment import facegen
from tests.enrollment.apply_helpers import applicant

PATH = "/api/v1/devices/face/templates"


def uploaded(person, name: str) -> Photo:
    photo = Photo(person=person, uploaded_at=clock.now())
    photo.image.save(f"{person.number}.jpg", ContentFile((facegen.FACES_DIR / f"{name}.jpg").read_bytes()), save=False)
    photo.save()
    return photo


@pytest.fixture
def operator(institution, make_operator):
    return make_operator(institution, "card_center_operator")


def approve(photo, operator) -> Photo:
    return photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)


def get(device, secret, query: str = ""):
    path = PATH + query
    return Client().get(path, headers=sign_headers(device_code=device.code, secret=secret, method="GET", path=path))


def trusted(institution) -> dict[int, str]:
    return {k.key_id: k.public_key for k in AccessSigningKey.objects.filter(institution=institution)}


def test_approved_photos_reach_the_terminals_signed_and_effective_dated(institution, operator):
    people = [applicant(institution, serial) for serial in (1, 2, 3)]
    photos = [uploaded(people[0], "obama"), uploaded(people[1], "biden"), uploaded(people[2], "obama2")]
    approve(photos[0], operator)
    approve(photos[1], operator)
    # the third stays pending: not for the terminals
    assert terminal_faces.terminal_faces_sync() == 2
    assert terminal_faces.terminal_faces_sync() == 0  # once per photo
    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.FACE,
                                     code="face-1", name="Library face gate")
    response = get(device, secret)
    assert response.status_code == 200, response.content
    feed = response.json()
    assert terminal_faces.terminal_face_feed_verify(feed, trusted(institution))
    assert feed["since"] == 0 and feed["version"] == 2 and not feed["more"]
    tomorrow = (clock.local_date(institution) + dt.timedelta(days=1)).isoformat()
    assert [(t["version"], t["number"], t["effective_from"]) for t in feed["templates"]] == [
        (1, people[0].number, tomorrow), (2, people[1].number, tomorrow)]
    # the template is the photo's face: near the face on another picture of the same person, far from another's
    obama = terminal_faces.embedding_from_feed(feed["templates"][0]["embedding"])
    assert faces.distance(obama, faces.embedding(facegen.still("obama3"))) < 0.6
    assert faces.distance(obama, faces.embedding(facegen.still("biden2"))) > 0.7
    # stored encrypted
    raw = bytes(TerminalFace.objects.get(version=1).embedding)
    assert len(faces.embedding_from_bytes(crypto.decrypt(raw))) == 128 and len(raw) != 1024
    # only what changed since the terminal's version: a new photo of the first holder
    newer = uploaded(people[0], "obama3")
    approve(newer, operator)
    approve(photos[2], operator)
    terminal_faces.terminal_faces_sync()
    feed = get(device, secret, "?since=2&limit=1").json()
    assert [t["version"] for t in feed["templates"]] == [3] and feed["more"] and feed["version"] == 3
    feed = get(device, secret, "?since=3&photos=true").json()
    assert [t["version"] for t in feed["templates"]] == [4] and not feed["more"]
    assert feed["templates"][0]["photo"]
    assert terminal_faces.terminal_face_feed_verify(feed, trusted(institution))


def test_a_tampered_feed_does_not_verify(institution, operator):
    person = applicant(institution)
    approve(uploaded(person, "biden2"), operator)
    terminal_faces.terminal_faces_sync()
    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.FACE,
                                     code="face-1", name="Face gate")
    feed = get(device, secret).json()
    forged = dict(feed, templates=[dict(feed["templates"][0], number="2099999999")])
    assert not terminal_faces.terminal_face_feed_verify(forged, trusted(institution))
    assert not terminal_faces.terminal_face_feed_verify(feed, {})


def test_photo_without_a_face_removes_the_template(institution, operator):
    person = applicant(institution)
    photo = Photo(person=person, uploaded_at=clock.now())
    photo.image.save("blank.jpg", ContentFile(facegen.jpeg(np.full((200, 160, 3), 180, dtype=np.uint8))), save=False)
    photo.save()
    approve(photo, operator)
    row = terminal_faces.terminal_face_compute(actor=terminal_faces.SYNC_JOB, photo=photo)
    assert row is not None and row.embedding is None
    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.FACE,
                                     code="face-1", name="Face gate")
    assert get(device, secret).json()["templates"][0]["embedding"] is None


def test_only_signed_face_terminals_of_the_institution_get_the_feed(institution, other_institution, operator):
    person = applicant(institution)
    approve(uploaded(person, "obama"), operator)
    terminal_faces.terminal_faces_sync()
    gate, gate_secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.GATE,
                                        code="gate-1", name="Gate")
    response = get(gate, gate_secret)
    assert response.status_code == 403 and response.json()["code"] == "face_terminal_required"
    unsigned = Client().get(PATH)
    assert unsigned.status_code == 401
    device, secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.FACE,
                                     code="face-1", name="Face gate")
    assert get(device, "0" * 64).status_code == 401
    other, other_secret = device_register(actor=Actor.system("test"), institution=other_institution,
                                          kind=Device.Kind.FACE, code="face-9", name="Elsewhere")
    assert get(other, other_secret).json()["templates"] == []


def test_back_office_approval_queues_the_template(institution, operator, django_capture_on_commit_callbacks):
    person = applicant(institution)
    photo = uploaded(person, "obama2")
    client = Client()
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/backoffice/cards/photo/", {"action": "approve", "_selected_action": [photo.pk]})
    assert response.status_code == 302
    assert TerminalFace.objects.filter(photo=photo, person=person).exists()
