"""Jepsen's "bank" workload on the ledger (issue 3 "Proof"; LED-2, LED-3, LED-4, LED-5).

Many clients at once: random transfers between wallets, payments into ONE hot (striped) merchant
account, recharges from cash at the window, partial refunds; duplicate submissions of the same
idempotency key (later, and concurrently from two clients at the same moment); client aborts (an
exception inside the transaction after the transfer, and a connection closed mid-transaction).

At the end: money is conserved (trial balance zero), no wallet is negative, every acknowledged
transfer is in the journal exactly once with its amount and accounts, nothing that was never
acknowledged is there, each account's balance equals what the acknowledgements say, and
``ledger_check`` and ``ledger_verify`` are clean. The workload itself is in ``bank_workload.py``.

* PostgreSQL: 8 threads, each on its own connection, ~1,500 operations (runs in the PostgreSQL leg).
* SQLite: 4 spawned processes on a file database (WAL, BEGIN IMMEDIATE), ~600 operations (runs in the
  SQLite leg; it makes its own database file and never touches the test database).
"""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
from django.db import connection

from tests.ledger import bank_workload as bank

pytestmark = [pytest.mark.slow]


def _wait_for_aborted_sessions() -> None:
    """A client that closed its connection mid-transaction is rolled back by the server on its own;
    wait until no other session of this database is still inside a transaction."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bank_workload_on_postgresql_threads():
    if connection.vendor != "postgresql":
        pytest.skip("the thread workload needs PostgreSQL (DATABASE_URL=postgres://…)")
    clients, ops = 8, 190  # 1,520 operations
    accounts = bank.open_bank(wallets=20, opening=5_000, merchant_stripes=16, code="bank")
    barriers = [threading.Barrier(2) for _ in range(clients // 2)]
    results: dict[int, list[dict]] = {}
    failures: list[BaseException] = []

    def client(n: int) -> None:
        try:
            results[n] = bank.run_client(n, accounts, ops, seed=1, barrier=barriers[n // 2], pair=n // 2)
        except BaseException as exc:  # reported below, with the other clients' results
            failures.append(exc)
            for barrier in barriers:
                barrier.abort()

    threads = [threading.Thread(target=client, args=(n,), name=f"bank-{n}") for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not failures, failures
    _wait_for_aborted_sessions()

    outcomes = [o for n in sorted(results) for o in results[n]]
    report = bank.verify(accounts, outcomes)
    stats = report["stats"]
    print("bank/postgresql", stats)
    assert report["problems"] == []
    assert stats["attempts"] >= clients * ops
    # The workload really did what it claims: acknowledged work, replays, both kinds of abort, refusals.
    assert stats["acknowledged_keys"] > 500 and stats["replays"] > 50
    assert stats.get("aborted:raise", 0) > 20 and stats.get("aborted:close", 0) > 5
    assert stats["shared_keys"] >= (clients // 2) * (ops // bank.SHARED_EVERY)


def _spawn_call(ctx, fn, *args):
    """Run ``fn(*args)`` in a spawned process and return its result."""
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(queue, fn, args))
    process.start()
    ok, value = queue.get(timeout=120)
    process.join(timeout=30)
    if not ok:
        raise AssertionError(f"{fn.__name__} failed in a child process:\n{value}")
    return value


def _child(queue, fn, args) -> None:
    import traceback

    try:
        queue.put((True, fn(*args)))
    except BaseException:
        queue.put((False, traceback.format_exc()))


def test_bank_workload_on_sqlite_processes(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("runs in the SQLite leg (it makes its own SQLite file database)")
    ctx = multiprocessing.get_context("spawn")
    path, data_dir = str(tmp_path / "bank.sqlite3"), str(tmp_path)
    processes, ops = 4, 150
    accounts = _spawn_call(ctx, bank.sqlite_setup, path, data_dir, 12, 5_000, 8)  # migrate once, open accounts

    barriers = [ctx.Barrier(2) for _ in range(processes // 2)]
    queue = ctx.Queue()
    workers = [ctx.Process(target=bank.sqlite_client, name=f"bank-{n}",
                           args=(path, data_dir, n, accounts, ops, 2, barriers[n // 2], n // 2, queue))
               for n in range(processes)]
    for w in workers:
        w.start()
    results: dict[int, list[dict]] = {}
    deadline = time.monotonic() + 120
    while len(results) < processes and time.monotonic() < deadline:
        try:
            n, outcomes = queue.get(timeout=1)
            results[n] = outcomes
        except Exception:  # queue.Empty: see whether a worker died
            if any(w.exitcode not in (None, 0) for w in workers):
                for barrier in barriers:
                    barrier.abort()
                break
    for w in workers:
        w.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * processes, "a worker process failed"
    assert len(results) == processes

    outcomes = [o for n in sorted(results) for o in results[n]]
    report = _spawn_call(ctx, bank.sqlite_verify, path, data_dir, accounts, outcomes)
    stats = report["stats"]
    print("bank/sqlite", stats)
    assert report["problems"] == []
    assert stats["acknowledged_keys"] > 200 and stats["replays"] > 20
    assert stats.get("aborted:raise", 0) > 5 and stats.get("aborted:close", 0) > 1
