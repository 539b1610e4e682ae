"""The face checks (APP-3): liveness over frame sequences, comparison with the registrar photo.

dlib is imported unconditionally: a machine without the face engine fails these tests instead of
skipping them (.ci/run must not pass with the face tests skipped).

The frame sequences are SYNTHESISED from still portraits (tests/enrollment/faces/, public-domain, copied
from ../shared/testdata/faces/): a blink paints the lids over landmarks 36–47, a nod is a perspective
warp that changes the head pitch the landmarks give (see tests/enrollment/facegen.py). They are not
video of a live person; they exercise the same measurements a live sequence does.
"""

from __future__ import annotations

import itertools
from functools import cache

import dlib  # noqa: F401  (unconditional: no skip without the engine)
import face_recognition_models  # noqa: F401
import numpy as np
import pytest

from campuscard.enrollment import faces
from tests.enrollment import facegen

NAMES = ("obama", "obama2", "obama3", "biden", "biden2")


@cache
def seq(name: str, actions: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    return tuple(facegen.sequence(name, list(actions)))


@cache
def still_embedding(name: str) -> np.ndarray:
    return faces.embedding(facegen.still(name))


# --- liveness (synthesised sequences) ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["obama", "biden2"])
@pytest.mark.parametrize("order", [("blink", "nod"), ("nod", "blink")])
def test_liveness_passes_in_each_order(name, order):
    verdict = faces.liveness(list(seq(name, order)), list(order))
    assert verdict.ok, (verdict.reason, verdict.failed_action, verdict.ears, verdict.pitches)
    assert [action for action, _first, _last in verdict.found] == list(order)
    spans = [(first, last) for _action, first, last in verdict.found]
    assert spans[0][1] <= spans[1][0]  # the second action happened after the first
    best = verdict.best_face
    assert best is not None and best.ear is not None and best.pitch is not None


@pytest.mark.parametrize("order", [("blink", "nod"), ("nod", "blink")])
def test_liveness_wrong_order_fails(order):
    """The holder did both actions, but not in the order the server chose."""
    verdict = faces.liveness(list(seq("obama", order)), list(reversed(order)))
    assert not verdict.ok
    assert verdict.reason == "action_failed"
    assert verdict.failed_action == order[0]  # found the second one late, so the first is missing after it


@pytest.mark.parametrize(("did", "missing"), [(("blink",), "nod"), (("nod",), "blink")])
def test_liveness_missing_action_fails(did, missing):
    verdict = faces.liveness(list(seq("obama", did)), ["blink", "nod"] if missing == "nod" else ["nod", "blink"])
    assert not verdict.ok and verdict.failed_action == missing


def test_still_photo_replay_fails():
    """A replayed still photo: the same frame over and over, and a re-encoded, slightly noisy copy of it."""
    frame = facegen.selfie(facegen.still("obama"))
    assert faces.liveness([frame] * 15, ["blink", "nod"]).reason == "still_image"
    rng = np.random.default_rng(1)
    copies = [faces.frame_load(facegen.jpeg(np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255)
                                            .astype(np.uint8), quality=int(q)))
              for q in rng.integers(70, 95, size=15)]
    verdict = faces.liveness(copies, ["blink", "nod"])
    assert not verdict.ok and verdict.reason == "still_image"


def test_liveness_needs_one_face_in_the_frame():
    two = [np.concatenate([frame[:, :240], frame[:, 240:]], axis=1) for frame in seq("obama", ("blink", "nod"))]
    assert faces.liveness(two, ["blink", "nod"]).ok  # the same picture, sanity check of the splice
    pair = [np.concatenate([facegen.fit(facegen.still("obama"), 320, 480), facegen.fit(facegen.still("biden"), 320, 480)],
                           axis=1)[:480, :640] for _ in range(8)]
    pair = [facegen._camera(frame, np.random.default_rng(i)) for i, frame in enumerate(pair)]
    pair[3] = np.roll(pair[3], 20, axis=1)  # some movement: not a still
    assert faces.liveness(pair, ["blink", "nod"]).reason == "many_faces"
    empty = [np.full((480, 640, 3), 90 + 10 * i, dtype=np.uint8) for i in range(8)]
    assert faces.liveness(empty, ["blink", "nod"]).reason == "no_face"
    assert faces.liveness(list(seq("obama", ("blink", "nod")))[:5], ["blink", "nod"]).reason == "too_few_frames"


def test_face_leaving_the_frame_fails():
    frames = list(seq("obama", ("blink", "nod")))
    frames[-3] = np.roll(frames[-3], 300, axis=1)  # the face slides off the right edge
    verdict = faces.liveness(frames, ["blink", "nod"])
    assert not verdict.ok and verdict.reason in {"face_outside", "no_face", "action_failed"}


# --- frames ---------------------------------------------------------------------------------------

def test_frame_load_refuses_large_and_foreign_frames():
    ok = facegen.jpeg(np.zeros((480, 640, 3), dtype=np.uint8))
    assert faces.frame_check(ok) == (640, 480)
    assert faces.frame_load(ok).shape == (480, 640, 3)
    upright = facegen.jpeg(np.zeros((640, 480, 3), dtype=np.uint8))
    assert faces.frame_check(upright) == (480, 640)
    big = facegen.jpeg(np.zeros((481, 641, 3), dtype=np.uint8))
    for call in (faces.frame_check, faces.frame_load):
        with pytest.raises(faces.FaceError) as caught:
            call(big)
        assert caught.value.code == "frame_too_large"
        with pytest.raises(faces.FaceError) as caught:
            call(b"GIF89a" + b"\0" * 100)
        assert caught.value.code == "frame_type"
        with pytest.raises(faces.FaceError) as caught:
            call(b"\xff\xd8\xff" + b"garbage" * 10)
        assert caught.value.code == "frame_type"


def test_eye_aspect_ratio_and_pitch_move_the_right_way():
    base = facegen.selfie(facegen.still("biden2"))
    level = faces.frame_analyse(base)
    closed = faces.frame_analyse(facegen.closed_eyes(base))
    down = faces.frame_analyse(facegen.pitched(base, 35))
    up = faces.frame_analyse(facegen.pitched(base, -35))
    assert closed.ear < 0.7 * level.ear
    assert down.pitch < level.pitch * 0.94 < level.pitch * 1.06 < up.pitch


# --- comparison -----------------------------------------------------------------------------------

def test_match_and_mismatch_on_the_test_faces():
    """The ten pairs of the five test portraits (two people): docs/benchmarks.md lists the distances."""
    threshold = 0.6
    for a, b in itertools.combinations(NAMES, 2):
        same = a.rstrip("23") == b.rstrip("23")
        distance = faces.distance(still_embedding(a), still_embedding(b))
        assert (distance <= threshold) == same, (a, b, distance)
        assert (0.3 < distance < 0.5) if same else (0.7 < distance < 0.9), (a, b, distance)


def test_embedding_bytes_round_trip_and_refuse_bad_length():
    vector = still_embedding("obama")
    assert np.array_equal(faces.embedding_from_bytes(faces.embedding_bytes(vector)), vector)
    with pytest.raises(faces.FaceError):
        faces.embedding_from_bytes(b"\0" * 100)


def test_embedding_refuses_no_face_and_two_faces():
    with pytest.raises(faces.FaceError) as caught:
        faces.embedding(np.full((200, 200, 3), 128, dtype=np.uint8))
    assert caught.value.code == "no_face"
    pair = np.concatenate([facegen.still("obama3"), facegen.still("biden")], axis=1)
    with pytest.raises(faces.FaceError) as caught:
        faces.embedding(pair)
    assert caught.value.code == "many_faces"


def test_y4m_writer(tmp_path):
    frames = list(seq("obama", ("blink",)))[:3]
    path = facegen.write_y4m(tmp_path / "cam.y4m", frames, repeat=2)
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    assert header == b"YUV4MPEG2 W480 H640 F10:1 Ip A1:1 C420jpeg"
    frame_bytes = 480 * 640 * 3 // 2
    assert len(rest) == 6 * (len(b"FRAME\n") + frame_bytes)
    y_plane = np.frombuffer(rest[6:6 + 480 * 640], dtype=np.uint8).reshape(640, 480)
    grey = np.asarray(frames[0].mean(axis=2))
    assert abs(float(y_plane.mean()) - float(grey.mean())) < 8
