"""Content-Security-Policy: the one place that says what each part of the site may load (#18 items 6 and 9).

django-csp 4 builds the header; this module holds the policies and picks one by path prefix:

* ``STRICT`` — the portal, the device pages (``/devices/``), the visitor pages and everything else that is
  ours: scripts only from our own static files (no inline ``<script>``, no ``on*=`` handlers, no ``eval`` —
  which also rules out htmx's ``hx-on`` attributes, so our pages bind their events in ``static/*/*.js``),
  stylesheets only from our static files. ``style=`` *attributes* stay allowed (``style-src-attr
  'unsafe-inline'``): the bars, columns and progress meters are sized by the data (``width:37%``), which a
  stylesheet cannot say; an attribute cannot run code or load anything, and ``<style>`` elements stay refused.
  htmx's own indicator ``<style>`` is switched off by ``<meta name="htmx-config">`` and its rules live in
  ``portal/portal.css``. Images from us and ``data:`` (QR codes drawn as data URIs, the camera's stills).
  ``media-src 'self' blob:`` lets the face check show the camera's stream; ``worker-src 'self'`` is the
  portal's service worker.
* ``BACKOFFICE`` — django-unfold's admin theme under ``/backoffice/``: its Alpine.js evaluates ``x-data`` /
  ``@click`` expressions with ``new Function`` (``'unsafe-eval'``), and the theme writes inline ``<style>``
  and ``style=`` (``'unsafe-inline'`` for styles only). Scripts still only from our origin, no inline script.
  What Chromium reported, page by page, is in docs/decisions.md.

Shared by all: no plugins (``object-src 'none'``), no ``<base>`` hijack, forms post only to us, not framed
(``frame-ancestors 'none'``, as X-Frame-Options DENY already says).
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

_COMMON: dict[str, Any] = {
    "default-src": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}

STRICT: dict[str, Any] = {
    **_COMMON,
    "script-src": [SELF],
    "style-src": [SELF],
    "style-src-attr": [UNSAFE_INLINE],
    "img-src": [SELF, "data:", "blob:"],
    "media-src": [SELF, "blob:"],
    "worker-src": [SELF],
    "manifest-src": [SELF],
    "connect-src": [SELF],
}

BACKOFFICE: dict[str, Any] = {
    **_COMMON,
    "script-src": [SELF, UNSAFE_EVAL],
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "blob:"],
    "font-src": [SELF, "data:"],
    "connect-src": [SELF],
}

# Path prefix → policy; the first match wins, anything else gets STRICT.
POLICIES: tuple[tuple[str, dict[str, Any]], ...] = (("/backoffice/", BACKOFFICE),)


def policy_for(path: str) -> dict[str, Any]:
    for prefix, policy in POLICIES:
        if path.startswith(prefix):
            return policy
    return STRICT


class PathPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with the policy chosen by path; a view's ``@csp_override`` still wins."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None:
            parts.config = policy_for(request.path_info)
        return parts
