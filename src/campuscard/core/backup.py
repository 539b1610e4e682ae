"""Database backup and restore (#18 item 8; docs/operations.md, "Backup and restore").

PostgreSQL: ``pg_dump`` in its custom format (``-Fc``: compressed, restored selectively and in one
transaction by ``pg_restore``), taken from one consistent snapshot while the platform runs. SQLite: the
online backup API (``sqlite3.Connection.backup``): a consistent copy page by page while the database is in
use, WAL included — copying the file could catch a write half done.

The database is not everything: keep the keys with the backups — ``SECRET_KEY`` (or the key file in
``CAMPUSCARD_DATA_DIR``), ``LEDGER_MAC_KEY`` (the ledger's row MACs and day seals; derived from the secret
key by default) and those of the personal data encrypted at rest — and the uploaded files (``MEDIA_ROOT``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

PG_MAGIC = b"PGDMP"  # pg_dump's custom format
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why (the commands print it)."""


@dataclass(frozen=True)
class Target:
    """The database to back up or restore: Django's settings dictionary of it (``NAME``, ``HOST`` …)."""

    engine: str  # "postgresql" | "sqlite"
    settings: dict
    alias: str | None  # Django's connection, when it is the configured database

    @property
    def label(self) -> str:
        if self.engine == "sqlite":
            return f"SQLite {self.settings['NAME']}"
        return f"PostgreSQL {self.settings.get('HOST') or 'localhost'}:{self.settings.get('PORT') or 5432}/{self.settings['NAME']}"


def database_target(*, database_url: str = "") -> Target:
    """The configured database, or the PostgreSQL server ``database_url`` names (behind PgBouncer: the server
    itself — pg_dump's and pg_restore's session settings do not survive transaction pooling)."""
    if database_url:
        import dj_database_url

        config = dj_database_url.parse(database_url)
        engine = _engine(config["ENGINE"])
        if engine != "postgresql":
            raise BackupError("--database-url names a PostgreSQL server (postgres://…)")
        return Target(engine, dict(config), None)
    connection = connections[DEFAULT_DB_ALIAS]
    engine = _engine(connection.settings_dict["ENGINE"])
    if engine == "postgresql" and settings.DATABASE_POOLER:
        raise BackupError("DATABASE_URL is a transaction pooler (DATABASE_POOLER): pass --database-url with the "
                          "PostgreSQL server's own address")
    return Target(engine, connection.settings_dict, DEFAULT_DB_ALIAS)


def _engine(engine: str) -> str:
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        return "sqlite"
    raise BackupError(f"cannot back up a {engine} database")


def default_path(target: Target) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "dump" if target.engine == "postgresql" else "sqlite3"
    return Path(settings.DATA_DIR) / "backups" / f"campuscard-{stamp}.{suffix}"


def database_backup(*, target: Target, path: Path) -> Path:
    """Write a backup of ``target`` to ``path`` (first as ``path.partial``, renamed once complete and read
    back: a backup that failed half-way never looks like one). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if target.engine == "postgresql":
            _run(["pg_dump", "--format=custom", "--file", str(partial)], target)
            _run(["pg_restore", "--list", str(partial)], target)  # its table of contents reads back
        else:
            source = _sqlite_connection(target)
            with sqlite3.connect(partial) as copy:
                source.backup(copy)
                _sqlite_intact(copy, partial)
            copy.close()
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def database_restore(*, target: Target, path: Path) -> None:
    """Replace ``target``'s contents with the backup at ``path``. PostgreSQL: ``pg_restore --clean`` in one
    transaction (all or nothing; the objects of the backup are dropped and made again). SQLite: the online
    backup API the other way round (every page replaced, under the database's lock). Stop the web servers
    and the worker first (docs/operations.md): they would keep serving from their caches."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with open(path, "rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if target.engine == "postgresql":
        if not head.startswith(PG_MAGIC):
            raise BackupError(f"{path} is not a pg_dump custom-format backup (campuscard backup on PostgreSQL)")
        if target.alias is not None:
            connections[target.alias].close()  # ours holds no lock, but keeps prepared plans of the old tables
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
              "--dbname", target.settings["NAME"], str(path)], target)
        return
    if head != SQLITE_MAGIC:
        raise BackupError(f"{path} is not an SQLite backup (campuscard backup on SQLite)")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source:
        _sqlite_intact(source, path)
        source.backup(_sqlite_connection(target))
    source.close()


def _sqlite_connection(target: Target) -> sqlite3.Connection:
    """Django's own connection when it is the configured database (an in-memory test database has no file)."""
    if target.alias is None:
        return sqlite3.connect(target.settings["NAME"])
    connection = connections[target.alias]
    connection.ensure_connection()
    if connection.in_atomic_block:
        raise BackupError("the database is in a transaction of this process")
    return connection.connection


def _sqlite_intact(conn: sqlite3.Connection, path: Path) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{path}: integrity check failed: {result}")


def _run(argv: list[str], target: Target) -> None:
    """A PostgreSQL client program against ``target``, connection parameters in libpq's environment
    variables (a password never appears in the process list)."""
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is missing (Debian: apt-get install postgresql-client)")
    config = target.settings
    env = {**os.environ, "PGHOST": str(config.get("HOST") or ""), "PGPORT": str(config.get("PORT") or ""),
           "PGUSER": str(config.get("USER") or ""), "PGDATABASE": str(config["NAME"])}
    if config.get("PASSWORD"):
        env["PGPASSWORD"] = str(config["PASSWORD"])
    env = {k: v for k, v in env.items() if v != "" or k not in {"PGHOST", "PGPORT", "PGUSER"}}
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise BackupError(f"{argv[0]} failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")
