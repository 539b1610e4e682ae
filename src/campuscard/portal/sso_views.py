"""Single sign-on pages (ID-4): start at the provider, come back logged in as the roster's holder."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from campuscard.core.errors import DomainError
from campuscard.identity.sso import SESSION_METHOD, sso_enabled


class _Callback(OIDCAuthenticationCallbackView):
    def login_failure(self):
        refusal = getattr(self.request, "sso_refusal", None) or DomainError("sso_failed")
        messages.error(self.request, refusal.message)
        return redirect("portal:login")

    def login_success(self):
        response = super().login_success()
        self.request.session[SESSION_METHOD] = "sso"  # no forced change of a password the provider keeps
        return response


def start(request):
    if not sso_enabled():
        raise Http404
    return OIDCAuthenticationRequestView.as_view()(request)


def callback(request):
    if not sso_enabled():
        raise Http404
    return _Callback.as_view()(request)
