"""Single sign-on pages (ID-4): start at the provider, come back logged in as the roster's holder — or, from
the back office's login page, as the operator account the provider's claim names (#16 item 2)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from campuscard.core.errors import DomainError
from campuscard.identity.sso import FOR_OPERATOR, SESSION_METHOD, sso_enabled


def _flow_for(request) -> str:
    """Whom the flow coming back was started for: kept beside its state, so a stale flag of another tab or
    an earlier attempt can never turn a holder's login into an operator's (or back)."""
    state = request.GET.get("state", "")
    entry = request.session.get("oidc_states", {}).get(state) if state else None
    return str((entry or {}).get("for", ""))


class _Callback(OIDCAuthenticationCallbackView):
    def get(self, request):
        request.sso_for = _flow_for(request)
        return super().get(request)

    def login_failure(self):
        refusal = getattr(self.request, "sso_refusal", None) or DomainError("sso_failed")
        messages.error(self.request, refusal.message)
        return redirect("admin:login" if getattr(self.request, "sso_for", "") == FOR_OPERATOR else "portal:login")

    def login_success(self):
        response = super().login_success()
        self.request.session[SESSION_METHOD] = "sso"  # no forced change of a password the provider keeps
        return response


def start(request):
    if not sso_enabled():
        raise Http404
    return OIDCAuthenticationRequestView.as_view()(request)


def backoffice_start(request):
    """The back office's "unified identity" button: the same provider, the same callback; the flow is
    marked for an operator account and comes back to the back office (or a page of it)."""
    if not sso_enabled():
        raise Http404
    home = reverse("admin:index")
    query = QueryDict(mutable=True)
    wanted = request.GET.get("next", "")
    query["next"] = wanted if wanted.startswith(home) else home
    request.GET = query
    response = OIDCAuthenticationRequestView.as_view()(request)
    state = parse_qs(urlsplit(response["Location"]).query).get("state", [""])[0]
    states = request.session.get("oidc_states", {})
    if state in states:
        states[state]["for"] = FOR_OPERATOR
        request.session.modified = True
    return response


def callback(request):
    if not sso_enabled():
        raise Http404
    return _Callback.as_view()(request)
