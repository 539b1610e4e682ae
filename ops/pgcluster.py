"""A throwaway PostgreSQL cluster for the fault tests, the fail-over drill and ``bench/lunch_rush.py
--replica`` (#18 items 1-2): its own data directory under a temporary directory, its own free port and
socket directory — never the machine's shared cluster.

    cluster = PgCluster.create()          # initdb (as the postgres OS user when run as root), start
    cluster.createdb("app"); cluster.url("app")
    cluster.restart(); cluster.kill9(); cluster.start()
    standby = cluster.standby("standby1") # pg_basebackup through ops/pg_standby.py, synchronous, started
    standby.promote()
    cluster.destroy()

Standard library only: the tests, the bench and ops scripts import it with ``ops/`` on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HERE = Path(__file__).resolve().parent
OWNER = "postgres"


def available() -> str | None:
    """Why a cluster cannot be made here, or None."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


def _as_owner(argv: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: as root, run them as the postgres user."""
    return ["runuser", "-u", OWNER, "--", *argv] if os.geteuid() == 0 else argv


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LC_ALL": "C.UTF-8"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """One cluster: ``base`` holds ``data/``, ``log`` and the socket; it listens on 127.0.0.1:``port``."""

    def __init__(self, base: Path, port: int):
        self.base, self.port = Path(base), port
        self.data, self.logfile = self.base / "data", self.base / "log"

    # --- life ----------------------------------------------------------------------------------------
    @classmethod
    def create(cls, *, settings: dict[str, str] | None = None, start: bool = True) -> PgCluster:
        """initdb into a new temporary directory (trust on loopback only), our settings, started."""
        base = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        cluster = cls(base, free_port())
        cluster._own(base)
        cluster.run(["initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--locale=C.UTF-8", "--no-sync", "--no-instructions"])
        conf = {"listen_addresses": "'127.0.0.1'", "port": str(cluster.port),
                "unix_socket_directories": f"'{base}'", "max_connections": "200", "shared_buffers": "128MB",
                "wal_level": "replica", "max_wal_senders": "10", "max_replication_slots": "10",
                "hot_standby": "on", "wal_keep_size": "256MB", "log_min_messages": "warning",
                "log_line_prefix": "'%m [%p] '", **(settings or {})}
        with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as file:
            file.write("\n# ops/pgcluster.py\n" + "".join(f"{k} = {v}\n" for k, v in conf.items()))
        if start:
            cluster.start()
        return cluster

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, OWNER, OWNER)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """A PostgreSQL program (from ``BIN``) as the cluster's owner."""
        argv = [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0], *argv[1:]]
        out = subprocess.run(_as_owner(argv), env=_env(), capture_output=True, text=True, **kwargs)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}\n{self.log_tail()}")
        return out

    def start(self, timeout: int = 60) -> None:
        if not self.running():
            self._wait_gone(timeout)  # the backends of a killed postmaster hold its shared memory a moment
            if self.pid() is not None:
                # A killed postmaster no one has reaped (a zombie) still "exists" for PostgreSQL's own
                # check of its lock file: the process is gone, as after a machine's crash.
                (self.data / "postmaster.pid").unlink(missing_ok=True)
                (self.base / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        self.run(["pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", str(timeout), "start"])

    def stop(self, mode: str = "fast") -> None:
        self.run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"])

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart``: ``fast`` rolls back open transactions and disconnects everyone; ``immediate``
        is a crash (recovery from the WAL at start)."""
        self.run(["pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-m", mode, "-w", "restart"])

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def processes(self) -> list[int]:
        """The postmaster and every backend: each runs in the data directory (found even once a killed
        postmaster's children have been handed to init)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "cwd") == str(self.data):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def kill9(self) -> None:
        """The server dies: SIGKILL to the postmaster and every backend, nothing flushed or said."""
        pid = self.pid()
        for victim in ([pid] if pid else []) + self.processes():  # the postmaster first: it forks no more
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait_gone(30)

    def _wait_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.processes()
            if not alive:
                return
            if not self.running():  # a stray backend of a dead postmaster: it goes now
                for victim in alive:
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.1)

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except RuntimeError:
                self.kill9()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- use -----------------------------------------------------------------------------------------
    def conninfo(self, user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user}"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(BIN / "psql"), f"{self.conninfo()} dbname={database}", "-X", "-Atq",
                              "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, env=_env())
        if out.returncode != 0:
            raise RuntimeError(f"psql on :{self.port} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def createdb(self, name: str, template: str | None = None) -> str:
        self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- replication (through the operators' script, so the tests exercise it) ----------------------
    def standby(self, name: str = "standby1", *, commit: str = "on", synchronous: bool = True) -> PgCluster:
        """A streaming standby of this cluster on loopback (``ops/pg_standby.py clone``), started; with
        ``synchronous`` this primary waits for it at every commit (``pg_standby.py primary``)."""
        base = Path(tempfile.mkdtemp(prefix="pgcluster-standby-"))
        self._own(base)
        other = PgCluster(base, free_port())
        script = [sys.executable if os.geteuid() != 0 else "/usr/bin/python3", str(HERE / "pg_standby.py")]
        if synchronous:
            _checked([*script, "primary", "--primary", self.conninfo(), "--name", name, "--commit", commit])
        else:  # the slot only: a standby that may lag
            self.psql(f"SELECT pg_create_physical_replication_slot('{name}')")
        other.run([*script, "clone", "--primary", self.conninfo(), "--pgdata", str(other.data), "--name", name,
                   "--port", str(other.port), "--socket-dir", str(base)])
        other.start()
        if synchronous:
            sys.path.insert(0, str(HERE))
            import pg_standby

            pg_standby.wait_sync(conninfo=self.conninfo(), name=name)
        return other

    def promote(self) -> None:
        """``ops/pg_standby.py promote``: this standby becomes a primary."""
        _checked(["/usr/bin/python3" if os.geteuid() == 0 else sys.executable, str(HERE / "pg_standby.py"),
                  "promote", "--standby", self.conninfo()])

    def asynchronous(self) -> None:
        """This primary stops waiting for its standby (it keeps streaming)."""
        self.psql("ALTER SYSTEM SET synchronous_standby_names = ''")
        self.psql("SELECT pg_reload_conf()")


def _checked(argv: list[str]) -> None:
    out = subprocess.run(argv, env=_env(), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (killed, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc: ppid is the 4th field of stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


descendants = _descendants
