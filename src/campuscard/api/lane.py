"""The device lane: the rush endpoints answered in front of Django's middleware and django-ninja.

Transport only. A POS payment (``POST /api/v1/pos/payments``) and a gate decision (``POST
/api/v1/access/gate/decide``) each call their one domain entry point (``payments.pos.payment_authorize``,
``access.services.gate_decide``), which takes its fast path itself; the open pay-code pages' status
question (``POST /api/v1/cards/code-status``, signed ticket instead of a session) calls
``payments.selectors.pay_code_status``; what the lane saves is the Python
around it — Django's middleware, ninja's operation machinery — which cost more than the statement
(docs/decisions.md, "The device lane"). The same request object, signature check, nonce store, schemas
and JSON encoder run here as in the ninja routes.

A route answers the domain's receipt, decision or refusal (in the request's language). What it does not
answer — a bad or replayed signature, a body that does not validate — goes on to Django unchanged. A
request this lane has already verified carries its device facts in the WSGI environ under ``VERIFIED``
(a client cannot set such a key: only ``HTTP_*`` keys come from headers), so Django does not refuse its
spent nonce as a replay.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.utils import translation
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel
from structlog.contextvars import bind_contextvars, reset_contextvars

from campuscard.core import metrics
from campuscard.core.errors import DomainError
from campuscard.core.logs import HEADER as REQUEST_ID_HEADER
from campuscard.core.logs import request_id_of
from campuscard.core.middleware import pick_language

VERIFIED = "campuscard.verified_device"
log = logging.getLogger(__name__)

# A route answers (status, pydantic model instance or a dict of the model's JSON fields) or None for
# "let Django answer".
Handler = Callable[[WSGIRequest], "tuple[int, BaseModel | dict] | None"]


def verify(request: WSGIRequest, *, load, forget):
    """The device's cached facts after the signature checks (``device_verify_cached``); marks the request
    as verified so a hand-over to Django does not spend its nonce twice."""
    from campuscard.devices.services import device_verify_cached

    found = device_verify_cached(request=request, load=load, forget=forget)
    request.META[VERIFIED] = found
    return found


def verify_deferring_nonce(request: WSGIRequest, *, load, forget) -> tuple[object, object]:
    """``verify`` without the nonce: the caller's batch claims it (and refuses a replay before acting).
    Call ``mark_spent`` once it has been claimed, before any hand-over to Django."""
    from campuscard.devices.services import NonceClaim, device_verify_cached, signed_headers

    found = device_verify_cached(request=request, load=load, forget=forget, claim_nonce=False)
    return found, NonceClaim(signed_headers(request=request).get("X-Nonce"))


def mark_spent(request: WSGIRequest, found, claim) -> None:
    if claim.spent:
        request.META[VERIFIED] = found


class DeviceLane:
    def __init__(self, django_app, routes: dict[tuple[str, str], Handler]):
        self.django_app = django_app
        self.routes = routes

    def __call__(self, environ, start_response):
        handler = self.routes.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if handler is None or environ.get("QUERY_STRING"):
            return self.django_app(environ, start_response)
        # #18 item 8: the request id of every log line here, answered in X-Request-ID; written back into the
        # environ, so Django keeps the same one if the request is handed over.
        request_id = request_id_of(environ)
        bound = bind_contextvars(request_id=request_id)
        counting = metrics.lane_request()  # the entry point counts once, even when Django runs it again
        try:
            return self._answer(handler, environ, start_response, request_id)
        finally:
            metrics.lane_done(counting)
            reset_contextvars(**bound)

    def _answer(self, handler: Handler, environ, start_response, request_id: str):
        # Of what Django's request signals do, only the upkeep of this thread's one connection concerns
        # this lane (closed past CONN_MAX_AGE or when broken); the signals cost a decision ~7 % of its Python.
        connection.close_if_unusable_or_obsolete()
        language = settings.LANGUAGE_CODE
        try:
            request = WSGIRequest(environ)
            language = pick_language(request)
            environ["wsgi.input"] = io.BytesIO(request.body)  # read once; Django reads it again on hand-over
            with translation.override(language):
                answer = handler(request)
                reply = None if answer is None else (
                    answer[0], answer[1] if isinstance(answer[1], dict) else answer[1].model_dump(by_alias=True))
        except DomainError:
            reply = None  # Django explains the refusal in the holder's language, with its code
        except RequestDataTooBig:
            with translation.override(language):
                reply = (413, DomainError("request_too_large").as_dict())
        except Exception:  # noqa: BLE001 - answered as the API answers it, never handed on half done
            log.exception("device lane failed on %s", environ.get("PATH_INFO"))
            with translation.override(language):
                reply = (500, DomainError("internal_error").as_dict())
        if reply is None:
            return self.django_app(environ, start_response)
        status, payload = reply
        body = json.dumps(payload, cls=NinjaJSONEncoder).encode()
        start_response(f"{status} {HTTPStatus(status).phrase}", [
            ("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Content-Language", language), ("X-Content-Type-Options", "nosniff"), (REQUEST_ID_HEADER, request_id)])
        return [body]
