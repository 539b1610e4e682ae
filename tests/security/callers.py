"""Who calls: a WSGI app in front of the production stack (the device lane in front of Django, as
``campuscard.wsgi`` builds it) that adds one principal's credentials to every request it passes on.

The device caller signs each request as it arrives — method, the path with its query string as Django
reads it, the body's bytes — so whatever a fuzzer puts in them, the signature is the device's own
(devices/signing.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.middleware.csrf import _get_new_csrf_string

from campuscard.api.lane import DeviceLane
from campuscard.api.main import lane_routes
from campuscard.core import clock
from campuscard.devices.signing import sign_headers

_stack: dict[str, object] = {}


def production_app():
    if "app" not in _stack:
        _stack["app"] = DeviceLane(WSGIHandler(), lane_routes())
    return _stack["app"]


def _set_header(environ: dict, name: str, value: str) -> None:
    environ["HTTP_" + name.upper().replace("-", "_")] = value


@dataclass
class Caller:
    """``label``: who; ``session``: a session cookie value (with a CSRF cookie and header, as the portal's
    JavaScript sends them); ``token``: ``Authorization: Bearer``; ``device``: (code, secret) to sign with;
    ``pick_device``: the device by path instead (a POS terminal for /pos/, a kiosk for the kiosk's calls).
    Its cookies replace the request's."""

    label: str
    session: str | None = None
    token: str | None = None
    device: tuple[str, str] | None = None
    pick_device: Callable[[str], tuple[str, str]] | None = None
    csrf: bool = False  # a CSRF cookie and header without a session: a refusal must be the view's, not CSRF's
    app: object = field(default=None, repr=False)

    def __call__(self, environ, start_response):
        environ = dict(environ)
        if self.session is not None or self.csrf:
            csrf = _get_new_csrf_string()
            cookies = [f"{settings.CSRF_COOKIE_NAME}={csrf}"]
            if self.session is not None:
                cookies.append(f"{settings.SESSION_COOKIE_NAME}={self.session}")
            environ["HTTP_COOKIE"] = "; ".join(cookies)
            _set_header(environ, "X-CSRFToken", csrf)
        if self.token is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        device = self.device or (self.pick_device(environ.get("PATH_INFO", "")) if self.pick_device else None)
        if device is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            path = WSGIRequest(dict(environ, **{"wsgi.input": io.BytesIO(b"")})).get_full_path()
            for name, value in sign_headers(device_code=device[0], secret=device[1], method=environ["REQUEST_METHOD"],
                                            path=path, body=body, timestamp=int(clock.now().timestamp())).items():
                _set_header(environ, name, value)
        return (self.app or production_app())(environ, start_response)
