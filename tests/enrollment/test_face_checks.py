"""The face-check services (APP-3): attempts, frames, the worker's verdict, the registrar's photos.

dlib is imported unconditionally (no skip). The frames are SYNTHESISED from the still test portraits
(a blink painted over landmarks 36–47, a nod by a perspective warp; tests/enrollment/facegen.py).
Huey runs immediately in tests, so the worker's check runs when the submit commits.
"""

from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta
from functools import cache

import dlib  # noqa: F401  (unconditional: no skip without the engine)
import numpy as np
import pytest
from django.db import connection

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.enrollment import crypto, face_checks, faces, registrar, services
from campuscard.enrollment.models import Application, FaceAttempt, RegistrarPhoto, SeenFrame
from tests.enrollment import facegen
from tests.enrollment.apply_helpers import applicant, filled, places

REGISTRAR = Actor.system("cli:registrar_photos")


@cache
def frames_for(name: str, actions: tuple[str, ...], seed: int = 7) -> tuple[bytes, ...]:
    return tuple(facegen.encoded(facegen.sequence(name, list(actions), seed=seed)))


def photo_bytes(name: str) -> bytes:
    return (facegen.FACES_DIR / f"{name}.jpg").read_bytes()


def code_of(call, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    return caught.value.code


@pytest.fixture
def person(institution):
    return applicant(institution)


@pytest.fixture
def draft(person):
    actor = Actor.by_user(person.user)
    application = services.application_start(actor=actor, person=person)
    services.application_consent_give(actor=actor, application=application)
    return application


def with_photo(person, name: str = "obama2"):
    return registrar.registrar_photo_store(actor=REGISTRAR, institution=person.institution, number=person.number,
                                           data=photo_bytes(name))


def start(person, application) -> FaceAttempt:
    return face_checks.face_attempt_start(actor=Actor.by_user(person.user), application=application)


def submit(person, attempt, frames, nonce=None, capture=None):
    call = dict(actor=Actor.by_user(person.user), attempt=attempt, nonce=nonce or attempt.nonce, frames=list(frames))
    if capture is None:
        return face_checks.face_attempt_submit(**call)
    with capture(execute=True):
        return face_checks.face_attempt_submit(**call)


# --- starting ---------------------------------------------------------------------------------------

def test_attempt_needs_the_biometric_consent(person):
    application = services.application_start(actor=Actor.by_user(person.user), person=person)
    assert code_of(face_checks.face_attempt_start, actor=Actor.by_user(person.user),
                   application=application) == "face_consent_missing"
    assert not FaceAttempt.objects.exists()


def test_server_picks_the_order_nonce_and_window(person, draft):
    orders = set()
    with clock.frozen_at(clock.now()):
        for _ in range(5):
            attempt = start(person, draft)
            assert sorted(attempt.actions) == ["blink", "nod"]
            assert len(attempt.nonce) == 43
            assert attempt.expires_at - attempt.created_at == timedelta(seconds=120)
            orders.add(tuple(attempt.actions))
    # the earlier open attempts expired when a new one started; the limit is reached
    assert FaceAttempt.objects.filter(state=FaceAttempt.State.EXPIRED).count() == 4
    assert code_of(face_checks.face_attempt_start, actor=Actor.by_user(person.user),
                   application=draft) == "face_attempts_exhausted"
    assert len({a.nonce for a in FaceAttempt.objects.all()}) == 5
    assert AuditLog.objects.filter(action="face_attempt_started").count() == 5
    # both orders occur (a 1/16 chance of a false alarm per run is too much: draw more, without the DB)
    assert len(orders) == 2 or {tuple(face_checks.secrets.SystemRandom().sample(faces.ACTIONS, 2))
                                for _ in range(50)} == {("blink", "nod"), ("nod", "blink")}


# --- submitting: refusals change nothing --------------------------------------------------------------

def test_submit_refusals(person, draft):
    attempt = start(person, draft)
    frames = frames_for("obama", tuple(attempt.actions))
    assert code_of(submit, person=person, attempt=attempt, frames=frames, nonce="x" * 43) == "face_nonce_invalid"
    assert code_of(submit, person=person, attempt=attempt, frames=frames[:3]) == "face_frames_count"
    assert code_of(submit, person=person, attempt=attempt, frames=list(frames) * 3) == "face_frames_count"
    bad = list(frames)
    bad[4] = b"GIF89a" + bad[4]
    assert code_of(submit, person=person, attempt=attempt, frames=bad) == "face_frame_invalid"
    big = list(frames)
    big[2] = facegen.jpeg(np.zeros((700, 500, 3), dtype=np.uint8))
    assert code_of(submit, person=person, attempt=attempt, frames=big) == "face_frame_invalid"
    with clock.frozen_at(attempt.expires_at + timedelta(seconds=1)):
        assert code_of(submit, person=person, attempt=attempt, frames=frames) == "face_attempt_expired"
    attempt.refresh_from_db()
    draft.refresh_from_db()
    assert attempt.state == FaceAttempt.State.OPEN and attempt.frames is None
    assert draft.face_state == Application.FaceState.NOT_STARTED
    assert not SeenFrame.objects.exists()


def test_an_expired_attempt_is_refused_even_with_its_nonce(person, draft):
    first = start(person, draft)
    start(person, draft)  # a new attempt expires the first
    assert code_of(submit, person=person, attempt=first,
                   frames=frames_for("obama", tuple(first.actions))) == "face_attempt_closed"


# --- the worker's verdict ---------------------------------------------------------------------------

def test_live_sequence_matching_the_registrar_photo_passes(person, draft, django_capture_on_commit_callbacks):
    with_photo(person, "obama2")
    attempt = start(person, draft)
    frames = frames_for("obama", tuple(attempt.actions))
    submit(person, attempt, frames, capture=django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    draft.refresh_from_db()
    assert attempt.state == FaceAttempt.State.PASSED, (attempt.reason, attempt.failed_action)
    assert attempt.liveness_ok is True and attempt.failed_action == ""
    assert 0.3 < attempt.distance < 0.6 and attempt.cpu_seconds > 0 and attempt.checked_at
    assert attempt.frame_count == len(frames)
    assert draft.face_state == Application.FaceState.PASSED and draft.face_distance == attempt.distance
    assert draft.face_reason == ""
    # encrypted at rest: the stored bytes are neither the JPEGs nor contain them (a JPEG's markers are 0xFF
    # bytes, which a Fernet token, base64 text, never holds; "JFIF" itself turns up in ~1 % of tokens by chance)
    stored = bytes(FaceAttempt.objects.values_list("frames", flat=True).get(pk=attempt.pk))
    assert not stored.startswith(b"\xff\xd8") and frames[0][:64] not in stored and b"\xff\xd8\xff" not in stored
    assert crypto.unpack(crypto.decrypt(stored)) == list(frames)
    assert SeenFrame.objects.count() == len(set(frames))
    assert AuditLog.objects.filter(action="face_attempt_checked", object_id=str(attempt.pk)).exists()
    assert code_of(face_checks.face_attempt_start, actor=Actor.by_user(person.user),
                   application=draft) == "face_check_passed"  # a passed check is not redone


def test_a_frame_seen_before_is_refused(person, draft, django_capture_on_commit_callbacks):
    with_photo(person, "obama2")
    first = start(person, draft)
    frames = frames_for("obama", tuple(first.actions))
    submit(person, first, frames, capture=django_capture_on_commit_callbacks)
    draft.refresh_from_db()
    Application.objects.filter(pk=draft.pk).update(face_state=Application.FaceState.FAILED)  # may try again
    second = start(person, draft)
    replay = list(frames_for("obama", tuple(second.actions), seed=99))
    replay[5] = frames[5]  # one old frame among new ones
    seen = SeenFrame.objects.count()
    assert code_of(submit, person=person, attempt=second, frames=replay) == "face_frame_replayed"
    second.refresh_from_db()
    assert second.state == FaceAttempt.State.OPEN and second.frames is None
    assert SeenFrame.objects.count() == seen


def test_wrong_order_fails_with_the_action_named(person, draft, django_capture_on_commit_callbacks):
    with_photo(person, "obama2")
    attempt = start(person, draft)
    frames = frames_for("obama", tuple(reversed(attempt.actions)))
    submit(person, attempt, frames, capture=django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    draft.refresh_from_db()
    assert attempt.state == FaceAttempt.State.FAILED and attempt.liveness_ok is False
    assert attempt.failed_action == attempt.actions[1] and attempt.reason == "action_failed"  # the first came late
    assert attempt.distance is None
    assert draft.face_state == Application.FaceState.FAILED
    assert draft.face_reason == face_checks._message(face_checks.REASON_ACTION)  # the source text, translated when shown


def test_still_photo_replay_fails(person, draft, django_capture_on_commit_callbacks):
    with_photo(person, "obama2")
    attempt = start(person, draft)
    still = facegen.jpeg(facegen.selfie(facegen.still("obama")))
    submit(person, attempt, [still] * 12, capture=django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    assert attempt.state == FaceAttempt.State.FAILED and attempt.reason == "still_image"
    assert SeenFrame.objects.count() == 1


def test_another_person_fails_as_a_mismatch(person, draft, django_capture_on_commit_callbacks):
    with_photo(person, "biden")
    attempt = start(person, draft)
    submit(person, attempt, frames_for("obama", tuple(attempt.actions)), capture=django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    draft.refresh_from_db()
    assert attempt.liveness_ok is True and attempt.state == FaceAttempt.State.FAILED
    assert attempt.reason == "mismatch" and attempt.distance > 0.7
    assert draft.face_state == Application.FaceState.FAILED
    assert draft.face_reason == face_checks._message(face_checks.REASON_MISMATCH)  # the source text, translated when shown


def test_no_registrar_photo_goes_to_manual_review(person, draft, django_capture_on_commit_callbacks):
    attempt = start(person, draft)
    submit(person, attempt, frames_for("obama", tuple(attempt.actions)), capture=django_capture_on_commit_callbacks)
    attempt.refresh_from_db()
    draft.refresh_from_db()
    assert attempt.reason == "no_registrar_photo"
    assert draft.face_state == Application.FaceState.MANUAL
    assert draft.face_reason == face_checks._message(face_checks.REASON_NO_PHOTO)  # the source text, translated when shown


def test_without_the_engine_the_application_goes_to_manual_review(person, draft, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    with_photo(person, "obama2")
    monkeypatch.setattr(faces, "engine_available", lambda: False)
    attempt = start(person, draft)
    submit(person, attempt, frames_for("obama", tuple(attempt.actions)), capture=django_capture_on_commit_callbacks)
    draft.refresh_from_db()
    assert draft.face_state == Application.FaceState.MANUAL
    assert draft.face_reason == face_checks._message(face_checks.REASON_NO_ENGINE)  # the source text, translated when shown


def test_frames_are_deleted_once_the_application_is_decided(institution, person, make_operator,
                                                            django_capture_on_commit_callbacks):
    point = places(institution)["kiosk"]
    application = filled(person, point, face=Application.FaceState.NOT_STARTED)
    with_photo(person, "obama3")
    attempt = start(person, application)
    submit(person, attempt, frames_for("obama", tuple(attempt.actions)), capture=django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert application.face_state == Application.FaceState.PASSED
    assert FaceAttempt.objects.get(pk=attempt.pk).frames is not None
    application = services.application_submit(actor=Actor.by_user(person.user), application=application)
    assert application.state == Application.State.REVIEW and application.checks_passed
    reviewer = make_operator(institution, "card_center_operator")
    services.application_reject(actor=Actor.by_user(reviewer), application=application, reason="测试")
    attempt.refresh_from_db()
    assert attempt.frames is None and attempt.distance is not None  # the result stays, the pictures go


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submits_of_the_same_frames_cannot_both_pass(institution):
    """Two attempts (two applicants) race with the same frames: the unique digest lets exactly one in."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: threads cannot share the in-memory SQLite test database")
    people = [applicant(institution, serial) for serial in (1, 2)]
    attempts = []
    for someone in people:
        actor = Actor.by_user(someone.user)
        application = services.application_start(actor=actor, person=someone)
        services.application_consent_give(actor=actor, application=application)
        attempts.append(start(someone, application))
    frames = frames_for("obama", ("blink", "nod"))
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go(someone, attempt):
        try:
            barrier.wait()
            results.append(submit(someone, attempt, frames).state)
        except DomainError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=pair) for pair in zip(people, attempts, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results.count("face_frame_replayed") == 1, results
    assert FaceAttempt.objects.exclude(frames=None).count() == 1


# --- the registrar's photos --------------------------------------------------------------------------

def test_registrar_zip_import_reports_each_bad_file(institution):
    people = [applicant(institution, serial) for serial in (1, 2, 3)]
    two_faces = facegen.jpeg(np.concatenate([facegen.still("obama3"), facegen.still("biden")], axis=1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"photos/{people[0].number}.jpg", photo_bytes("obama"))
        archive.writestr(f"photos/{people[1].number}.JPG", photo_bytes("biden"))
        archive.writestr("photos/2099999999.jpg", photo_bytes("obama2"))
        archive.writestr(f"{people[2].number}.jpg", two_faces)
        archive.writestr("blank.jpg", facegen.jpeg(np.full((100, 100, 3), 200, dtype=np.uint8)))
        archive.writestr("notes.txt", b"hello")
        archive.writestr("__MACOSX/._x.jpg", b"junk")
    buffer.seek(0)
    seen = []
    report = registrar.registrar_photos_import(actor=REGISTRAR, institution=institution, file=buffer,
                                               progress=lambda done, total: seen.append((done, total)))
    assert report.imported == 2
    assert sorted((name, code) for name, code, _message in report.errors) == [
        ("2026000003.jpg", "registrar_photo_many_faces"),
        ("blank.jpg", "registrar_photo_unknown_number"),
        ("notes.txt", "registrar_photo_invalid"),
        ("photos/2099999999.jpg", "registrar_photo_unknown_number"),
    ]
    assert seen[-1] == (6, 6)
    assert RegistrarPhoto.objects.count() == 2 and not RegistrarPhoto.objects.filter(person=people[2]).exists()
    photo = RegistrarPhoto.objects.get(person=people[0])
    raw_image, raw_embedding = bytes(photo.image), bytes(photo.embedding)
    assert not raw_image.startswith(b"\xff\xd8") and crypto.decrypt(raw_image) == photo_bytes("obama")
    vector = faces.embedding_from_bytes(crypto.decrypt(raw_embedding))
    assert faces.distance(vector, faces.embedding(facegen.still("obama"))) < 1e-6
    assert AuditLog.objects.filter(action="registrar_photo_imported").count() == 2


def test_registrar_photo_with_no_face_is_refused_and_a_bad_zip_too(institution, person):
    blank = facegen.jpeg(np.full((100, 100, 3), 200, dtype=np.uint8))
    assert code_of(registrar.registrar_photo_store, actor=REGISTRAR, institution=institution,
                   number=person.number, data=blank) == "registrar_photo_no_face"
    assert code_of(registrar.registrar_photo_store, actor=REGISTRAR, institution=institution,
                   number=person.number, data=b"not a picture") == "registrar_photo_invalid"
    assert code_of(registrar.registrar_photos_import, actor=REGISTRAR, institution=institution,
                   file=io.BytesIO(b"not a zip")) == "registrar_photo_zip_invalid"
    assert not RegistrarPhoto.objects.exists()


def test_a_new_registrar_photo_replaces_the_old(institution, person):
    first = with_photo(person, "biden")
    second = with_photo(person, "obama")
    assert first.pk == second.pk and RegistrarPhoto.objects.count() == 1
    assert crypto.decrypt(RegistrarPhoto.objects.get().image) == photo_bytes("obama")


def test_crypto_rotation(settings):
    """The biometric data share the personal data's keys (core.crypto, PII_KEYS; #18 item 7)."""
    settings.PII_KEYS = ["old-key"]
    token = crypto.encrypt(b"face")
    settings.PII_KEYS = ["new-key", "old-key"]
    assert crypto.decrypt(token) == b"face"
    rotated = crypto.reencrypt(token)
    settings.PII_KEYS = ["new-key"]
    assert crypto.decrypt(rotated) == b"face"
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(token)


# --- over the API ------------------------------------------------------------------------------------

def _bearer(make_operator, institution, role: str, username: str):
    from django.test import Client

    from campuscard.identity.services import token_issue

    user = make_operator(institution, role, username=username)
    _token, plain = token_issue(user=user, name="registrar feed")
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {plain}"})


def test_registrar_feed_over_the_api(institution, other_institution, person, make_operator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    feed = _bearer(make_operator, institution, "integration", "uni-registrar")
    url = f"/api/v1/institutions/uni/registrar-photos/{person.number}"
    response = feed.post(url, {"file": SimpleUploadedFile("p.jpg", photo_bytes("obama"), "image/jpeg")})
    assert response.status_code == 200, response.content
    assert response.json() == {"number": person.number, "embedding": True}
    blank = facegen.jpeg(np.full((100, 100, 3), 200, dtype=np.uint8))
    response = feed.post(url, {"file": SimpleUploadedFile("p.jpg", blank, "image/jpeg")})
    assert response.status_code == 422 and response.json()["code"] == "registrar_photo_no_face"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{person.number}.jpg", photo_bytes("obama2"))
        archive.writestr("2099999999.jpg", photo_bytes("obama2"))
    response = feed.post("/api/v1/institutions/uni/registrar-photos",
                         {"file": SimpleUploadedFile("photos.zip", buffer.getvalue(), "application/zip")})
    assert response.status_code == 200, response.content
    assert response.json()["imported"] == 1
    assert [e["code"] for e in response.json()["errors"]] == ["registrar_photo_unknown_number"]
    # another institution's feed, and a role without the permission: refused, nothing changed
    stored = bytes(RegistrarPhoto.objects.get().image)
    for client in (_bearer(make_operator, other_institution, "integration", "other-registrar"),
                   _bearer(make_operator, institution, "auditor", "uni-auditor")):
        response = client.post(url, {"file": SimpleUploadedFile("p.jpg", photo_bytes("biden"), "image/jpeg")})
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert bytes(RegistrarPhoto.objects.get().image) == stored


def test_holder_face_check_over_the_api(person, draft, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    with_photo(person, "obama3")
    client = Client()
    client.force_login(person.user)
    status = client.get("/api/v1/applications/mine/face").json()
    assert status["state"] == "not_started" and status["can_start"] and status["attempts_left"] == 5
    attempt = client.post("/api/v1/applications/mine/face/attempts").json()
    assert sorted(attempt["actions"]) == ["blink", "nod"] and attempt["max_frames"] == 30
    frames = frames_for("obama", tuple(attempt["actions"]), seed=11)
    url = f"/api/v1/applications/mine/face/attempts/{attempt['id']}/frames"
    files = [SimpleUploadedFile(f"f{i}.jpg", frame, "image/jpeg") for i, frame in enumerate(frames)]
    response = client.post(url, {"nonce": "wrong", "frames": files})
    assert response.status_code == 403 and response.json()["code"] == "face_nonce_invalid"
    files = [SimpleUploadedFile(f"f{i}.jpg", frame, "image/jpeg") for i, frame in enumerate(frames)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"nonce": attempt["nonce"], "frames": files})
    assert response.status_code == 202, response.content
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:  # the page polls this: never the ~1 MB of frames (#16)
        status = client.get("/api/v1/applications/mine/face").json()
    assert not any('"frames"' in query["sql"] for query in captured.captured_queries)
    assert status["state"] == "passed" and status["done"] and not status["can_start"]
    assert 0.3 < status["distance"] < 0.6


def test_back_office_zip_upload(institution, person, make_operator):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{person.number}.jpg", photo_bytes("biden2"))
        archive.writestr("2099999999.jpg", photo_bytes("biden2"))
    operator = Client()
    operator.force_login(make_operator(institution, "card_center_operator"))
    assert operator.get("/backoffice/enrollment/registrarphoto/").status_code == 200
    response = operator.post("/backoffice/enrollment/registrarphoto/upload/",
                             {"file": SimpleUploadedFile("p.zip", buffer.getvalue(), "application/zip")}, follow=True)
    assert response.status_code == 200
    assert RegistrarPhoto.objects.filter(person=person).exists() and RegistrarPhoto.objects.count() == 1
    assert "2099999999.jpg" in response.content.decode()
    auditor = Client()
    auditor.force_login(make_operator(institution, "auditor"))
    assert auditor.get("/backoffice/enrollment/registrarphoto/upload/").status_code == 403


def test_registrar_photos_command(institution, person, tmp_path):
    from django.core.management import CommandError, call_command

    archive_path = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr(f"{person.number}.jpg", photo_bytes("obama"))
        archive.writestr("2099999999.jpg", photo_bytes("obama"))
    out, err = io.StringIO(), io.StringIO()
    call_command("registrar_photos", str(archive_path), institution="uni", stdout=out, stderr=err)
    assert "1 photos imported, 1 refused" in out.getvalue()
    assert "2099999999.jpg: registrar_photo_unknown_number" in err.getvalue()
    assert RegistrarPhoto.objects.filter(person=person).exists()
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(CommandError):
        call_command("registrar_photos", str(tmp_path / "bad.zip"), institution="uni", stdout=out, stderr=err)


def test_face_endpoints_refuse_anonymous_and_other_holders(institution, person, draft):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    attempt = start(person, draft)
    frames = frames_for("obama", tuple(attempt.actions))
    url = f"/api/v1/applications/mine/face/attempts/{attempt.pk}/frames"

    def post(client):
        files = [SimpleUploadedFile(f"f{i}.jpg", frame, "image/jpeg") for i, frame in enumerate(frames)]
        return client.post(url, {"nonce": attempt.nonce, "frames": files})

    anonymous = Client()
    assert anonymous.get("/api/v1/applications/mine/face").status_code == 401
    assert post(anonymous).status_code == 401
    other = applicant(institution, 2)
    services.application_consent_give(actor=Actor.by_user(other.user), application=services.application_start(
        actor=Actor.by_user(other.user), person=other))
    intruder = Client()
    intruder.force_login(other.user)
    response = post(intruder)  # the attempt is not theirs, even with its nonce
    assert response.status_code == 404 and response.json()["code"] == "face_attempt_not_found"
    attempt.refresh_from_db()
    assert attempt.state == FaceAttempt.State.OPEN and not SeenFrame.objects.exists()


def test_registrar_services_authorize_users(institution, other_institution, person, make_operator):
    for user in (make_operator(other_institution, "integration", username="other-feed"),
                 make_operator(institution, "auditor"), person.user):
        assert code_of(registrar.registrar_photo_store, actor=Actor.by_user(user), institution=institution,
                       number=person.number, data=photo_bytes("obama")) in {"forbidden", "not_authenticated"}
        assert code_of(registrar.registrar_photos_import, actor=Actor.by_user(user), institution=institution,
                       file=io.BytesIO(b"PK")) in {"forbidden", "not_authenticated"}
    assert not RegistrarPhoto.objects.exists()
    feed = make_operator(institution, "integration", username="uni-feed")
    registrar.registrar_photo_store(actor=Actor.by_user(feed), institution=institution, number=person.number,
                                    data=photo_bytes("obama"))
    assert RegistrarPhoto.objects.count() == 1


def test_the_stored_reason_is_shown_in_the_readers_language(draft):
    """The reason is stored as the message's source text and translated where it is shown."""
    from django.utils import translation

    from campuscard.enrollment import selectors

    Application.objects.filter(pk=draft.pk).update(face_state=Application.FaceState.FAILED,
                                                   face_reason=face_checks._message(face_checks.REASON_ACTION))
    draft.refresh_from_db()
    with translation.override("zh-hans"):
        shown = selectors.face_reason_text(application=draft)
        assert "眨眼" in shown and "Move slowly" not in shown
        assert shown in [str(step.hint) for step in selectors.steps(application=draft)]
    with translation.override("en"):
        assert selectors.face_reason_text(application=draft).startswith("Move slowly")
