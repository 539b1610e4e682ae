"""Shared benchmark plumbing: a fresh database, a printed table, a JSON last line and a results file."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def parse_args(description: str, extra=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default=os.environ.get("BENCH_DB", "postgres"),
                        help="database engine (default postgres, the production engine)")
    if extra:
        extra(parser)
    return parser.parse_args()


def fresh_database(engine: str, name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """Create an empty database for this benchmark and return its URL; Django is set up on it.
    ``admin_url``: another PostgreSQL server (a throwaway cluster, ``--replica``) than the machine's."""
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("CAMPUSCARD_DATA_DIR", tempfile.mkdtemp(prefix=f"bench-{name}-"))
    if engine == "postgres":
        import psycopg

        db = f"campuscard_bench_{name}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        url = f"{admin_url.rsplit('/', 1)[0]}/{db}"
    else:
        url = f"sqlite:///{os.environ['CAMPUSCARD_DATA_DIR']}/bench.sqlite3"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
    os.environ.setdefault("HUEY_IMMEDIATE", "true")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return url


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def emit(name: str, table: list[tuple[str, str]], figures: dict) -> None:
    """Print the table, write bench/results/<name>.json, and end with one JSON line."""
    width = max(len(k) for k, _ in table)
    print(f"\n{name}")
    print("-" * (width + 20))
    for key, value in table:
        print(f"{key.ljust(width)}  {value}")
    print("-" * (width + 20))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), **figures}
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, ensure_ascii=False))


def pgbench_tps(db_url: str, clients: int, seconds: int) -> float:
    """The machine's own limit in the same run: pgbench simple-update (-N) on the same database."""
    import re
    import subprocess

    name = db_url.rsplit("/", 1)[1]
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["pgbench", *base, "-i", "-q", "-s", "10", name], check=True, capture_output=True)
    out = subprocess.run(["pgbench", *base, "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), name],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


SERVERS = ["gunicorn-sync", "gunicorn-gthread", "granian"]


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens on it, else a free port the system picks (another engineer's
    run of the same benchmark may hold the usual one)."""
    import socket

    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def start_server(env: dict, port: int, server: str, workers: int, threads: int = 1, timeout: float = 120):
    """The real server (``SERVERS``) with production settings; returns once it answers (its workers
    warm their caches first: with a million holders that takes a while, hence ``timeout``)."""
    import http.client
    import subprocess
    import time

    if server == "granian":  # Rust HTTP/1.1 front, the WSGI app on `threads` blocking threads per worker
        command = ["granian", "--interface", "wsgi", "campuscard.wsgi:application", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
                   "--no-ws", "--log-level", "warning", "--backlog", "2048"]
    else:
        worker_class = server.removeprefix("gunicorn-")
        extra = ["--threads", str(threads)] if worker_class == "gthread" else []
        command = ["gunicorn", "campuscard.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", str(workers), "--worker-class", worker_class, *extra, "--log-level", "warning",
                   "--backlog", "2048", "--keep-alive", "30"]
    server = subprocess.Popen([sys.executable, "-m", *command], env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{command[0]} did not start")


def wrk_replay(requests: list[tuple[str, str, dict, bytes]], *, port: int, connections: int, seconds: float,
               id_pattern: str, threads: int = 2, rate: float = 0) -> dict:
    """Send pre-signed requests with wrk (a C load generator, so the server keeps the CPU), each once.
    With ``rate`` the requests go on a schedule of that many a second (bench/replay.lua), else each
    connection sends its next as soon as it is answered.

    Returns wrk's figures (latencies in ms), the ids its ``id_pattern`` (a Lua pattern) captured from the
    2xx bodies, in answer order, and the refusals by code."""
    import shutil
    import subprocess

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="wrk-"))
    with open(work / "requests", "wb") as file:
        for method, path, headers, body in requests:
            head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}",
                    *(f"{k}: {v}" for k, v in headers.items())]
            raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
            file.write(f"{len(raw)}\n".encode() + raw)
    subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                    "--timeout", "10s", "-s", str(ROOT / "bench" / "replay.lua"), f"http://127.0.0.1:{port}",
                    "--", str(work / "requests"), str(threads), id_pattern, str(rate)],
                   check=True, capture_output=True, env={**os.environ, "WRK_OUT": str(work / "out")})
    lines = (work / "out").read_text().splitlines()
    figures = json.loads(lines[0])
    shutil.rmtree(work)
    refused: dict[str, int] = {}
    for line in lines[1:]:
        if line.startswith("R "):
            _r, code, n = line.split(" ")
            refused[code] = refused.get(code, 0) + int(n)
    return {"requests": figures["requests"], "seconds": figures["duration_us"] / 1e6,
            "errors": sum(figures[k] for k in ("connect", "read", "write", "timeout")),
            "p50_ms": figures["p50_us"] / 1000, "p95_ms": figures["p95_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "max_ms": figures["max_us"] / 1000,
            "ids": [line[2:] for line in lines[1:] if line.startswith("A ")], "refused": refused}


def settle_database() -> None:
    """After a bulk set-up: VACUUM ANALYZE and a CHECKPOINT, as a database in service would be, so the
    run measures the workload rather than autovacuum catching up on what the set-up just loaded."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def fresh_step(step_seconds: int, used: set) -> int:
    """The current code step, once it is one this run has not paid with yet (codes are one-time)."""
    import time

    while (step := int(time.time()) // step_seconds) in used:
        time.sleep(0.2)
    used.add(step)
    return step


def merged_percentiles(segments: list[tuple[int, float, float, float]]) -> tuple[float, float, float]:
    """p50 / p95 / p99 over wrk segments given as (requests, p50, p95, p99): p50 and p95 weighted by
    requests, p99 the worst segment's (never flattering)."""
    weight = sum(n for n, *_ in segments) or 1
    return (sum(n * p for n, p, _q, _r in segments) / weight, sum(n * q for n, _p, q, _r in segments) / weight,
            max((r for *_x, r in segments), default=0.0))


def replay_in_segments(seconds: int, step_seconds: int, build, *, port: int, clients: int, id_pattern: str,
                       rate: float = 0, used: set | None = None, beside=None) -> dict:
    """Replay with wrk in segments of at most 25 s, each in a fresh code step: ``build(step, span)`` signs
    that segment's requests (a one-time code of step S is accepted until S+1 ends, and used once).
    Returns the summed figures, every captured id, refusals by code and per-segment latencies. ``used``
    carries the steps already used over several calls. ``beside(step, span)``, if given, returns a second
    load — (requests, connections, rate) — replayed by another wrk at the same time; its figures are under
    ``beside`` (requests, seconds, errors, latencies)."""
    import threading

    used = set() if used is None else used
    totals = {"requests": 0, "seconds": 0.0, "errors": 0, "ids": [], "refused": {}, "latencies": []}
    other = {"requests": 0, "seconds": 0.0, "errors": 0, "latencies": [], "refused": {}}
    left = seconds
    while left > 0:
        span = min(left, 25)
        step = fresh_step(step_seconds, used)
        side: dict = {}
        thread = None
        if beside is not None:
            requests, connections, side_rate = beside(step, span)

            def run_beside(requests=requests, connections=connections, span=span, rate=side_rate, side=side):
                side.update(wrk_replay(requests, port=port, connections=connections, seconds=span, id_pattern="",
                                       rate=rate))

            thread = threading.Thread(target=run_beside)
            thread.start()
        out = wrk_replay(build(step, span), port=port, connections=clients, seconds=span,
                         id_pattern=id_pattern, rate=rate)
        if thread is not None:
            thread.join()
            for key in ("requests", "seconds", "errors"):
                other[key] += side[key]
            other["latencies"].append((side["requests"], side["p50_ms"], side["p95_ms"], side["p99_ms"]))
            for code, n in side["refused"].items():
                other["refused"][code] = other["refused"].get(code, 0) + n
            totals["beside"] = other
        print(f"  segment: {out['requests']:,} requests in {out['seconds']:.1f} s, "
              f"p99 {out['p99_ms']:.1f} ms, refused {out['refused'] or 'none'}", flush=True)
        for key in ("requests", "seconds", "errors"):
            totals[key] += out[key]
        totals["latencies"].append((out["requests"], out["p50_ms"], out["p95_ms"], out["p99_ms"]))
        totals["ids"] += out["ids"]
        for code, n in out["refused"].items():
            totals["refused"][code] = totals["refused"].get(code, 0) + n
        left -= span
    return totals


# --- history: a database that has been in service for a while ------------------------------------
# Set-based SQL (INSERT … SELECT over generate_series), in batches with progress, never row by row in
# Python: ten million rows take minutes this way. bench/access.py and bench/lunch_rush.py use these.

def run_in_batches(cursor, label: str, total: int, sql: str, params: dict | None = None, *, batch: int = 1_000_000,
                   first: int = 1) -> float:
    """Run ``sql`` once per range ``%(lo)s``…``%(hi)s`` (inclusive) of ``first``…``first + total - 1``, each
    batch its own transaction (autocommit), printing rows done, rate and time left. Returns the seconds."""
    import time

    started = time.perf_counter()
    done = 0
    while done < total:
        n = min(batch, total - done)
        cursor.execute(sql, {**(params or {}), "lo": first + done, "hi": first + done + n - 1})
        done += n
        spent = time.perf_counter() - started
        if total > batch:
            print(f"  {label}: {done:,} / {total:,} ({done / total:.0%}) in {spent:.0f} s, "
                  f"{done / spent:,.0f} rows/s, ~{spent / done * (total - done):.0f} s left", flush=True)
    spent = time.perf_counter() - started
    print(f"  {label}: {total:,} rows in {spent:.1f} s", flush=True)
    return spent


def clone_sql(cursor, table: str, template_id: int, source: str, overrides: dict[str, str]) -> str:
    """``INSERT INTO table … SELECT`` one row per row of ``source`` (a FROM clause), each a copy of the
    template row ``template_id`` but for the ``overrides`` (column -> SQL expression over ``source``).
    Columns are read from the catalogue, so a column added later is copied from the template rather
    than breaking the benchmark. Data-modifying CTEs may follow it (``RETURNING``: add it yourself)."""
    cursor.execute("""SELECT column_name FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = %s AND column_name <> 'id'
                       ORDER BY ordinal_position""", [table])
    columns = [row[0] for row in cursor.fetchall()]
    unknown = set(overrides) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}")
    exprs = ", ".join(overrides.get(c, f"tpl.{c}") for c in columns)
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {exprs} FROM {source} "
            f"CROSS JOIN (SELECT * FROM {table} WHERE id = {int(template_id)}) tpl")


def table_sizes(cursor, tables: list[str]) -> dict[str, dict]:
    """Rows (estimated after ANALYZE) and MB of heap and of indexes, per table."""
    out = {}
    for table in tables:
        cursor.execute("""SELECT c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid)
                            FROM pg_class c WHERE c.oid = %s::regclass""", [table])
        rows, heap, indexes = cursor.fetchone()
        out[table] = {"rows": max(rows, 0), "heap_mb": round(heap / 2**20), "index_mb": round(indexes / 2**20)}
    return out


class without_indexes:
    """``with without_indexes(cursor, tables):`` drops the tables' secondary indexes and unique constraints
    (primary keys stay) and builds them again on leaving, one by one with their time: loading millions of
    rows and then building each index once is several times faster than maintaining them row by row. The
    built indexes are packed (fill factor 90 %) where grown ones are ~70 % full: a little smaller."""

    def __init__(self, cursor, tables: list[str]):
        self.cursor, self.tables, self.constraints, self.indexes = cursor, tables, [], []

    def __enter__(self):
        cursor = self.cursor
        for table in self.tables:
            cursor.execute("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                               WHERE conrelid = %s::regclass AND contype = 'u'""", [table])
            self.constraints += [(table, name, definition) for name, definition in cursor.fetchall()]
            cursor.execute("""SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                               WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
                                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""",
                           [table])
            self.indexes += [(table, name, definition) for name, definition in cursor.fetchall()]
        for table, name, _definition in self.constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for _table, name, _definition in self.indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        return self

    def __exit__(self, kind, error, trace):
        import time

        if kind is not None:
            return False
        started = time.perf_counter()
        for table, name, definition in self.constraints + self.indexes:
            t0 = time.perf_counter()
            if definition.startswith("CREATE"):
                self.cursor.execute(definition)
            else:
                self.cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            print(f"  index {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        print(f"  {len(self.constraints) + len(self.indexes)} indexes built in {time.perf_counter() - started:.1f} s",
              flush=True)
        return False


def db_counters() -> dict:
    """The database's WAL position and block reads/hits: taken before and after a run, the difference per
    operation shows what it cost PostgreSQL (a miss in shared_buffers, a full page image after a checkpoint)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()") if connection.pg_version >= 150000 else None
        cursor.execute("""SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, blks_read, blks_hit
                            FROM pg_stat_database WHERE datname = current_database()""")
        wal, read, hit = cursor.fetchone()
    return {"wal": wal, "read": read, "hit": hit}


def counters_per(before: dict, after: dict, n: int) -> dict:
    n = max(n, 1)
    read, hit = after["read"] - before["read"], after["hit"] - before["hit"]
    return {"wal_kb": round((after["wal"] - before["wal"]) / 1024 / n, 2), "blocks_read": round(read / n, 2),
            "blocks_hit": round(hit / n, 1), "hit_ratio": round(hit / max(hit + read, 1), 4)}


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the app server (its process and workers), the PostgreSQL server processes
    and this benchmark's own process (the client), read from /proc: two readings around a run say where its
    time went. Processes that exit between the readings are not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    split = {"server": 0.0, "database": 0.0, "client": 0.0}
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        pid, parent, used = int(entry), int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if pid == own:
            split["client"] += used
        elif pid == server_pid or parent == server_pid:
            split["server"] += used
        elif name == "postgres" or name.startswith("postgres:"):
            split["database"] += used
    return split


# The PostgreSQL settings docs/operations.md gives a Card Center's server (a day of taps or a year of
# history is gigabytes: Debian's 128 MB of shared_buffers and 1 GB of WAL between checkpoints are a
# laptop's); durability is unchanged. shared_buffers needs a restart: only a throwaway cluster takes it.
SERVER_SETTINGS = {"shared_buffers": "4GB", "wal_compression": "lz4", "max_wal_size": "8GB",
                   "checkpoint_timeout": "15min"}


def throwaway_cluster(settings: dict[str, str]):
    """A PostgreSQL cluster of this run's own on loopback (``ops/pgcluster.py``; never the machine's shared
    one, which others use as it is), removed at exit; pgbench and psql reach it through PGPORT."""
    import atexit

    sys.path.insert(0, str(ROOT / "ops"))
    from pgcluster import PgCluster

    cluster = PgCluster.create(settings=settings)
    atexit.register(cluster.destroy)
    os.environ["PGPORT"] = str(cluster.port)
    print(f"throwaway cluster on 127.0.0.1:{cluster.port} ({cluster.base})", flush=True)
    return cluster
