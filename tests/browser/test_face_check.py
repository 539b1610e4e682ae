"""The face check in Chromium on a phone viewport, with a fake front camera (APP-3).

The camera plays a .y4m file SYNTHESISED from a still test portrait (tests/enrollment/facegen.py: a blink
painted over landmarks 36–47, a nod by a perspective warp), looping: level, blink, level, nod, level.
Each action's burst of frames is longer than one loop, so whatever order the server picks, the frames
show it. The worker (Huey, immediate in tests) checks them against the registrar photo of the same
person from another picture. Screenshots go to /tmp/shots/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dlib  # noqa: F401  (unconditional: no skip without the engine)
import numpy as np
import pytest

from campuscard.core.actors import Actor
from campuscard.enrollment import registrar, services
from campuscard.enrollment.models import Application, FaceAttempt
from tests.browser.conftest import ARGS, CHROMIUM
from tests.enrollment import facegen
from tests.enrollment.apply_helpers import applicant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def camera_loop(name: str) -> list[np.ndarray]:
    base = facegen.selfie(facegen.still(name))
    closed = facegen.closed_eyes(base)
    # 1.4 s at 10 frames/s: shorter than each action's burst of frames (13 × 110 ms or more)
    loop = ([base] * 2 + [closed] * 3 + [base] * 2
            + [facegen.pitched(base, 20), *[facegen.pitched(base, 35)] * 3, facegen.pitched(base, 20)] + [base] * 2)
    rng = np.random.default_rng(3)
    return [facegen._camera(frame, rng) for frame in loop]


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory) -> Path:
    return facegen.write_y4m(tmp_path_factory.mktemp("camera") / "obama.y4m", camera_loop("obama"), fps=10)


@pytest.fixture
def camera_phone(camera_file, playwright_driver):
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is not installed")
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=[
        *ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}"])
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                  permissions=["camera"], is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
    browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_face_check_with_the_phone_camera(live_server, camera_phone, institution):
    person = applicant(institution)
    actor = Actor.by_user(person.user)
    application = services.application_start(actor=actor, person=person)
    registrar.registrar_photo_store(actor=Actor.system("test"), institution=institution, number=person.number,
                                    data=(facegen.FACES_DIR / "obama2.jpg").read_bytes())
    page = camera_phone
    page.goto(f"{live_server.url}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", person.number)
    page.fill("input[name=password]", "Applicant-pass-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/**")

    page.goto(f"{live_server.url}/apply/face/")  # no consent yet: the consent page comes first
    page.wait_for_url("**/apply/consent/")
    services.application_consent_give(actor=actor, application=application)
    page.goto(f"{live_server.url}/apply/face/")
    shot(page, "face-check-start")
    page.click("#face-start")
    page.wait_for_selector("#face-stage:not([hidden])")
    page.wait_for_function("() => document.getElementById('facecheck').dataset.action !== undefined")
    page.wait_for_timeout(600)
    shot(page, "face-check-action")
    page.wait_for_selector("#face-result [data-result]", timeout=60_000)
    shot(page, "face-check-result")
    attempt = FaceAttempt.objects.get(application=application)
    application.refresh_from_db()
    assert attempt.frame_count <= 30
    assert application.face_state == Application.FaceState.PASSED, (attempt.reason, attempt.failed_action)
    assert page.locator("#face-result [data-result]").get_attribute("data-result") == "passed"
    assert 0.3 < application.face_distance < 0.6
    assert page.locator("#face-back").is_visible()


def test_face_check_page_says_what_to_do_after_a_mismatch(live_server, camera_phone, institution):
    """Someone else's registrar photo: the seed's message for a mismatch, in English on request."""
    person = applicant(institution)
    actor = Actor.by_user(person.user)
    application = services.application_start(actor=actor, person=person)
    services.application_consent_give(actor=actor, application=application)
    registrar.registrar_photo_store(actor=Actor.system("test"), institution=institution, number=person.number,
                                    data=(facegen.FACES_DIR / "biden.jpg").read_bytes())
    page = camera_phone
    page.goto(f"{live_server.url}/login/")
    page.select_option("select[name=institution]", "uni")
    page.fill("input[name=number]", person.number)
    page.fill("input[name=password]", "Applicant-pass-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/**")
    page.goto(f"{live_server.url}/apply/face/")
    page.click("button[data-lang=en]")
    page.wait_for_load_state()
    page.click("#face-start")
    page.wait_for_selector("#face-result [data-result]", timeout=60_000)
    shot(page, "face-check-mismatch-en")
    assert page.locator("#face-result [data-result]").get_attribute("data-result") == "failed"
    assert "contact the academic affairs office" in page.locator("#face-result").inner_text()
    assert page.locator("#face-start").is_visible()  # attempts left: try again
