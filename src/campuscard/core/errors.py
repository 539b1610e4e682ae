"""The error-code registry: every refusal has a stable code, an HTTP status and a translated message.

Services raise ``DomainError("card_lost")``; the API, the portal and the CLI render the code and the
message in the user's language. Codes are part of the public contract: never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    message: Promise  # lazy: rendered in the language active when it is shown


REGISTRY: dict[str, ErrorSpec] = {}


def register(code: str, status: int, message: Promise) -> str:
    if code in REGISTRY and REGISTRY[code] != ErrorSpec(status, message):
        raise ValueError(f"error code {code!r} registered twice with different meaning")
    REGISTRY[code] = ErrorSpec(status, message)
    return code


class DomainError(Exception):
    """A refusal with a stable code; ``params`` fill the message's placeholders."""

    def __init__(self, code: str, /, *, details: Any = None, **params: Any) -> None:
        if code not in REGISTRY:
            raise KeyError(f"unregistered error code {code!r}")
        self.code = code
        self.params = params
        self.details = details
        super().__init__(code)

    @property
    def status(self) -> int:
        return REGISTRY[self.code].status

    @property
    def message(self) -> str:
        template = str(REGISTRY[self.code].message)
        try:
            return template % self.params if self.params else template
        except (KeyError, TypeError, ValueError):
            return template

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# Platform-wide codes. Apps register their own in their errors.py modules.
register("validation_error", 422, _("The request is not valid."))
register("not_authenticated", 401, _("Please log in first."))
register("forbidden", 403, _("You are not allowed to do this."))
register("not_found", 404, _("Not found."))
register("idempotency_key_required", 400, _("This request needs an Idempotency-Key."))
register("idempotency_key_reused", 409,
         _("This idempotency key was already used for a different request."))
register("idempotency_in_progress", 409, _("The first request with this idempotency key is still running."))
register("rate_limited", 429, _("Too many attempts. Please try again later."))
register("method_not_allowed", 405, _("This address does not take that method."))
register("request_too_large", 413, _("The request is too large."))
register("internal_error", 500, _("Something went wrong on our side. Please try again."))
