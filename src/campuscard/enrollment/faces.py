"""Face work over images (APP-3): pure functions, no Django models.

dlib's HOG detector (no upsampling), its 68-point landmarks and its 128-d face embedding, with the
models shipped in the ``face_recognition_models`` wheel (nothing is downloaded at run time).

Liveness is read from a short frame sequence: the eye-aspect ratio (landmarks 36–47) for a blink, a
pitch ratio (where the nose tip sits between the eye line and the chin) for a nod, each action found
in the order the server chose. Thresholds come from the caller (``Thresholds``; the services fill it
from Django settings), so this module can run anywhere numpy and dlib do.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

MAX_WIDTH, MAX_HEIGHT = 640, 480  # either orientation: a phone held upright gives 480×640
MAX_FRAMES = 30
MIN_FRAMES = 6
MIN_FACE_HALVED = 200  # frames whose short side is at least twice this are searched at half size first
ACTIONS = ("blink", "nod")
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
NOSE_TIP, CHIN = 30, 8


class FaceError(Exception):
    """Bad input or a missing engine; ``code`` is a stable reason code."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class Thresholds:
    match: float = 0.6  # embedding distance at or below which two faces are one person
    # Eyes are closed below this share of the holder's open eye-aspect ratio (the sequence's 75th
    # percentile: eyes differ, 0.2 to 0.37 open on the test faces) and open again at or above the other.
    ear_closed: float = 0.7
    ear_open: float = 0.85
    nod_change: float = 0.06  # relative change of the pitch ratio that counts as a nod (either way)
    still_diff: float = 1.5  # mean grey-level change under which a whole sequence is a still image
    max_missing: int = 2  # frames without a face tolerated (motion blur), never with two faces


# --- the engine -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _engine() -> tuple[Any, Any, Any]:
    try:
        import dlib
        import face_recognition_models as models
    except ImportError as exc:  # the default install has them; a trimmed one sends faces to manual review
        raise FaceError("engine_missing", str(exc)) from exc
    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(models.pose_predictor_model_location()),
            dlib.face_recognition_model_v1(models.face_recognition_model_location()))


def engine_available() -> bool:
    try:
        _engine()
    except FaceError:
        return False
    return True


# --- frames -----------------------------------------------------------------------------------


def image_kind(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


FRAME_MAX_BYTES = 400_000  # a 640×480 JPEG from a canvas is 30–120 kB


def frame_check(data: bytes, *, max_size: tuple[int, int] = (MAX_WIDTH, MAX_HEIGHT)) -> tuple[int, int]:
    """Type, byte size and pixel size from the header only (cheap enough for the request); the worker
    decodes. Raises ``FaceError`` (frame_type, frame_too_large)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > FRAME_MAX_BYTES:
        raise FaceError("frame_too_large", f"{len(data)} bytes")
    kind = image_kind(data)
    if kind is None:
        raise FaceError("frame_type", "not a JPEG or PNG image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != kind.upper():
                raise FaceError("frame_type", f"{image.format} posing as {kind}")
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise FaceError("frame_type", str(exc)) from exc
    long_side, short_side = max(max_size), min(max_size)
    if max(width, height) > long_side or min(width, height) > short_side:
        raise FaceError("frame_too_large", f"{width}×{height} is over {long_side}×{short_side}")
    return width, height


def frame_load(data: bytes, *, max_size: tuple[int, int] = (MAX_WIDTH, MAX_HEIGHT)) -> np.ndarray:
    """A JPEG or PNG frame as an RGB array; anything else, or larger than 640×480, is refused."""
    from PIL import Image, UnidentifiedImageError

    if image_kind(data) is None:
        raise FaceError("frame_type", "not a JPEG or PNG image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # read from the header, before any pixel is decoded
            long_side, short_side = max(max_size), min(max_size)
            if max(width, height) > long_side or min(width, height) > short_side:
                raise FaceError("frame_too_large", f"{width}×{height} is over {long_side}×{short_side}")
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise FaceError("frame_type", str(exc)) from exc


def photo_load(data: bytes, *, max_side: int = 2000) -> np.ndarray:
    """A registrar or certificate photo, scaled so its longer side is at most ``max_side``."""
    from PIL import Image, UnidentifiedImageError

    if image_kind(data) is None:
        raise FaceError("frame_type", "not a JPEG or PNG image")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
            if max(image.size) > max_side:
                image.thumbnail((max_side, max_side))
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise FaceError("frame_type", str(exc)) from exc


# --- one frame --------------------------------------------------------------------------------


@dataclass
class FrameFace:
    faces: int  # how many faces the detector found
    box: tuple[int, int, int, int] | None = None  # left, top, right, bottom of the one face
    inside: bool = False  # the face box lies wholly inside the frame
    landmarks: np.ndarray | None = None  # 68 × 2
    ear: float | None = None
    pitch: float | None = None
    _shape: Any = field(default=None, repr=False)


def detect(image: np.ndarray, *, halve: bool = False) -> list[Any]:
    """Face boxes in ``image`` without upsampling (the budget). ``halve``: look on a half-size copy
    first (a quarter of the work; a phone's selfie face is far above the detector's 80 px at that
    scale) and at full size only when that finds nothing; boxes are in ``image``'s pixels."""
    import dlib
    from PIL import Image

    detector, _predictor, _encoder = _engine()
    if halve and min(image.shape[:2]) >= 2 * MIN_FACE_HALVED:
        height, width = image.shape[:2]
        small = np.asarray(Image.fromarray(image).resize((width // 2, height // 2), Image.Resampling.BILINEAR))
        boxes = list(detector(small, 0))
        if boxes:
            return [dlib.rectangle(b.left() * 2, b.top() * 2, b.right() * 2, b.bottom() * 2) for b in boxes]
    return list(detector(image, 0))


def landmarks_of(image: np.ndarray, box: Any) -> tuple[np.ndarray, Any]:
    _detector, predictor, _encoder = _engine()
    shape = predictor(image, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float), shape


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Soukupová & Čech's EAR, both eyes averaged: about 0.3 open, under 0.2 closed."""

    def one(eye: np.ndarray) -> float:
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        horizontal = np.linalg.norm(eye[0] - eye[3])
        return float(vertical / (2.0 * horizontal)) if horizontal else 0.0

    return (one(points[LEFT_EYE]) + one(points[RIGHT_EYE])) / 2.0


def pitch_ratio(points: np.ndarray) -> float:
    """Where the nose tip sits between the eye line (0) and the chin (1), measured along the face's
    own vertical axis (so a head tilted sideways reads the same). Nodding down the nose moves towards
    the chin in the image and the ratio rises; looking up it falls. Free of camera calibration."""
    left = (points[36] + points[39]) / 2  # the eyes' corners: they stay put when the lids close
    right = (points[42] + points[45]) / 2
    eye_mid = (left + right) / 2.0
    across = right - left
    norm = np.linalg.norm(across)
    if not norm:
        return 0.0
    down = np.array([-across[1], across[0]]) / norm  # perpendicular to the eye line, pointing chin-wards
    nose = float(np.dot(points[NOSE_TIP] - eye_mid, down))
    chin = float(np.dot(points[CHIN] - eye_mid, down))
    return nose / chin if chin > 0 else 0.0


def frame_analyse(image: np.ndarray, *, halve: bool = False) -> FrameFace:
    boxes = detect(image, halve=halve)
    if len(boxes) != 1:
        return FrameFace(faces=len(boxes))
    box = boxes[0]
    height, width = image.shape[:2]
    rect = (box.left(), box.top(), box.right(), box.bottom())
    inside = rect[0] >= 0 and rect[1] >= 0 and rect[2] <= width and rect[3] <= height
    points, shape = landmarks_of(image, box)
    return FrameFace(faces=1, box=rect, inside=inside, landmarks=points, ear=eye_aspect_ratio(points),
                     pitch=pitch_ratio(points), _shape=shape)


def embedding(image: np.ndarray, face: FrameFace | None = None) -> np.ndarray:
    """The 128-d embedding of the one face in ``image``; ``FaceError`` if there is none or several."""
    _detector, _predictor, encoder = _engine()
    face = face or frame_analyse(image)
    if face.faces == 0:
        raise FaceError("no_face")
    if face.faces > 1:
        raise FaceError("many_faces", str(face.faces))
    return np.array(encoder.compute_face_descriptor(image, face._shape, 1), dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def embedding_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f8").tobytes()


def embedding_from_bytes(data: bytes) -> np.ndarray:
    if len(data) != 128 * 8:
        raise FaceError("embedding_invalid", f"{len(data)} bytes")
    return np.frombuffer(data, dtype="<f8")


# --- liveness ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    ok: bool
    reason: str = ""  # a stable code: "" when ok, else still_image, no_face, many_faces, face_outside,
    #                   too_few_frames, action_failed
    failed_action: str = ""
    best: int | None = None  # index of the frame to compare (frontal, eyes open)
    found: list[tuple[str, int, int]] = field(default_factory=list)  # (action, first frame, last frame)
    ears: list[float | None] = field(default_factory=list)
    pitches: list[float | None] = field(default_factory=list)
    best_face: FrameFace | None = field(default=None, repr=False)


def _still(images: list[np.ndarray], limit: float) -> bool:
    """The whole sequence is one picture (a replayed photo, re-encoded or not): no frame differs from
    the first by more than ``limit`` grey levels on average, at a scale where sensor noise averages out."""
    from PIL import Image

    def small(image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).convert("L").resize((64, 48)), dtype=np.float32)

    first = small(images[0])
    return all(float(np.abs(small(image) - first).mean()) < limit for image in images[1:])


def _find_blink(ears: list[float | None], pitches: list[float | None], start: int, base: float,
                eyes_open: float, limits: Thresholds) -> tuple[int, int] | None:
    """Open → closed → open, from ``start``, with the head level (a nod narrows the eyes too)."""
    opened = None
    for i in range(start, len(ears)):
        ear, pitch = ears[i], pitches[i]
        if ear is None or pitch is None:
            continue
        if ear >= limits.ear_open * eyes_open:
            opened = i
        elif ear < limits.ear_closed * eyes_open and opened is not None \
                and abs(pitch - base) / base < limits.nod_change:
            for j in range(i + 1, len(ears)):
                later = ears[j]
                if later is not None and later >= limits.ear_open * eyes_open:
                    return opened, j
    return None


def _find_nod(pitches: list[float | None], start: int, base: float,
              limits: Thresholds) -> tuple[int, int] | None:
    """Level → pitched by at least ``nod_change`` (either way) → level again, from ``start``."""
    level = None
    for i in range(start, len(pitches)):
        pitch = pitches[i]
        if pitch is None:
            continue
        change = abs(pitch - base) / base
        if change < limits.nod_change / 2:
            level = i
        elif change >= limits.nod_change and level is not None:
            for j in range(i + 1, len(pitches)):
                later = pitches[j]
                if later is not None and abs(later - base) / base < limits.nod_change / 2:
                    return level, j
    return None


def liveness(frames: list[np.ndarray], actions: list[str], limits: Thresholds | None = None,
             *, faces: list[FrameFace] | None = None) -> Verdict:
    """Did one live face do ``actions`` in this order? A sequence of (nearly) identical frames fails."""
    limits = limits or Thresholds()
    if any(action not in ACTIONS for action in actions):
        raise ValueError(f"unknown action in {actions!r}")
    if len(frames) < MIN_FRAMES:
        return Verdict(False, "too_few_frames")
    if _still(frames, limits.still_diff):
        return Verdict(False, "still_image")
    faces = faces or [frame_analyse(frame, halve=True) for frame in frames]
    ears = [face.ear for face in faces]
    pitches = [face.pitch for face in faces]
    verdict = Verdict(False, ears=ears, pitches=pitches)
    if any(face.faces > 1 for face in faces):
        verdict.reason = "many_faces"
        return verdict
    missing = sum(1 for face in faces if face.faces == 0)
    if missing > limits.max_missing or missing == len(faces):
        verdict.reason = "no_face"
        return verdict
    if any(face.faces == 1 and not face.inside for face in faces):
        verdict.reason = "face_outside"
        return verdict
    base = float(np.median([p for p in pitches if p is not None]))
    if base <= 0:
        verdict.reason = "no_face"
        return verdict
    eyes_open = float(np.percentile([e for e in ears if e is not None], 75))
    cursor = 0
    for action in actions:
        span = (_find_blink(ears, pitches, cursor, base, eyes_open, limits) if action == "blink"
                else _find_nod(pitches, cursor, base, limits))
        if span is None:
            verdict.reason, verdict.failed_action = "action_failed", action
            return verdict
        verdict.found.append((action, span[0], span[1]))
        cursor = span[1]
    # The frame to compare: eyes open, head level (pitch nearest the median), the largest face.
    candidates = [i for i, face in enumerate(faces)
                  if face.faces == 1 and face.ear is not None and face.ear >= limits.ear_open * eyes_open]
    best = min(candidates, key=lambda i: (abs((pitches[i] or 0) - base), -_area(faces[i])))
    verdict.ok, verdict.best, verdict.best_face = True, best, faces[best]
    return verdict


def _area(face: FrameFace) -> int:
    if face.box is None:
        return 0
    return (face.box[2] - face.box[0]) * (face.box[3] - face.box[1])
