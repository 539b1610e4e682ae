"""Frame sequences made from still portraits, for the liveness tests and the browser's fake camera.

There is no video of the test faces (tests/enrollment/faces/, copied from ../shared/testdata/faces/), so
the sequences are SYNTHESISED from the stills, and every test that uses them says so:

* a **blink** paints the lids over the eye landmarks 36–47 (skin colour from under the eye, a dark lash
  line across the middle), so the detector's landmarks close and the eye-aspect ratio drops;
* a **nod** is a perspective warp that turns the picture about a horizontal axis through the face (top
  away from the camera, then level again), which moves the nose tip towards the chin in the image the
  way pitching the head down does — the pitch ratio the landmarks give changes;
* every frame gets a little sensor noise and a sub-pixel-free jitter of a pixel, as a camera would, so
  frames differ; a replayed still photo is the same frame (or a re-encoded copy of it) over and over.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from campuscard.enrollment import faces

FACES_DIR = Path(__file__).parent / "faces"


def still(name: str) -> np.ndarray:
    return np.asarray(Image.open(FACES_DIR / f"{name}.jpg").convert("RGB"))


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


def fit(image: np.ndarray, width: int = 480, height: int = 640) -> np.ndarray:
    """The portrait centred on a ``width``×``height`` canvas (a phone's upright frame), grey around it."""
    picture = Image.fromarray(image)
    picture.thumbnail((width, height))
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    return np.asarray(canvas)


def closed_eyes(image: np.ndarray) -> np.ndarray:
    """Paint the lids shut over landmarks 36–47: each eye's outline (grown a little) filled with the
    cheek's skin a shade darker, a dark lash line from corner to corner where the lids meet, softened."""
    from PIL import ImageFilter

    found = faces.frame_analyse(image)
    assert found.faces == 1 and found.landmarks is not None, "the still must show one face"
    points = found.landmarks
    picture = Image.fromarray(image.copy())
    draw = ImageDraw.Draw(picture)
    for eye in (points[36:42], points[42:48]):
        centre = eye.mean(axis=0)
        width = float(np.linalg.norm(eye[3] - eye[0]))
        # the skin of the cheek just under the eye (above it lie the brow's shadows)
        sx, sy = int(centre[0]), int(centre[1] + width * 0.55)
        patch = image[max(sy - 2, 0):sy + 3, max(sx - 4, 0):sx + 5].reshape(-1, 3)
        skin = tuple(int(v * 0.92) for v in np.median(patch, axis=0))
        draw.polygon([tuple(centre + (p - centre) * np.array([1.2, 2.4])) for p in eye], fill=skin)
        draw.line([tuple(eye[0]), tuple(eye[3])], fill=(30, 20, 20), width=max(2, round(width * 0.15)))
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(0.8)))


def selfie(image: np.ndarray, width: int = 480, height: int = 640, face_share: float = 0.42) -> np.ndarray:
    """The still framed as a phone's front camera would: upright ``width``×``height``, the face about
    ``face_share`` of the width, eyes a little above the middle (grey where the still ends)."""
    found = faces.frame_analyse(image)
    assert found.faces == 1 and found.box is not None, "the still must show one face"
    left, top, right, bottom = found.box
    scale = width * face_share / (right - left)
    picture = Image.fromarray(image).resize((round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                            Image.Resampling.BICUBIC)
    cx, cy = (left + right) / 2 * scale, (top + bottom) / 2 * scale
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(picture, (round(width / 2 - cx), round(height * 0.45 - cy)))
    return np.asarray(canvas)


def _perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
    """PIL's PERSPECTIVE data mapping output points ``target`` back to input points ``source``."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend([u, v])
    return list(np.linalg.solve(np.array(rows, dtype=float), np.array(values, dtype=float)))


def pitched(image: np.ndarray, degrees: float, focal: float | None = None) -> np.ndarray:
    """The picture turned by ``degrees`` about the horizontal axis through its centre (positive: the
    top goes away from the camera, as when the head pitches down), seen by a pinhole camera."""
    height, width = image.shape[:2]
    focal = focal or 0.8 * height
    theta = np.radians(degrees)
    cx, cy = width / 2, height / 2

    def project(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        depth = focal - dy * np.sin(theta)  # the top (dy < 0) recedes for theta > 0
        scale = focal / depth
        return cx + dx * scale, cy + dy * np.cos(theta) * scale

    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    moved = [project(x, y) for x, y in corners]
    coefficients = _perspective_coefficients(corners, moved)
    return np.asarray(Image.fromarray(image).transform(
        (width, height), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR,
        fillcolor=(128, 128, 128)))


def _camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pixel of jitter and a little sensor noise: consecutive camera frames are never identical."""
    dx, dy = (int(v) for v in rng.integers(-1, 2, size=2))
    shifted = np.roll(image, (dy, dx), axis=(0, 1))
    noisy = shifted.astype(np.int16) + rng.normal(0, 2.0, size=image.shape).round().astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def sequence(name: str, actions: list[str], *, seed: int = 7, canvas: tuple[int, int] | None = (480, 640),
             nod_degrees: float = 35.0) -> list[np.ndarray]:
    """Frames of ``name`` doing ``actions`` in order (SYNTHESISED from the still; see the module doc):
    4 level frames, then per action: blink = 2 closed + 3 open, nod = 1, 2 and 1 steps down + 3 level."""
    base = still(name)
    if canvas:
        base = selfie(base, *canvas)
    closed = closed_eyes(base)
    rng = np.random.default_rng(seed)
    frames = [base] * 4
    for action in actions:
        if action == "blink":
            frames += [closed, closed] + [base] * 3
        elif action == "nod":
            frames += [pitched(base, nod_degrees / 2), pitched(base, nod_degrees),
                       pitched(base, nod_degrees / 2)] + [base] * 3
        else:
            raise ValueError(action)
    return [_camera(frame, rng) for frame in frames]


def encoded(frames: list[np.ndarray], quality: int = 88) -> list[bytes]:
    return [jpeg(frame, quality) for frame in frames]


def write_y4m(path: Path, frames: list[np.ndarray], *, fps: int = 10, repeat: int = 1) -> Path:
    """A YUV4MPEG2 file (a text header, then per frame "FRAME\\n" and raw I420 planes) for Chromium's
    ``--use-file-for-fake-video-capture``; each frame is written ``repeat`` times. Sizes must be even."""
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise ValueError("I420 needs an even width and height")
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            rgb = frame.astype(np.float32)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            # BT.601 full range (JPEG's), as C420jpeg says
            y = 0.299 * r + 0.587 * g + 0.114 * b
            u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
            v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

            def sub(plane: np.ndarray) -> np.ndarray:
                return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

            planes = b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes()
                              for p in (y, sub(u), sub(v)))
            for _ in range(repeat):
                out.write(b"FRAME\n")
                out.write(planes)
    return path
