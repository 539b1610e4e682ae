"""The device request signature: HMAC-SHA256 over method, path, timestamp, nonce and body hash.

    X-Device-Id: <code>   X-Timestamp: <unix seconds>   X-Nonce: <16+ random chars>
    X-Signature: hex(HMAC-SHA256(secret, METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA256(body))))

PATH is the path with its query string (``/api/v1/devices/deny-list?since=7``), so parameters
cannot be changed in transit.

Devices sign with the secret shown once when they were registered; a browser device page signs
with WebCrypto the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def sign_headers(*, device_code: str, secret: str, method: str, path: str, body: bytes = b"",
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(12)
    return {"X-Device-Id": device_code, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": signature(secret, method, path, ts, nonce, body)}
