"""Biometric data encrypted at rest (APP-3, PIPL): registrar photos, their embeddings, liveness frames.

The one mechanism of personal data at rest, ``core.crypto`` (#18 item 7): Fernet under the ``PII_KEYS``
(the first encrypts, all decrypt; ``campuscard pii rotate`` re-encrypts). Here only the packing of several
frames into one blob.
"""

from __future__ import annotations

import struct

from campuscard.core.crypto import InvalidToken, decrypt, encrypt, reencrypt


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
