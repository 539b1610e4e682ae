"""The versioned JSON API (/api/v1/): one error shape, OpenAPI generated from the code."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from campuscard.api.auth import ChannelToken, IntegrationToken, PortalSession
from campuscard.core.errors import REGISTRY, DomainError

log = logging.getLogger(__name__)


class CampusCardAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        return document_errors(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))


def document_errors(document):
    """Every operation lists the statuses our one error shape can answer (#18 item 9, item 4: clients and
    the fuzzer read them from the document): any refusal a service may raise (the registry's statuses), a
    body over the size limit, input that does not validate. Not 500: a server error is a bug, never an
    answer (the fuzzer counts them). An operation's own error schema, where it names one, stays."""
    statuses = sorted({spec.status for spec in REGISTRY.values()} - {405, 500})
    document.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "title": "Error", "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "title": "Code"}, "message": {"type": "string", "title": "Message"},
                       "details": {"title": "Details"}}}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in statuses:
                if status not in responses and str(status) not in responses:
                    responses[status] = {"description": REFUSALS.get(status, "Refused"), "content": error}
    return document


REFUSALS = {400: "Bad request", 401: "Not authenticated (or a device signature refused)", 402: "Payment required",
            403: "Forbidden", 404: "Not found", 409: "Conflict with the current state", 410: "Gone",
            413: "Request too large", 422: "Not valid", 429: "Too many attempts",
            502: "Upstream payment gateway failed", 503: "Temporarily unavailable"}


api = CampusCardAPI(
    title="CampusCard API",
    version="1",
    description=(
        "Smart campus card platform. Errors always look like "
        '`{"code": "…", "message": "…"}` with the message in the request\'s language '
        "(Accept-Language: zh-Hans default, en). Portal clients use the session cookie (with CSRF); "
        "integrated systems send `Authorization: Bearer <token>`; an outside channel bound to a card (ID-6) "
        "sends its channel token the same way, on the endpoints its scopes name."
    ),
    urls_namespace="api-v1",
    # ChannelToken() without a scope: a channel token reaching any other endpoint gets 403, not 401.
    auth=[PortalSession(), IntegrationToken(), ChannelToken()],
)


def _error(request, code: str, status: int | None = None, details=None, message: str | None = None):
    body = {"code": code, "message": message or str(REGISTRY[code].message)}
    if details is not None:
        body["details"] = details
    return api.create_response(request, body, status=status or REGISTRY[code].status)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    return _error(request, "validation_error", details=exc.errors)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request, exc):
    return _error(request, "not_authenticated")


@api.exception_handler(AuthorizationError)
def on_authorization_error(request, exc):
    return _error(request, "forbidden")


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return _error(request, "forbidden")


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, "not_found")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    code = {400: "validation_error", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
            429: "rate_limited"}.get(exc.status_code, "internal_error")
    # Only django-ninja raises these (unparsable body, CSRF): its English text goes to details, the
    # message stays in the request's language like every other error.
    return _error(request, code, status=exc.status_code, details={"reason": str(exc)} if str(exc) else None)


@api.exception_handler(RequestDataTooBig)
def on_too_large(request, exc):
    return _error(request, "request_too_large")


@api.exception_handler(Exception)
def on_unexpected(request, exc: Exception):
    """Never an HTML 500 from the API: log it and answer in the one error shape."""
    log.exception("unhandled API error on %s %s", request.method, request.path)
    return _error(request, "internal_error")


def _register_routers() -> None:
    from campuscard.api import (
        access,
        alerts,
        assistant,
        cards,
        channels,
        dorm,
        enrollment,
        enrollment_face,
        health,
        identity,
        issuing,
        library,
        payments,
        pos,
        rental,
        study,
        transit,
    )

    api.add_router("/", identity.router)
    api.add_router("/", payments.router)
    api.add_router("/", cards.router)
    api.add_router("/", pos.router)
    api.add_router("/", access.router)
    api.add_router("/", channels.router)
    api.add_router("/", alerts.router)
    api.add_router("/", enrollment.router)
    api.add_router("/", enrollment_face.router)
    api.add_router("/", issuing.router)
    api.add_router("/", health.router)
    api.add_router("/", rental.router)
    api.add_router("/", study.router)
    api.add_router("/", library.router)
    api.add_router("/", dorm.router)
    api.add_router("/", transit.router)
    api.add_router("/", assistant.router)


_register_routers()


def lane_routes() -> dict:
    """The endpoints the device lane answers in front of Django (api.lane)."""
    from campuscard.api import access, cards, pos

    return {("POST", "/api/v1/pos/payments"): pos.pay_in_lane,
            ("POST", "/api/v1/access/gate/decide"): access.gate_decide_in_lane,
            ("POST", "/api/v1/cards/code-status"): cards.pay_code_status_in_lane}


def lane_warm() -> None:
    """Fill the fast paths' process caches at start-up (PostgreSQL only: elsewhere they stand aside).
    A database that is not there yet only means the first requests fill them."""
    import logging

    from django.db import DatabaseError, connection

    from campuscard.access import fastpath as gate_fastpath
    from campuscard.payments import fastpath as pay_fastpath

    if connection.vendor != "postgresql":
        return
    try:
        pay_fastpath.warm()
        gate_fastpath.warm()
    except DatabaseError as error:
        logging.getLogger(__name__).warning("fast-path caches not warmed: %s", error)
    finally:
        connection.close()
