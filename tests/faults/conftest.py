"""The fault drills' PostgreSQL: a throwaway cluster the tests make (ops/pgcluster.py: initdb as the
postgres user, a free port, a temporary directory) — never the machine's shared one — with one migrated
database that each drill's databases are copied from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults import rush  # puts bench/, ops/ and src/ on sys.path

pgcluster = rush.pgcluster

DBSIDE = Path(__file__).with_name("dbside.py")


def on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@dataclass
class Drill:
    cluster: pgcluster.PgCluster
    data_dir: str
    files: Path
    pay: dict = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    codes: object = None

    @staticmethod
    def mark(cluster, database: str) -> dict:
        """Where a run starts: the last payment and gate event ids (the run's rows come after)."""
        return {"payment_id": int(cluster.psql("SELECT coalesce(max(id), 0) FROM payments_payment", database)),
                "event_id": int(cluster.psql("SELECT coalesce(max(id), 0) FROM access_accessevent", database))}

    def dbside(self, *args: str, url: str, timeout: float = 600) -> dict:
        """``tests/faults/dbside.py ARGS`` against ``url``; its last line (JSON)."""
        out = subprocess.run([sys.executable, str(DBSIDE), *args], env=rush.server_env(url, self.data_dir),
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"dbside {args} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
        if out.stderr.strip():
            print(out.stderr[-3000:], file=sys.stderr)
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def drill():
    if not on_postgresql():
        pytest.skip("the fault drills run in the PostgreSQL run (on a PostgreSQL cluster of their own)")
    why = pgcluster.available()
    if why:
        pytest.skip(f"no PostgreSQL cluster can be made here: {why}")
    cluster = pgcluster.PgCluster.create()
    files = Path(tempfile.mkdtemp(prefix="faults-"))
    data_dir = str(files / "data")
    os.makedirs(data_dir)
    try:
        state = Drill(cluster=cluster, data_dir=data_dir, files=files)
        cluster.createdb("base")
        state.dbside("migrate", url=cluster.url("base"))
        cluster.createdb("pay", template="base")
        cluster.createdb("gate", template="base")
        state.dbside("setup-pay", str(files / "pay.json"), "--holders", "10000", "--terminals", "16",
                     url=cluster.url("pay"))
        state.dbside("setup-gate", str(files / "gate.json"), "--holders", "3000", "--gates", "8",
                     url=cluster.url("gate"))
        state.pay = json.loads((files / "pay.json").read_text())
        state.gate = json.loads((files / "gate.json").read_text())
        state.codes = rush.PayCodes(state.pay["holders"], step_seconds=30, seed=5)
        yield state
    finally:
        cluster.destroy()
        shutil.rmtree(files, ignore_errors=True)



@pytest.fixture
def show(request):
    """#18's proof: the drills print their counts (attempted, acknowledged, found once, doubled, lost) in CI's
    output, passing or not — through the terminal reporter with capture suspended (print() alone is captured)."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def line(*parts) -> None:
        text = " ".join(str(part) for part in parts)
        print(text)  # in the failure report too
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(text)
    return line
