"""Ed25519 signing keys (ACC-3, ACC-5) and the compact visitor code ``CV1.<base32>``.

Code layout (big-endian), then a 64-byte Ed25519 signature over ``b"CV1." + payload``::

    version u8 | pass id u32 | key id u16 | window start u32 | window end u32 | n u8 | n × zone id u32

Window start/end are unix minutes (end exclusive). Base32 without padding is upper-case letters and
digits, so together with the ``CV1.`` prefix the whole code is in the QR alphanumeric mode: a pass for
three zones is 148 characters, a version-7 QR at medium error correction.

Private keys are stored Fernet-encrypted with a key derived from ``SECRET_KEY``; public keys are
cached per process (a key id never gets another key) for ``ACCESS_ZONE_CACHE_SECONDS`` (30 s): a key
retired in another process stops verifying within that time, in this process at once.

Rotation and retirement: ``signing_key_rotate`` makes a new key the active one (it signs new passes
and snapshots); older keys keep verifying until ``signing_key_retire`` retires them. The active key
cannot be retired. Operators do both in the back office (*Access signing keys*) or with
``campuscard access_keys list|rotate|retire``; see ``access.offline`` for how gates follow.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import threading
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction

from campuscard.access.models import AccessSigningKey
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize

PREFIX = "CV1."
VERSION = 1
_HEAD = struct.Struct(">BIHIIB")
_SIG = 64
_lock = threading.Lock()
_public: dict[tuple[int, int], tuple[Ed25519PublicKey, float]] = {}
_retired: set[tuple[int, int]] = set()  # retired by this process (others: within the cache time)
MANAGE_PERMISSION = "access.add_accesssigningkey"


@dataclass(frozen=True)
class VisitorClaims:
    pass_id: int
    key_id: int
    start_minute: int
    end_minute: int
    zone_ids: tuple[int, ...]


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"campuscard-access-keys:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _raw_public(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def _authorize(actor: Actor, institution_id: int) -> None:
    """Users need ``access.add_accesssigningkey`` in that institution; named components (the CLI, the
    system creating a first key) are trusted callers."""
    if actor.kind != "system":
        authorize(actor.user, MANAGE_PERMISSION, institution_id)


def signing_key_rotate(*, actor: Actor, institution_id: int) -> AccessSigningKey:
    """Create the institution's next key and make it the one that signs; older keys keep verifying."""
    _authorize(actor, institution_id)
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    for _attempt in range(3):
        try:
            with transaction.atomic():
                last = (AccessSigningKey.objects.select_for_update().filter(institution_id=institution_id)
                        .order_by("-key_id").first())
                AccessSigningKey.objects.filter(institution_id=institution_id, active=True).update(active=False)
                key = AccessSigningKey.objects.create(
                    institution_id=institution_id, key_id=(last.key_id + 1) if last else 1,
                    private_key=_fernet().encrypt(raw).decode(), public_key=_raw_public(private.public_key()),
                    active=True, created_at=clock.now())
                audit_record(actor=actor, action="access_key_rotated", obj=key, institution_id=institution_id,
                             after={"key_id": key.key_id})
                return key
        except IntegrityError:  # two rotations at once: the loser retries on the new state
            continue
    raise DomainError("access_key_missing")


def signing_key_retire(*, actor: Actor, institution_id: int, key_id: int) -> AccessSigningKey:
    """Retire an older key: passes it signed are refused from now on, online (within the public-key cache
    time in other processes) and offline from the next snapshot, which it no longer signs. The active key
    cannot be retired; retiring a retired key changes nothing."""
    _authorize(actor, institution_id)
    with transaction.atomic():
        key = (AccessSigningKey.objects.select_for_update()
               .filter(institution_id=institution_id, key_id=key_id).first())
        if key is None:
            raise DomainError("access_key_unknown")
        if key.active:
            raise DomainError("access_key_active")
        if key.retired_at is not None:
            return key
        key.retired_at = clock.now()
        key.save(update_fields=["retired_at"])
        audit_record(actor=actor, action="access_key_retired", obj=key, institution_id=institution_id,
                     after={"key_id": key.key_id, "retired_at": key.retired_at.isoformat()})
    with _lock:  # remembered, not only dropped: a thread that read the key just before cannot cache it back
        _retired.add((institution_id, key_id))
        _public.pop((institution_id, key_id), None)
    return key


def active_key(institution_id: int, *, create: bool = True) -> AccessSigningKey:
    key = AccessSigningKey.objects.filter(institution_id=institution_id, active=True).first()
    if key is None:
        if not create:
            raise DomainError("access_key_missing")
        key = signing_key_rotate(actor=Actor.system("system"), institution_id=institution_id)
    return key


def private_key(key: AccessSigningKey) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_fernet().decrypt(key.private_key.encode()))


def public_key(institution_id: int, key_id: int) -> Ed25519PublicKey | None:
    """The key that verifies codes of ``key_id``, or None if there is none or it is retired. Cached per
    process for ``ACCESS_ZONE_CACHE_SECONDS``, so a retirement elsewhere applies within that time; an
    absent or retired key is never cached."""
    if (institution_id, key_id) in _retired:
        return None
    cached = _public.get((institution_id, key_id))
    now = time.monotonic()
    if cached is not None and now - cached[1] < getattr(settings, "ACCESS_ZONE_CACHE_SECONDS", 30):
        return cached[0]
    text = (AccessSigningKey.objects.filter(institution_id=institution_id, key_id=key_id, retired_at=None)
            .values_list("public_key", flat=True).first())
    if text is None:
        with _lock:
            _public.pop((institution_id, key_id), None)
        return None
    key = public_key_from_b64(text)
    with _lock:
        _public[(institution_id, key_id)] = (key, now)
    return key


def forget() -> None:
    with _lock:
        _public.clear()
        _retired.clear()


def sign(key: AccessSigningKey, message: bytes) -> bytes:
    return private_key(key).sign(message)


def encode_visitor_code(key: AccessSigningKey, claims: VisitorClaims) -> str:
    payload = _HEAD.pack(VERSION, claims.pass_id, claims.key_id, claims.start_minute, claims.end_minute,
                         len(claims.zone_ids)) + b"".join(struct.pack(">I", z) for z in claims.zone_ids)
    blob = payload + sign(key, PREFIX.encode() + payload)
    return PREFIX + base64.b32encode(blob).decode().rstrip("=")


class CodeRefused(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def parse_visitor_code(code: str) -> tuple[VisitorClaims, bytes, bytes]:
    """Split a code into its claims, the signed message and the signature; ``CodeRefused`` if malformed."""
    code = (code or "").strip()
    if not code.upper().startswith(PREFIX):
        raise CodeRefused("refuse_code_invalid")
    text = code[len(PREFIX):].upper()
    try:
        blob = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise CodeRefused("refuse_visitor_forged")
    if len(blob) < _HEAD.size + _SIG:
        raise CodeRefused("refuse_visitor_forged")
    payload, sig = blob[:-_SIG], blob[-_SIG:]
    version, pass_id, key_id, start, end, count = _HEAD.unpack_from(payload)
    if version != VERSION or len(payload) != _HEAD.size + 4 * count:
        raise CodeRefused("refuse_visitor_forged")
    zones = tuple(struct.unpack_from(f">{count}I", payload, _HEAD.size)) if count else ()
    return VisitorClaims(pass_id, key_id, start, end, zones), PREFIX.encode() + payload, sig


def verify_visitor_code(code: str, lookup) -> VisitorClaims:
    """Check the signature with ``lookup(key_id) -> Ed25519PublicKey | None``; ``CodeRefused`` if not genuine."""
    claims, message, sig = parse_visitor_code(code)
    key = lookup(claims.key_id)
    if key is None:
        raise CodeRefused("refuse_visitor_forged")
    try:
        key.verify(sig, message)
    except InvalidSignature:
        raise CodeRefused("refuse_visitor_forged")
    return claims
