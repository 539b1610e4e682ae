"""#18 items 6 and 9: every HTML response carries a Content-Security-Policy, chosen by path (core/csp.py):
strict on the portal, the device pages and the visitor pages; the back office's exceptions only under
/backoffice/. (tests/browser/test_csp.py loads every page in Chromium and counts the violations.)"""

from __future__ import annotations

import pytest
from django.test import Client

from campuscard.core.csp import BACKOFFICE, STRICT, policy_for

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("path", ["/login/", "/devices/enrol/pos/", "/devices/pos/", "/assistant/", "/healthz",
                                  "/sandbox-gateway/nothing/"])
def test_portal_and_device_paths_get_the_strict_policy(path):
    response = Client().get(path)
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["style-src"] == ["'self'"]  # <style> elements refused; only style= attributes allowed
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'self'"]
    assert "script-src-attr" not in policy and "script-src-elem" not in policy


@pytest.mark.parametrize("path", ["/backoffice/login/", "/backoffice/", "/backoffice/identity/person/"])
def test_back_office_gets_its_theme_exceptions_and_no_inline_script(path):
    policy = directives(Client().get(path))
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]  # unfold's Alpine.js; still no inline script
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # unfold's theme <style> and htmx's indicator
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_only_the_back_office_prefix_is_relaxed():
    assert policy_for("/backoffice/anything") is BACKOFFICE
    for path in ("/", "/backofficex/", "/devices/gate/", "/visit/abc/", "/api/v1/docs", "/static/x.js"):
        assert policy_for(path) is STRICT, path
    assert "'unsafe-eval'" not in str(STRICT) and "'unsafe-inline'" not in str(STRICT["script-src"])
