"""Sending the one-time SMS code (APP-2): a pluggable provider chosen by ``settings.SMS_PROVIDER``.

* ``console`` (the default): the message is written to the log (``campuscard.enrollment.sms``) and kept
  in a short in-process outbox — for development, the demo and tests; nothing leaves the machine.
* ``http``: an HTTP SMS gateway. The message is POSTed as JSON ``{"phone", "text", "sign"}`` to
  ``SMS_HTTP_URL`` with ``Authorization: Bearer SMS_HTTP_TOKEN``; any 2xx answer is a send, anything
  else (or no answer within ``SMS_HTTP_TIMEOUT_SECONDS``) raises ``SmsError``. Most Chinese SMS
  gateways (or a small adapter in front of them) take this shape.

A new provider is a class with ``send(*, phone, text)``, added to ``PROVIDERS``.
"""

from __future__ import annotations

import collections
import json
import logging
import urllib.error
import urllib.request
from typing import Protocol

from django.conf import settings

log = logging.getLogger(__name__)


class SmsError(Exception):
    """The provider did not accept the message."""


class SmsProvider(Protocol):
    def send(self, *, phone: str, text: str) -> None: ...


# The console provider's last messages (phone, text), newest last: read by the demo and the tests.
OUTBOX: collections.deque[tuple[str, str]] = collections.deque(maxlen=100)


class ConsoleProvider:
    def send(self, *, phone: str, text: str) -> None:
        OUTBOX.append((phone, text))
        log.warning("SMS to %s: %s", phone, text)


class HttpProvider:
    def __init__(self, *, url: str, token: str, sign: str, timeout: int) -> None:
        if not url:
            raise SmsError("SMS_HTTP_URL is not set")
        self.url, self.token, self.sign, self.timeout = url, token, sign, timeout

    def send(self, *, phone: str, text: str) -> None:
        body = json.dumps({"phone": phone, "text": text, "sign": self.sign}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SmsError(f"SMS gateway answered {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsError(f"SMS gateway unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise SmsError(f"SMS gateway answered {status}")


PROVIDERS = ("console", "http")


def provider() -> SmsProvider:
    """The configured provider (read at each send, so a settings override applies at once)."""
    if settings.SMS_PROVIDER == "http":
        return HttpProvider(url=settings.SMS_HTTP_URL, token=settings.SMS_HTTP_TOKEN, sign=settings.SMS_HTTP_SIGN,
                            timeout=settings.SMS_HTTP_TIMEOUT_SECONDS)
    return ConsoleProvider()
