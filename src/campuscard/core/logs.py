"""Structured logs with a request id (#18 item 8): structlog through the standard library's logging.

Every line — ours, Django's, the libraries' — goes through one ``structlog.stdlib.ProcessorFormatter``:
JSON (one object a line) with ``LOG_FORMAT=json``, a readable console line with ``LOG_FORMAT=console``.
The request id comes from the ``X-Request-ID`` header when it is a plain token (a reverse proxy's
``$request_id``, a device's own id), otherwise a new one; it is bound for the request's every log line
(``structlog.contextvars``, merged into standard-library records too) and answered in ``X-Request-ID``.
Django requests get it from ``RequestIdMiddleware`` + django-structlog's ``RequestMiddleware``; the device
lane, which answers in front of Django, calls ``request_id_of`` itself (api.lane).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets

import structlog
import structlog.tracebacks

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# What a client may choose: a uuid, nginx's hex $request_id, a device's own token — never spaces, quotes or
# control characters, and short (it is written on every line of the request).
ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


# A new id: this process's random prefix and a serial — unique across processes (the prefix is drawn again in
# a forked child), and ~0.2 µs where uuid4's os.urandom cost the device lane several (docs/benchmarks.md).
_prefix = secrets.token_hex(8)
_serial = itertools.count(1)


def _new_prefix() -> None:
    global _prefix
    _prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_prefix)


def new_request_id() -> str:
    return f"{_prefix}{next(_serial):016x}"


def request_id_of(meta: dict) -> str:
    """The request's id (the header's when acceptable, else a new one), written back into the WSGI environ /
    ``request.META`` so that everything after — django-structlog, a hand-over from the lane to Django —
    reads the same one."""
    given = meta.get(META_KEY, "")
    request_id = given if given and ACCEPTED.fullmatch(given) else new_request_id()
    meta[META_KEY] = request_id
    return request_id


class RequestIdMiddleware:
    """Outermost: settles the id before django-structlog binds it, and answers it in ``X-Request-ID``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        structlog.contextvars.clear_contextvars()  # nothing of this thread's previous request
        request_id = request_id_of(request.META)
        response = self.get_response(request)
        # django-structlog unbinds at its end, but Django logs a 4xx/5xx ("Not Found: …") after every
        # middleware has returned: bound again, that line carries the id too (cleared at the next request).
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response.headers[HEADER] = request_id
        return response


def _shared() -> list:
    """What every line gets, structlog's own and the standard library's alike."""
    return [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True)]


def logging_config(*, log_format: str, level: str) -> dict:
    """The ``LOGGING`` dict for settings.py, and structlog set up to hand its events to it."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_shared(), structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(), structlog.processors.UnicodeDecoder(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)
    if log_format == "json":
        # the exception's frames without their local variables: those hold passwords, ID numbers, keys
        tracebacks = structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        render = [tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]
    else:
        render = [structlog.dev.ConsoleRenderer(colors=False)]
    formatter = {"()": structlog.stdlib.ProcessorFormatter, "foreign_pre_chain": _shared(),
                 "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        # huey's own handler would repeat every line the root handler writes (run_huey adds one when none is set)
        "loggers": {"django.db.backends": {"level": "WARNING"},
                    "huey": {"handlers": ["console"], "level": level, "propagate": False}},
    }
