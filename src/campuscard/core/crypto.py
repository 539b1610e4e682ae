"""Personal data encrypted at rest (#18 item 7, PIPL): one mechanism for ID numbers, phone numbers, health
records and biometric data (face embeddings, registrar photos, liveness frames).

* **Encryption**: Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under keys derived with HKDF-SHA256 from
  ``settings.PII_KEYS`` — several keys, the first encrypts and every one decrypts, so a key is rotated by
  putting a new one first, running ``campuscard pii rotate`` and dropping the old one.
* **Blind index**: an HMAC-SHA256 of the normalised value under ``settings.PII_INDEX_KEYS`` (a separate key:
  the index must not help anyone holding only the data key, and the other way round). Look-ups by ID
  number or phone go through it (``EncryptedCharField(blind_index=…)`` routes ``exact``/``in`` there),
  never through the plaintext; every other lookup on an encrypted column is refused (FieldError).
* **Model fields**: ``EncryptedCharField``, ``EncryptedDecimalField``, ``EncryptedPositiveSmallIntegerField``
  store a Fernet token in a text column and hand Python the plain value; ``BlindIndexField`` fills itself
  from its source field on save and bulk_create.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import In, Lookup
from django.utils.functional import cached_property

# The label the first (biometric) keys were derived with: kept, so data written before #18 still decrypts.
_INFO = b"campuscard biometric data v1"
_INDEX_INFO = b"campuscard blind index v1"


def _secrets(setting: str | list[str] | tuple[str, ...], name: str) -> tuple[str, ...]:
    parts = setting.split(",") if isinstance(setting, str) else setting
    found = tuple(part.strip() for part in parts if part and part.strip())
    if not found:
        raise ValueError(f"{name} is empty")
    return found


def _hkdf(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode("utf-8"))


@lru_cache(maxsize=8)
def _fernets(secrets: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    """All the keys (decrypt) and the first (encrypts)."""
    fernets = [Fernet(base64.urlsafe_b64encode(_hkdf(secret, _INFO))) for secret in secrets]
    return MultiFernet(fernets), fernets[0]


@lru_cache(maxsize=8)
def _index_keys(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(_hkdf(secret, _INDEX_INFO) for secret in secrets)


def _multi() -> MultiFernet:
    return _fernets(_secrets(settings.PII_KEYS, "PII_KEYS"))[0]


# --- bytes and text ------------------------------------------------------------------------------------

def encrypt(data: bytes) -> bytes:
    return _multi().encrypt(data)


def decrypt(token: bytes | memoryview | str) -> bytes:
    """The plain bytes; ``InvalidToken`` if the token was altered or made under a key no longer set."""
    return _multi().decrypt(token.encode("ascii") if isinstance(token, str) else bytes(token))


def reencrypt(token: bytes | memoryview | str) -> bytes:
    """The same data under the first (current) key."""
    return _multi().rotate(token.encode("ascii") if isinstance(token, str) else bytes(token))


def is_current(token: bytes | memoryview | str) -> bool:
    """Whether the token was made under the current key (rotation skips it: a rerun resumes)."""
    current = _fernets(_secrets(settings.PII_KEYS, "PII_KEYS"))[1]
    try:
        current.decrypt(token.encode("ascii") if isinstance(token, str) else bytes(token))
    except InvalidToken:
        return False
    return True


def looks_encrypted(value: str | bytes) -> bool:
    """A Fernet token: version 0x80 and a 64-bit timestamp, so base64 ``gAAAAA`` (no ID number, phone or
    health value starts so)."""
    return (value.startswith("gAAAAA") if isinstance(value, str) else bytes(value[:6]) == b"gAAAAA")


def encrypt_text(value: str) -> str:
    return encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    return decrypt(token).decode("utf-8")


# --- blind index ---------------------------------------------------------------------------------------

def normalise(value: str) -> str:
    """What the index is computed on: no white space, upper case (a trailing x of an ID number is X)."""
    return re.sub(r"\s+", "", value or "").upper()


def blind_index(value: str) -> str:
    """The index of ``value`` under the current index key; the empty string for an empty value."""
    plain = normalise(value)
    if not plain:
        return ""
    key = _index_keys(_secrets(settings.PII_INDEX_KEYS, "PII_INDEX_KEYS"))[0]
    return hmac.new(key, plain.encode("utf-8"), hashlib.sha256).hexdigest()


def blind_indexes(value: str) -> list[str]:
    """Every index ``value`` may be stored under: one per index key (rows not yet rotated keep the old)."""
    plain = normalise(value)
    if not plain:
        return [""]
    keys = _index_keys(_secrets(settings.PII_INDEX_KEYS, "PII_INDEX_KEYS"))
    return [hmac.new(key, plain.encode("utf-8"), hashlib.sha256).hexdigest() for key in keys]


# --- model fields --------------------------------------------------------------------------------------

class _BlindLookup(Lookup):
    """``field=value`` / ``field__in=values`` on an encrypted field, answered by its blind index column."""

    prepare_rhs = False

    def _plain_values(self) -> Iterable[Any]:
        raise NotImplementedError

    def as_sql(self, compiler, connection):
        field = self.lhs.output_field
        if not isinstance(self.lhs, Col):
            raise ValueError(f"{field.name} is encrypted: only a column can be looked up (through its blind index)")
        index_field = field.model._meta.get_field(field.blind_index)
        values = sorted({index for plain in self._plain_values() for index in blind_indexes(str(plain))})
        if not values:
            raise EmptyResultSet
        return In(Col(self.lhs.alias, index_field), values).as_sql(compiler, connection)


class _BlindExact(_BlindLookup):
    lookup_name = "exact"

    def _plain_values(self):
        return [self.rhs]


class _BlindIn(_BlindLookup):
    lookup_name = "in"

    def _plain_values(self):
        if hasattr(self.rhs, "resolve_expression"):
            raise ValueError("an encrypted field is looked up by plain values, not by a subquery")
        return list(self.rhs)


class _Encrypted(models.Field):
    """Stores a Fernet token of the value's text in a text column; Python sees the plain value."""

    def __init__(self, *args, blind_index: str = "", **kwargs):
        self.blind_index = blind_index
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.blind_index:
            kwargs["blind_index"] = self.blind_index
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "TextField"

    def _plain(self, value: Any) -> str:
        return str(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "as_sql"):
            return value
        value = self.to_python(value)
        if value is None:
            return None
        plain = self._plain(value)
        return "" if plain == "" else encrypt_text(plain)  # empty stays empty: "no phone" is not a secret

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return self.to_python(value) if value == "" and isinstance(self, models.CharField) else None
        # A value written around the ORM in plain (a bulk SQL load, a row from before the migration) reads as
        # it is; `campuscard pii rotate` encrypts it. A token under a key no longer set fails loudly.
        return self.to_python(decrypt_text(value) if looks_encrypted(value) else value)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if self.blind_index and lookup_name == "exact":
            return _BlindExact
        if self.blind_index and lookup_name == "in":
            return _BlindIn
        return None  # Django then refuses the filter (FieldError): a ciphertext compares with nothing

    def get_transform(self, lookup_name):
        return None


class EncryptedCharField(_Encrypted, models.CharField):
    """``max_length`` limits the plain text (forms, validation); the column is text (tokens are longer)."""


class EncryptedDecimalField(_Encrypted, models.DecimalField):
    def _plain(self, value: Any) -> str:
        return str(Decimal(value).quantize(Decimal(1).scaleb(-self.decimal_places)))


class EncryptedPositiveSmallIntegerField(_Encrypted, models.PositiveSmallIntegerField):
    @cached_property
    def validators(self):
        # IntegerField asks the backend for its column's range by internal type; ours is a text column.
        own = self._validators  # type: ignore[attr-defined]  # Field's, not in the stubs
        return [*self.default_validators, *own, MinValueValidator(0), MaxValueValidator(32767)]

    def _plain(self, value: Any) -> str:
        return str(int(value))


class BlindIndexField(models.CharField):
    """HMAC of another field's plain value (``source``), set whenever the row is saved or bulk-created.
    ``bulk_update`` and ``QuerySet.update`` do not call it: callers there set it with ``blind_index``."""

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("db_default", "")  # a row inserted around the ORM gets "" (rotate fills it)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        for key, value in (("max_length", 64), ("editable", False), ("blank", True), ("default", "")):
            if kwargs.get(key) == value:
                kwargs.pop(key)
        if getattr(kwargs.get("db_default"), "value", None) == "" or kwargs.get("db_default") == "":
            kwargs.pop("db_default")
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        if self.source not in model_instance.__dict__:  # deferred: not loaded, so not changed either
            return getattr(model_instance, self.attname)
        value = blind_index(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value


# --- key rotation --------------------------------------------------------------------------------------

# Binary columns that hold tokens made with ``encrypt`` by hand (the biometric data): "app.Model" → fields.
# Registered by their app's ready(); the encrypted text fields are found by their type.
ENCRYPTED_BLOBS: dict[str, tuple[str, ...]] = {}


def register_blobs(label: str, *fields: str) -> None:
    ENCRYPTED_BLOBS[label] = fields


def rotation_targets() -> list[tuple[type[models.Model], list[str], dict[str, str]]]:
    """Every model with encrypted columns: (model, token columns, blind index column → its source column)."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        concrete = {f.name: f.column for f in model._meta.concrete_fields}
        fields = [f for f in model._meta.concrete_fields if isinstance(f, _Encrypted)]
        columns = [f.column for f in fields]
        columns += [concrete[name] for name in ENCRYPTED_BLOBS.get(model._meta.label, ())]
        indexes = {concrete[f.blind_index]: f.column for f in fields if f.blind_index}
        if columns:
            found.append((model, columns, indexes))
    return found


def rotate(*, batch: int = 500, progress=None) -> dict[str, int]:
    """Re-encrypt every token not under the current key and recompute every blind index not under the
    current index key, ``batch`` rows a transaction (rows locked while rewritten, so a concurrent change is
    never overwritten with the old value). Rows already current are skipped: a rerun resumes. ``progress``
    is called as (model label, rows done, rows in the table). Returns the rows rewritten per model."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rewritten: dict[str, int] = {}
    for model, columns, indexes in rotation_targets():
        label, table, pk = model._meta.label, quote(model._meta.db_table), quote(model._meta.pk.column)
        total, done, last, rewritten[label] = model._base_manager.count(), 0, None, 0
        selected = [*columns, *indexes]
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                where = f" WHERE {pk} > %s" if last is not None else ""
                cursor.execute(f"SELECT {pk}, {', '.join(quote(c) for c in selected)} FROM {table}{where} "
                               f"ORDER BY {pk} LIMIT {int(batch)}{lock}", [last] if last is not None else [])
                rows = cursor.fetchall()
                if not rows:
                    break
                changed = []
                for key, *values in rows:
                    row = dict(zip(selected, values, strict=True))
                    new = dict(row)
                    for column in columns:
                        token = row[column]
                        if token in (None, "", b""):
                            continue
                        if isinstance(token, str) and not looks_encrypted(token):
                            new[column] = encrypt_text(token)  # written in plain around the ORM
                        elif not is_current(token):
                            new[column] = (reencrypt(token).decode("ascii") if isinstance(token, str)
                                           else reencrypt(token))
                    for index, source in indexes.items():
                        token = row[source] or ""
                        new[index] = blind_index(decrypt_text(token) if looks_encrypted(token) else token)
                    updates = {c: v for c, v in new.items() if v != row[c]}
                    if updates:
                        changed.append((updates, key))
                for updates, key in changed:
                    cursor.execute(f"UPDATE {table} SET {', '.join(f'{quote(c)} = %s' for c in updates)} "
                                   f"WHERE {pk} = %s", [*updates.values(), key])
                rewritten[label] += len(changed)
                done += len(rows)
                last = rows[-1][0]
            if progress:
                progress(label, done, total)
    return rewritten


# --- data migrations -----------------------------------------------------------------------------------

def encrypt_columns(app_label: str, model_name: str, columns: list[str], *, indexes: dict[str, str] | None = None,
                    batch: int = 1000):
    """A reversible ``RunPython`` for a migration that made ``columns`` encrypted fields (an ``AlterField``
    to text before it): existing plain values are encrypted and the blind ``indexes`` (index → source)
    filled; backwards, the values are decrypted again. Raw SQL: the model's fields would decrypt on read."""
    from django.db import migrations

    def rewrite(apps, schema_editor, forward: bool) -> None:
        model = apps.get_model(app_label, model_name)
        quote, connection = schema_editor.connection.ops.quote_name, schema_editor.connection
        table, fields = quote(model._meta.db_table), [model._meta.get_field(c) for c in columns]
        targets = [*columns, *((indexes or {}) if forward else {})]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote(model._meta.pk.column)}, {', '.join(quote(c) for c in columns)} "
                           f"FROM {table}")
            rows = cursor.fetchall()
            changed = []
            for pk, *values in rows:
                plain = {}
                new = []
                for field, value in zip(fields, values, strict=True):
                    if value is None or value == "":
                        plain[field.name], text = "", value
                    elif forward:
                        plain[field.name] = field._plain(field.to_python(str(value)))
                        text = encrypt_text(plain[field.name])
                    else:
                        text = decrypt_text(value)
                    new.append(text)
                if forward:
                    new += [blind_index(plain[source]) for source in (indexes or {}).values()]
                changed.append((*new, pk))
            sets = ", ".join(f"{quote(c)} = %s" for c in targets)
            for start in range(0, len(changed), batch):
                cursor.executemany(f"UPDATE {table} SET {sets} WHERE {quote(model._meta.pk.column)} = %s",
                                   changed[start:start + batch])

    return migrations.RunPython(lambda apps, editor: rewrite(apps, editor, True),
                                lambda apps, editor: rewrite(apps, editor, False), elidable=False)


__all__ = ["BlindIndexField", "EncryptedCharField", "EncryptedDecimalField", "EncryptedPositiveSmallIntegerField",
           "InvalidToken", "blind_index", "blind_indexes", "decrypt", "decrypt_text", "encrypt", "encrypt_text",
           "is_current", "looks_encrypted", "normalise", "reencrypt", "register_blobs", "rotate", "rotation_targets"]
