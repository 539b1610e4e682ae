"""Biometric data encrypted at rest (APP-3, PIPL): registrar photos, their embeddings, liveness frames.

Fernet (AES-128-CBC + HMAC-SHA256, a timestamp, authenticated) under keys derived with HKDF-SHA256 from
the ``BIOMETRIC_KEY`` setting: a comma-separated list, the first encrypts and every one decrypts, so a key
can be rotated (put the new one first, re-encrypt, drop the old). By default it is derived from
SECRET_KEY, so a fresh machine works; docs/operations.md says how to set and rotate it.
"""

from __future__ import annotations

import base64
import struct
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"campuscard biometric data v1"


def _derive(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


@lru_cache(maxsize=4)
def _keys(setting: str) -> MultiFernet:
    secrets = [part.strip() for part in setting.split(",") if part.strip()]
    if not secrets:
        raise ValueError("BIOMETRIC_KEY is empty")
    return MultiFernet([_derive(secret) for secret in secrets])


def _fernet() -> MultiFernet:
    return _keys(settings.BIOMETRIC_KEY)


def encrypt(data: bytes) -> bytes:
    return _fernet().encrypt(data)


def decrypt(token: bytes | memoryview) -> bytes:
    """The plain bytes; ``InvalidToken`` if the token was altered or made under a key no longer set."""
    return _fernet().decrypt(bytes(token))


def reencrypt(token: bytes | memoryview) -> bytes:
    """The same data under the first (current) key."""
    return _fernet().rotate(bytes(token))


def pack(items: list[bytes]) -> bytes:
    """Several blobs in one (frames of an attempt): a count, then each length-prefixed."""
    return struct.pack(">I", len(items)) + b"".join(struct.pack(">I", len(item)) + item for item in items)


def unpack(data: bytes) -> list[bytes]:
    (count,), offset, items = struct.unpack_from(">I", data), 4, []
    for _ in range(count):
        (length,) = struct.unpack_from(">I", data, offset)
        items.append(data[offset + 4:offset + 4 + length])
        offset += 4 + length
    return items


__all__ = ["InvalidToken", "decrypt", "encrypt", "pack", "reencrypt", "unpack"]
