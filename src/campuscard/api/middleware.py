"""The API's one error shape for what Django answers before a route runs (#18 item 9): a 405 was plain
text, and a NUL in a query string reached PostgreSQL (which refuses it: a 500)."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils import translation

from campuscard.core.errors import DomainError
from campuscard.core.middleware import pick_language

API = "/api/"


def _refusal(request, code: str, **headers: str) -> JsonResponse:
    error = DomainError(code)
    with translation.override(pick_language(request)):
        response = JsonResponse(error.as_dict(), status=error.status, json_dumps_params={"ensure_ascii": False})
    for name, value in headers.items():
        response[name] = value
    return response


class ApiErrorShapeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
                "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            if request.path.startswith(API):
                return _refusal(request, "validation_error")
            from django.http import HttpResponseBadRequest
            return HttpResponseBadRequest()
        response = self.get_response(request)
        if (response.status_code == 405 and request.path.startswith(API)
                and not response.get("Content-Type", "").startswith("application/json")):
            return _refusal(request, "method_not_allowed", Allow=response.get("Allow", ""))
        return response
