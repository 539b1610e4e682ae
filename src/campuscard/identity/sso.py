"""Single sign-on (ID-4): "统一身份认证" through OpenID Connect (mozilla-django-oidc).

The provider vouches for a number; the roster says who that is. Nobody gets in from claims alone: the
number must be on the roster of an institution this deployment serves through the provider. Started from
the back office's login page (#16 item 2), the same provider's claim names an existing operator account
instead (``identity.services.operator_sso_login``); which of the two a flow is for travels with its
``state`` in the session, set when it starts.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend  # type: ignore[import-untyped]

from campuscard.core.errors import DomainError

log = logging.getLogger(__name__)

SESSION_METHOD = "login_method"  # "sso" for a session that single sign-on started
FOR_OPERATOR = "operator"  # a flow started from the back office (``request.sso_for``)


def sso_enabled() -> bool:
    return bool(getattr(settings, "SSO_ENABLED", False))


def session_is_sso(request) -> bool:
    session = getattr(request, "session", None)
    return session is not None and session.get(SESSION_METHOD) == "sso"


def password_change_forced(request, user) -> bool:
    """ID-3's forced change of the initial password; the provider holds the password of an SSO session."""
    return bool(getattr(user, "must_change_password", False)) and not session_is_sso(request)


class RosterOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code flow (with PKCE), ID token checked (signature, expiry, nonce, audience, issuer),
    claims mapped to a roster person by ``identity.services.holder_sso_login`` or, for a flow the back
    office started (``request.sso_for``), to an operator account by ``operator_sso_login``. A refusal is
    left on the request (``sso_refusal``) for the callback view to show."""

    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError) as exc:
            # provider unreachable, token refused, bad signature: the holder sees "try again", the log why
            log.warning("single sign-on failed: %s", exc)
            if request is not None:
                request.sso_refusal = DomainError("sso_failed")
            return None

    def get_or_create_user(self, access_token, id_token, payload):
        self._check_audience_and_issuer(payload)
        claims: dict[str, Any] = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            info = self.get_userinfo(access_token, id_token, payload)
            if str(info.get("sub")) != str(payload.get("sub")):  # OIDC Core 5.3.2
                raise SuspiciousOperation("the userinfo response is about another subject")
            claims.update(info)
        from campuscard.identity.services import holder_sso_login, operator_sso_login

        login = operator_sso_login if getattr(self.request, "sso_for", "") == FOR_OPERATOR else holder_sso_login
        try:
            return login(claims=claims)
        except DomainError as refusal:
            log.info("single sign-on refused (%s) for subject %r", refusal.code, claims.get("sub"))
            self.request.sso_refusal = refusal
            return None

    def _check_audience_and_issuer(self, payload: dict) -> None:
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token was issued to another client")
        issuer = getattr(settings, "SSO_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("the ID token comes from another issuer")
