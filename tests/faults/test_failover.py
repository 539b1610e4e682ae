"""A synchronous standby and the fail-over drill (#18 item 2), on loopback with two clusters the test
makes: ``ops/pg_standby.py`` names the standby synchronous on the primary and clones it
(``pg_basebackup``); during a lunch rush (the app reading reports from the standby through
``DATABASE_REPLICA_URL``, money on the primary) the primary dies (``kill -9``), the standby is promoted
(``pg_standby.py promote``), the app is pointed at it and restarted, and the terminals' retries carry on.
No acknowledged payment is lost, none doubled, the ledger is clean on the new primary."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tests.faults import rush

pgcluster, pg_standby = rush.pgcluster, rush.pg_standby

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def copy_database(source: pgcluster.PgCluster, target: pgcluster.PgCluster, name: str) -> None:
    """The migrated schema into the drill's own primary (pg_dump | pg_restore)."""
    target.createdb(name)
    dump = subprocess.run([str(pgcluster.BIN / "pg_dump"), "-Fc", source.url("base")], capture_output=True, check=True)
    subprocess.run([str(pgcluster.BIN / "pg_restore"), "--no-owner", "-d", target.url(name)], input=dump.stdout,
                   capture_output=True, check=True)


def test_failover_to_the_synchronous_standby_loses_no_acknowledged_payment(drill, show):
    primary = pgcluster.PgCluster.create()
    standby = None
    try:
        copy_database(drill.cluster, primary, "app")
        data_file = drill.files / "failover.json"
        drill.dbside("setup-pay", str(data_file), "--holders", "6000", "--terminals", "8", url=primary.url("app"))
        data = json.loads(data_file.read_text())
        standby = primary.standby("standby1", commit="on")
        assert [(s["name"], s["sync_state"]) for s in pg_standby.status(conninfo=primary.conninfo())] == [
            ("standby1", "sync")]
        assert standby.psql("SELECT pg_is_in_recovery()") == "t"

        before = drill.mark(primary, "app")
        env = rush.server_env(primary.url("app"), drill.data_dir, DATABASE_REPLICA_URL=standby.url("app"))
        server = rush.Server(env, rush.free_port())
        server.start()
        tally, stop = rush.Tally(), threading.Event()
        codes = rush.PayCodes(data["holders"], step_seconds=30, seed=7)
        devices = rush.pos_devices(data, port=server.port, tally=tally, stop=stop, codes=codes, seed=7)

        def primary_dies_standby_promoted_app_pointed_at_it():
            primary.kill9()
            standby.promote()
            server.stop()
            server.env = rush.server_env(standby.url("app"), drill.data_dir)
            server.start()

        try:
            report = rush.run_rush(devices, tally, [primary_dies_standby_promoted_app_pointed_at_it])
        finally:
            stop.set()
            server.stop()
        assert standby.psql("SELECT pg_is_in_recovery()") == "f"
        run_file = drill.files / "failover.run.json"
        run_file.write_text(json.dumps({"before": before, "acked": list(tally.acked.values()),
                                        "planned": tally.planned}))
        result = drill.dbside("verify-pay", str(run_file), url=standby.url("app"))
        seen = tally.summary()
        show(f"fail-over: attempted {result['attempted']}, acknowledged {result['acknowledged']}, found once "
              f"{result['found_once']}, doubled {result['doubled']}, lost {result['lost']} (retries {seen['retries']}, "
              f"refused {seen['refused']})", report)
        assert report[0]["acked_before"] > 50, "the rush had not started before the primary died"
        assert report[0]["acked_after_fault"] > 0, "no payment was acknowledged on the new primary"
        assert tally.given_up == []
        assert result["found_once"] == result["acknowledged"]
        assert (result["lost"], result["doubled"], result["wrong_amount"], result["phantom"]) == (0, 0, 0, 0)
        assert result["committed_unanswered"] == 0
        assert result["negative_wallets"] == 0
        assert result["ledger_check"] and result["ledger_verify"]
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()
