#!/usr/bin/env python3
"""A synchronous PostgreSQL standby for CampusCard, and the fail-over drill (#18 item 2).

Needs only python3 and PostgreSQL's client programs (psql, pg_basebackup, pg_ctl), so it runs on the
database machines, where the app is not installed. Run ``clone`` as the ``postgres`` OS user (it writes
the standby's data directory); the others only connect.

    # on the primary: name the standby synchronous, make its replication slot
    pg_standby.py primary  --primary "host=10.0.0.1 user=postgres" --name standby1 [--commit on|remote_apply]
    # on the standby machine, as postgres, with its cluster stopped and its data directory empty:
    pg_standby.py clone    --primary "host=10.0.0.1 user=replicator" --pgdata /var/lib/postgresql/15/main \\
                           --name standby1 [--port 5432]
    pg_ctlcluster 15 main start          # (or pg_ctl -D … start)
    pg_standby.py status   --primary "host=10.0.0.1 user=postgres"     # standby1 … sync
    # the drill: the primary is gone (stopped, fenced off) — promote the standby
    pg_standby.py promote  --standby "host=10.0.0.2 user=postgres"
    # then point the app at 10.0.0.2 (DATABASE_URL, or move the service address) and restart it

``synchronous_commit = on`` (the default here) makes a commit — a payment's acknowledgement — wait until
the standby has the WAL on disk: a fail-over loses no acknowledged payment. ``remote_apply`` also waits
until the standby has applied it, so reads sent to the replica (reports, statements) already see it.
docs/operations.md, "Synchronous standby and fail-over".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # a standby's application_name and slot name


def psql(conninfo: str, sql: str, *, database: str = "postgres") -> str:
    """One statement through psql (unaligned, tuples only); its output."""
    out = subprocess.run(["psql", f"{conninfo} dbname={database}", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def _check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise SystemExit(f"standby name {name!r}: lower-case letters, digits and _ (a slot name)")
    return name


def primary(*, conninfo: str, name: str, commit: str = "on") -> None:
    """Make ``name`` the synchronous standby of this primary: a replication slot keeps the WAL it has
    not received yet, and every commit waits for it (``commit``: on = flushed there, remote_apply =
    applied there). Idempotent."""
    _check_name(name)
    if commit not in ("on", "remote_apply"):
        raise SystemExit("--commit is on or remote_apply (the money path must wait for the standby)")
    psql(conninfo, f"SELECT pg_create_physical_replication_slot('{name}') WHERE NOT EXISTS "
                   f"(SELECT 1 FROM pg_replication_slots WHERE slot_name = '{name}')")
    psql(conninfo, f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (\"{name}\")'")
    psql(conninfo, f"ALTER SYSTEM SET synchronous_commit = '{commit}'")
    psql(conninfo, "SELECT pg_reload_conf()")


def clone(*, primary_conninfo: str, pgdata: str, name: str, port: int | None = None,
          socket_dir: str | None = None) -> None:
    """A new standby in ``pgdata`` (empty or missing) from a base backup of the primary, streaming from
    it under the application name ``name`` through its slot. Start it afterwards."""
    _check_name(name)
    target = Path(pgdata)
    if target.exists() and any(target.iterdir()):
        raise SystemExit(f"{pgdata} is not empty: stop the cluster and empty it first")
    subprocess.run(["pg_basebackup", "-d", primary_conninfo, "-D", pgdata, "-X", "stream", "-c", "fast",
                    "-S", name, "--no-password"], check=True)
    (target / "standby.signal").touch()
    # The copy carries the primary's ALTER SYSTEM settings: a standby promoted later must not wait for a
    # standby of its own (every commit would hang), so it starts without one. Later lines win.
    lines = [f"primary_conninfo = '{_quote(primary_conninfo + ' application_name=' + name)}'",
             f"primary_slot_name = '{name}'", "synchronous_standby_names = ''", "hot_standby = on"]
    if port is not None:
        lines.append(f"port = {int(port)}")
    if socket_dir is not None:
        lines.append(f"unix_socket_directories = '{_quote(socket_dir)}'")
    with open(target / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
        conf.write("\n# pg_standby.py clone\n" + "\n".join(lines) + "\n")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def status(*, conninfo: str) -> list[dict]:
    """The primary's standbys: name, state, sync_state (``sync`` for the synchronous one), lag in bytes."""
    rows = psql(conninfo, "SELECT coalesce(json_agg(json_build_object('name', application_name, 'state', state, "
                          "'sync_state', sync_state, 'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))),"
                          " '[]') FROM pg_stat_replication")
    return json.loads(rows)


def wait_sync(*, conninfo: str, name: str, timeout: float = 60) -> None:
    """Until ``name`` streams as the synchronous standby."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(s["name"] == name and s["sync_state"] == "sync" and s["state"] == "streaming"
               for s in status(conninfo=conninfo)):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} is not a streaming synchronous standby after {timeout:.0f} s: {status(conninfo=conninfo)}")


def promote(*, conninfo: str, timeout: int = 60) -> None:
    """The drill's step: the standby becomes the primary (the old one must be down and stay down — two
    primaries would each take payments). It waits for no standby of its own until one is set up again."""
    if psql(conninfo, "SELECT pg_is_in_recovery()") != "t":
        raise SystemExit("not a standby (already promoted?)")
    if psql(conninfo, f"SELECT pg_promote(true, {int(timeout)})") != "t":
        raise RuntimeError(f"not promoted within {timeout} s")
    psql(conninfo, "ALTER SYSTEM SET synchronous_standby_names = ''")
    psql(conninfo, "SELECT pg_reload_conf()")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("primary", help="name the synchronous standby on the primary")
    p.add_argument("--primary", required=True, help="libpq conninfo of the primary (a superuser)")
    p.add_argument("--name", required=True)
    p.add_argument("--commit", default="on", choices=["on", "remote_apply"])
    c = sub.add_parser("clone", help="make a standby from a base backup (as the postgres user)")
    c.add_argument("--primary", required=True, help="libpq conninfo of the primary (a REPLICATION role)")
    c.add_argument("--pgdata", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--port", type=int)
    c.add_argument("--socket-dir")
    s = sub.add_parser("status", help="the primary's standbys")
    s.add_argument("--primary", required=True)
    w = sub.add_parser("promote", help="promote the standby (the old primary must be down)")
    w.add_argument("--standby", required=True, help="libpq conninfo of the standby (a superuser)")
    args = parser.parse_args(argv)
    if args.command == "primary":
        primary(conninfo=args.primary, name=args.name, commit=args.commit)
        print(f"{args.name} is the synchronous standby (synchronous_commit = {args.commit}); clone it next")
    elif args.command == "clone":
        clone(primary_conninfo=args.primary, pgdata=args.pgdata, name=args.name, port=args.port,
              socket_dir=args.socket_dir)
        print(f"standby {args.name} in {args.pgdata}: start it, then `status` on the primary shows it sync")
    elif args.command == "status":
        print(json.dumps(status(conninfo=args.primary), indent=2))
    else:
        promote(conninfo=args.standby)
        print("promoted: point the app at it (DATABASE_URL) and restart the web processes and the worker")


if __name__ == "__main__":
    sys.exit(main())
