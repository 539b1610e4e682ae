"""A PgBouncer of our own in transaction pooling in front of the machine's PostgreSQL (#18 item 3).

    python tests/ops/pgbouncer.py [--database-url postgres://postgres@127.0.0.1:5432/test] -- COMMAND …

starts Debian's ``pgbouncer`` (its own configuration in a temporary directory, a free port, ``pool_mode =
transaction``, clients trusted, servers reached at the URL's host and port) and runs COMMAND with
``DATABASE_URL`` pointing at the pooler and ``DATABASE_POOLER=pgbouncer`` (no server-side cursors, no
prepared statements: settings.py). CI runs the PostgreSQL money and access tests this way (.ci/run):

    python tests/ops/pgbouncer.py -- ./dev test tests/payments tests/ledger tests/access --reuse-db

pytest-django creates its test database through the pooler, but could not drop it there (PgBouncer keeps
its server connections open), hence ``--reuse-db``: this script drops ``test_<name>`` itself, on the
server directly, before and after. It prints what the pooler served and fails if no transaction of the
test database went through it. ``bench/lunch_rush.py --pgbouncer`` uses ``PgBouncer`` the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """``with PgBouncer(upstream_url) as bouncer:`` — ``bouncer.url(dbname)`` reaches ``dbname`` through it.

    Every database of the upstream server is reachable (``* =``), as the user of the URL. ``pool_size``
    server connections per database: more than the most transactions a test or a benchmark holds open at
    once (a transaction waiting for a server connection while its partner holds a lock would hang)."""

    def __init__(self, upstream_url: str, *, pool_size: int = 32, max_client_conn: int = 2000):
        parts = urlsplit(upstream_url)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 5432
        self.user = parts.username or "postgres"
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self, timeout: float = 20) -> None:
        if not Path(BINARY).exists():
            raise RuntimeError("pgbouncer is missing: apt-get install -y pgbouncer")
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.port = free_port()
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={self.upstream_host} port={self.upstream_port} user={self.user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.dir}
auth_type = trust
auth_file = {self.dir}/userlist.txt
admin_users = {self.user}
stats_users = {self.user}
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = {self.max_client_conn}
; psycopg sends no extra_float_digits, but other clients (pgbench, psql) may
ignore_startup_parameters = extra_float_digits,options
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
log_connections = 0
log_disconnections = 0
""")
        argv = [BINARY, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root: as the postgres user, who owns its files
            shutil.chown(self.dir, "postgres")
            for path in self.dir.iterdir():
                shutil.chown(path, "postgres")
            argv[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read().decode()[-2000:]} {self.log()}")
            try:
                self.show("VERSION")
                return
            except Exception:  # noqa: BLE001 (not listening yet)
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pgbouncer did not answer within {timeout} s: {self.log()}")

    def show(self, what: str) -> list[dict]:
        """``SHOW what`` on the admin console (simple protocol: it knows no other)."""
        import psycopg

        with psycopg.connect(self.url("pgbouncer"), autocommit=True, prepare_threshold=None,
                             cursor_factory=psycopg.ClientCursor) as conn:
            cursor = conn.execute(f"SHOW {what}")
            names = [c.name for c in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def transactions(self, dbname: str) -> tuple[int, int]:
        """(transactions, queries) the pooler has served for ``dbname`` so far."""
        for row in self.show("STATS"):
            if row["database"] == dbname:
                return int(row["total_xact_count"]), int(row["total_query_count"])
        return 0, 0

    def log(self) -> str:
        path = self.dir / "pgbouncer.log" if self.dir else None
        return path.read_text()[-3000:] if path and path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: immediate shutdown, server connections closed
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def drop_database(upstream_url: str, dbname: str) -> None:
    """On the server itself (not through the pooler), sessions and all."""
    import psycopg

    admin = urlunsplit(urlsplit(upstream_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL")
                        or "postgres://postgres@127.0.0.1:5432/test",
                        help="the PostgreSQL server and database behind the pooler (default: $DATABASE_URL)")
    parser.add_argument("--pool-size", type=int, default=32)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND …, run with DATABASE_URL at the pooler")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    dbname = urlsplit(args.database_url).path.lstrip("/")
    test_db = f"test_{dbname}"
    drop_database(args.database_url, test_db)
    with PgBouncer(args.database_url, pool_size=args.pool_size) as bouncer:
        env = {**os.environ, "DATABASE_URL": bouncer.url(dbname), "DATABASE_POOLER": "pgbouncer"}
        env.pop("PG_PREPARE", None)
        print(f"== pgbouncer {bouncer.port} (transaction pooling, {args.pool_size} server connections a database)"
              f" in front of {bouncer.upstream_host}:{bouncer.upstream_port}: {' '.join(command)}", flush=True)
        code = subprocess.run(command, env=env).returncode
        xacts, queries = bouncer.transactions(test_db)
        print(f"== pgbouncer served {xacts:,} transactions, {queries:,} queries on {test_db}", flush=True)
    drop_database(args.database_url, test_db)
    if code == 0 and xacts == 0:
        print(f"== nothing went through pgbouncer to {test_db}: the command did not use DATABASE_URL", flush=True)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
