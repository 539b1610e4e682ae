"""Durable money transactions with retry on deadlock / serialisation failure (ARCHITECTURE rule 2)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import re
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg.errors
from django.db import OperationalError, transaction
from django.db.utils import DatabaseError
from psycopg import pq

P = ParamSpec("P")
T = TypeVar("T")

RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if code in RETRYABLE_PGCODES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def money_transaction(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` in ``atomic(durable=True)``; retry a few times if the database says "try again"."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        attempts = 6
        for attempt in range(attempts):
            try:
                with transaction.atomic(durable=True):
                    return fn(*args, **kwargs)
            except DatabaseError as exc:
                if attempt == attempts - 1 or not is_retryable(exc):
                    raise
                time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper


_PARAMETER = re.compile(r"%\((\w+)\)s")


class Prepared:
    """One SQL statement with ``%(name)s`` parameters, PREPAREd by name once per PostgreSQL connection and
    EXECUTEd after that: parsing and planning a long CTE on every call cost more server CPU than running
    it (docs/decisions.md). Django leaves psycopg's own prepared statements off (connection poolers), so we
    PREPARE ourselves; the name carries a digest of the text, so a changed statement is never confused
    with an old one. A parameter without a declared type takes the type of its first use."""

    def __init__(self, name: str, sql: str, types: dict[str, str] | None = None):
        # Not prepared (behind a transaction pooler), psycopg quotes the values in the text: a list of strings
        # arrives untyped, and unnest() of it is ambiguous. There each declared parameter carries its cast.
        typed = types or {}
        self.sql = _PARAMETER.sub(lambda m: f"{m.group(0)}::{typed[m.group(1)]}" if m.group(1) in typed
                                  else m.group(0), sql)
        self.parameters = list(dict.fromkeys(_PARAMETER.findall(sql)))
        position = {p: i for i, p in enumerate(self.parameters, 1)}
        declared = ", ".join((types or {}).get(p, "unknown") for p in self.parameters)
        definition = f"({declared}) AS " + _PARAMETER.sub(lambda m: f"${position[m.group(1)]}", sql)
        self.name = f"campuscard_{name}_{hashlib.sha256(definition.encode()).hexdigest()[:12]}"
        self._prepare = f"PREPARE {self.name} {definition}"
        self._execute_head = f"EXECUTE {self.name} "
        self._execute_bound = f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.parameters))})"

    def execute(self, cursor, params: dict) -> None:
        """Run on ``cursor`` (a cursor of Django's default connection); fetch from it afterwards. The
        arguments are bound by psycopg, never quoted by hand (a NUL is refused, not cut off)."""
        session = cursor.db.connection  # a new one after every reconnect: prepared again there
        if not _prepare_allowed(session):
            cursor.execute(self.sql, params)
            return
        self._prepare_on(cursor, session)
        cursor.execute(self._execute_bound, [params[p] for p in self.parameters])

    def first_row(self, connection, params: dict) -> tuple[str | None, ...]:
        """The statement's first row on Django's ``connection`` (write its columns cast to text). Run by
        libpq's own PQexecPrepared (the GIL released while it waits): the statement's arguments travel as protocol
        parameters, so nothing is quoted here nor parsed by the server, and neither Django's nor psycopg's
        cursor is involved (docs/decisions.md). Errors are Django's database errors, as from a cursor."""
        connection.ensure_connection()
        session = connection.connection
        if not _prepare_allowed(session):
            with connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                return cursor.fetchone()
        if self.name not in getattr(session, "_campuscard_prepared", ()):
            with connection.cursor() as cursor:
                self._prepare_on(cursor, session)
        values = [None if (value := params[p]) is None else
                  (_array_literal(value) if isinstance(value, list) else _text(value)).encode()
                  for p in self.parameters]
        with connection.wrap_database_errors:
            result = session.pgconn.exec_prepared(self.name.encode(), values)
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise psycopg.errors.error_from_result(result, encoding=session.info.encoding)
        return tuple(None if (value := result.get_value(0, column)) is None else value.decode()
                     for column in range(result.nfields))

    def _prepare_on(self, cursor, session) -> None:
        prepared = getattr(session, "_campuscard_prepared", None)
        if prepared is None:
            # Planned once: left to itself PostgreSQL may re-plan a statement over arrays on every call
            # (a "custom plan", most of a gate read's time). Only our statements are prepared, so
            # Django's own queries are unaffected; ours are written to have good generic plans.
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            prepared = session._campuscard_prepared = set()
        if self.name not in prepared:
            # The one generic plan is made once and kept for the connection's life (until a table's
            # statistics change). Our statements read and write by key, but a table that happens to be
            # empty at that moment (the used codes after their purge, a new database) would be planned as
            # a sequential scan, read whole by every later execution as it grows (seen: the used codes in
            # the gate write). So the plan is made here, by EXPLAIN, with sequential scans priced out.
            cursor.execute(self._prepare)  # a prepared statement outlives a rollback of this transaction
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {self._execute_head}({', '.join(['NULL'] * len(self.parameters))})")
            cursor.execute("RESET enable_seqscan")
            prepared.add(self.name)


def _array_literal(values: list) -> str:
    """A PostgreSQL array literal (``{1,NULL,"a"}``) for a list of scalars: the parameter's declared type
    reads it (psycopg's client-side quoting of a list, element by element, cost a gate batch more than
    its read: docs/decisions.md)."""
    kinds = set(map(type, values))
    if kinds == {str}:  # keys, codes, hashes: nothing to escape in all but rare lists
        joined = "".join(values)
        if '"' not in joined and "\\" not in joined and "\x00" not in joined:
            return '{"' + '","'.join(values) + '"}'
    elif kinds == {dt.datetime}:
        return '{"' + '","'.join(map(dt.datetime.isoformat, values)) + '"}'
    elif kinds == {int}:  # ids, counters, amounts (bool is another type: not here)
        return "{" + ",".join(map(str, values)) + "}"
    elif kinds == {bool}:
        return "{" + ",".join(["t" if value else "f" for value in values]) + "}"
    return "{" + ",".join(map(_array_item, values)) + "}"


def _array_item(value) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if type(value) is int:  # the common case first: nothing to quote
        return str(value)
    return '"' + _text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(value) -> str:
    """The text PostgreSQL reads for a scalar of the types our statements take."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        if "\x00" in value:  # libpq would end the value there: refuse rather than store a shorter one
            raise ValueError("a statement parameter contains a NUL character")
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):  # and datetime, whose isoformat carries its offset
        return value.isoformat()
    raise TypeError(f"no literal for {type(value).__name__} (declare a str, int, bool, date or list)")


def _prepare_allowed(session) -> bool:
    """Not when settings say so (``PG_PREPARE = False``, e.g. behind a transaction-pooling PgBouncer),
    nor when psycopg prepares statements itself (``prepare_threshold`` in the database OPTIONS): psycopg
    then runs DEALLOCATE ALL after a rollback, which would drop ours too."""
    from django.conf import settings

    return getattr(settings, "PG_PREPARE", True) and getattr(session, "prepare_threshold", None) is None
