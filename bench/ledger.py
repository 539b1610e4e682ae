"""Ledger throughput (issue 3): transfers/s against the machine's own limit, on the same database.

In one run, with the same client count (default 8) on PostgreSQL:

  (a) ``pgbench -N`` (simple-update) TPS — the machine's limit for small write transactions;
  (b) ledger transfers/s spread over many wallets (random pairs), each one
      ``money_transaction(transfer_create)``: durable transaction, idempotency key, conditional
      no-overdraft debit, HMAC'd journal row — the real service call;
  (c) the same, but every transfer credits ONE hot merchant account (striped balance rows);
  (d) the spread workload through django-hordak (the ``bench`` extra), on the same database, with the
      same guarantees a wallet needs: the debit account locked, its balance read through hordak and
      checked, then ``transfer_to`` (hordak itself stores no balance and checks no floor); also shown
      bare (``transfer_to`` alone: no overdraft check, no idempotency).

Load comes from ``--clients`` clients, each a thread with its own connection, spread over
``--processes`` spawned load processes (default 1; ``--processes 8`` = one process per client). On
this 2-core machine, where the clients share the CPUs with PostgreSQL, threads were measured faster
(less client CPU per transfer; see docs/benchmarks.md). Hordak runs in its own load process under
``bench/hordak_settings.py``. Each workload is measured ``--rounds`` times, interleaved, and the
medians are reported, with the CPU time (server backends + clients) per transaction.
Targets (issue 3): (b) ≥ 50% of (a); (c) ≥ 80% of (b); (b) ≥ 5× (d).

    python bench/ledger.py [--quick] [--clients 8] [--processes 1] [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import PG_ADMIN_URL, emit, fresh_database, parse_args

BENCH_DIR = Path(__file__).resolve().parent
HORDAK_SETTINGS = "hordak_settings"
OPENING = 1_000_000  # fen per wallet: no transfer in a run is refused for funds
WARMUP = 1.5  # seconds of load before each measured window (connections open, plans cached)


# --- one client: a loop of transfers for a fixed wall-clock window --------------------------------

def _spread_op(params: dict, client: int):
    from campuscard.ledger.services import AccountRef, transfer_create

    inst = params["institution_id"]
    wallets = [AccountRef(w, inst, 1) for w in params["wallet_ids"]]
    merchant = AccountRef(params["merchant_id"], inst, params["stripes"]) if params["phase"] == "hot" else None
    rng = random.Random(client)
    # A standalone transfer: on PostgreSQL one autocommitted statement (services._apply_standalone);
    # refusals and replays fall back to the ordinary path inside a transaction.
    create = transfer_create
    tag = f"{params['run']}-{params['phase']}-{client}-"

    def op(i: int) -> None:
        debit = rng.choice(wallets)
        credit = merchant
        while credit is None or credit is debit:
            credit = rng.choice(wallets)
        create(key=tag + str(i), debit=debit, credit=credit, amount=rng.randint(1, 100), kind="payment")

    return op


def _hordak_op(params: dict, client: int):
    from decimal import Decimal

    from django.db import transaction
    from djmoney.money import Money
    from hordak.models import Account

    from campuscard.core.db import money_transaction

    accounts = list(Account.objects.filter(pk__in=params["wallet_ids"]))
    rng = random.Random(client)
    guarded = params["phase"] == "hordak"

    def transfer(debit: Account, credit: Account, amount: Money) -> None:
        if guarded:  # what a wallet needs: no race between the balance check and the write
            locked = Account.objects.select_for_update(no_key=True).get(pk=debit.pk)
            if locked.get_simple_balance()["CNY"] < amount:
                raise ValueError("insufficient funds")
        debit.transfer_to(credit, amount, description="payment")

    run = money_transaction(transfer) if guarded else transaction.atomic()(transfer)

    def op(i: int) -> None:
        debit = rng.choice(accounts)
        credit = debit
        while credit is debit:
            credit = rng.choice(accounts)
        run(debit, credit, Money(Decimal(rng.randint(1, 100)) / 100, "CNY"))

    return op


def _client_loop(phase: str, params: dict, client: int, start_at: float, end_at: float, out: list) -> None:
    from django.db import connection

    count = errors = 0
    first_error = ""
    cpu0 = cpu1 = None
    try:
        op = (_hordak_op if phase.startswith("hordak") else _spread_op)({**params, "phase": phase}, client)
        while time.time() < start_at - WARMUP:
            time.sleep(0.01)
        i = 0
        while True:
            began = time.time()
            if began >= end_at:
                break
            if cpu0 is None and began >= start_at:
                cpu0 = time.thread_time()
            try:
                op(i)
            except Exception as exc:  # counted and reported; a run with errors is not a clean run
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]
            else:
                if began >= start_at and time.time() <= end_at:
                    count += 1
            i += 1
        cpu1 = time.thread_time()
        time.sleep(max(0.0, end_at + 0.5 - time.time()))  # the server's CPU is read at end_at: stay till then
    finally:
        connection.close()
    out.append((count, errors, first_error, (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else 0.0))


def _worker(settings_module: str, threads: int, base: int, inbox, outbox) -> None:
    """A load process: ``threads`` clients (each with its own connection) per command."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    if settings_module == HORDAK_SETTINGS:
        import hordak.models  # noqa: F401  (imported now, not inside the first measured second)
    else:
        import campuscard.ledger.services  # noqa: F401

        if os.environ.get("BENCH_PG_PREPARE") == "0":  # --no-prepare: the plain statement
            from django.conf import settings

            settings.PG_PREPARE = False
    outbox.put("ready")
    for phase, params, start_at, end_at in iter(inbox.get, None):
        results: list = []
        pool = [threading.Thread(target=_client_loop, args=(phase, params, base + t, start_at, end_at, results))
                for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        outbox.put(results)


def server_cpu() -> dict[int, float]:
    """CPU seconds used so far by each server process serving this database (Linux /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        pids = [row[0] for row in cursor.fetchall()]
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, ProcessLookupError):
            pass
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(used - before.get(pid, 0.0) for pid, used in after.items())


class Load:
    """``clients`` clients (threads, each with its own connection) spread over ``processes`` spawned
    load processes."""

    def __init__(self, settings_module: str, clients: int, processes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        processes = max(1, min(processes, clients))
        sizes = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
        shape = [(size, sum(sizes[:n])) for n, size in enumerate(sizes)]
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in shape]
        self.procs = [ctx.Process(target=_worker, args=(settings_module, threads, base, inbox, self.outbox))
                      for (threads, base), inbox in zip(shape, self.inboxes, strict=True)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            self.outbox.get(timeout=120)

    def run(self, phase: str, params: dict, seconds: float) -> dict:
        start_at = time.time() + WARMUP + 0.2
        end_at = start_at + seconds
        params = {**params, "run": f"{time.time_ns():x}"}  # fresh idempotency keys for every run
        for inbox in self.inboxes:
            inbox.put((phase, params, start_at, end_at))
        time.sleep(max(0.0, start_at - time.time()))
        server0 = server_cpu()
        time.sleep(max(0.0, end_at - time.time()))
        server = cpu_used(server0, server_cpu())
        results = [r for _ in self.inboxes for r in self.outbox.get(timeout=seconds + 120)]
        count = sum(r[0] for r in results)
        errors = sum(r[1] for r in results)
        first = next((r[2] for r in results if r[2]), "")
        client = sum(r[3] for r in results)
        return {"per_s": count / seconds, "count": count, "errors": errors, "first_error": first,
                "cpu_us": round((server + client) / max(count, 1) * 1e6),
                "server_cpu_us": round(server / max(count, 1) * 1e6), "client_cpu_us": round(client / max(count, 1) * 1e6)}

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.procs:
            p.join(timeout=30)


# --- setup ---------------------------------------------------------------------------------------

def ledger_setup(wallets: int, stripes: int) -> dict:
    from django.db import transaction

    from campuscard.core.models import Institution
    from campuscard.ledger import services as ledger
    from campuscard.ledger.models import Account, Balance

    institution = Institution.objects.create(code="bench", name="Bench University")
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    merchant = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m:canteen",
                                   name="Canteen", floor=None, stripes=stripes)
    with transaction.atomic():  # setup only: the same rows account_open makes, in bulk
        accounts = Account.objects.bulk_create(
            [Account(institution=institution, kind=Account.Kind.WALLET, code=f"w:{i}", name=f"W{i}", floor=0)
             for i in range(wallets)], batch_size=2_000)
        Balance.objects.bulk_create([Balance(account=a, stripe=0, floor=0) for a in accounts], batch_size=5_000)
        cash_ref = ledger.AccountRef.of(cash)
        for a in accounts:
            ledger.transfer_create(key=f"open-{a.pk}", debit=cash_ref, credit=ledger.AccountRef(a.pk, institution.pk, 1),
                                   amount=OPENING, kind="recharge")
    return {"institution_id": institution.pk, "merchant_id": merchant.pk, "stripes": stripes,
            "wallet_ids": [a.pk for a in accounts]}


def _hordak_setup(wallets: int, outbox) -> None:
    """In a spawned process under hordak_settings: migrate hordak, open and fund the wallets."""
    os.environ["DJANGO_SETTINGS_MODULE"] = HORDAK_SETTINGS
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection, transaction
    from djmoney.money import Money
    from hordak.models import Account, Leg, Transaction

    call_command("migrate", verbosity=0, interactive=False)
    with transaction.atomic():
        system = Account.objects.create(name="Cash", type="IN", currencies=["CNY"])
        accounts = Account.objects.bulk_create(  # root nodes of their own trees, as mptt would make them
            [Account(name=f"W{i}", type="AS", currencies=["CNY"], tree_id=system.tree_id + 1 + i, lft=1, rght=2,
                     level=0) for i in range(wallets)], batch_size=2_000)
        opening = Money(Decimal(OPENING) / 100, "CNY")
        txs = Transaction.objects.bulk_create([Transaction(description="opening") for _ in accounts],
                                              batch_size=5_000)
        Leg.objects.bulk_create([leg for tx, a in zip(txs, accounts, strict=True) for leg in (
            Leg(transaction=tx, account=system, credit=opening), Leg(transaction=tx, account=a, debit=opening))],
            batch_size=5_000)
    assert accounts[0].get_simple_balance()["CNY"] == opening
    connection.close()
    outbox.put({"wallet_ids": [a.pk for a in accounts]})


def hordak_setup(wallets: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    outbox = ctx.Queue()
    p = ctx.Process(target=_hordak_setup, args=(wallets, outbox))
    p.start()
    result = outbox.get(timeout=300)
    p.join(timeout=30)
    return result


def hordak_conserved() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(debit), 0) = coalesce(sum(credit), 0) FROM hordak_leg")
        return cursor.fetchone()[0]


# --- pgbench ---------------------------------------------------------------------------------------

def pgbench_run(url: str, clients: int, seconds: int) -> dict:
    """``pgbench -N`` on the bench database: TPS, and CPU µs per transaction (server + pgbench client)."""
    import resource

    exe = shutil.which("pgbench") or "/usr/bin/pgbench"
    db = url.rsplit("/", 1)[1]
    conn = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    subprocess.run([exe, "-i", "-q", *conn, db], check=True, capture_output=True, text=True)
    try:
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        proc = subprocess.Popen([exe, "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), *conn, db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(min(1.0, seconds / 4))
        server0, at0 = server_cpu(), time.time()
        time.sleep(max(0.1, started + seconds - 0.5 - time.time()))
        server, window = cpu_used(server0, server_cpu()), time.time() - at0
        out, err = proc.communicate()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        subprocess.run([exe, "-i", "-I", "d", *conn, db], check=False, capture_output=True)  # drop its tables
    match = re.search(r"tps = ([0-9.]+)", out)
    if proc.returncode or not match:
        raise RuntimeError(f"pgbench failed:\n{out}\n{err}")
    tps = float(match.group(1))
    client = (children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime) / (tps * seconds)
    return {"tps": tps, "cpu_us": round(server / (tps * window) * 1e6 + client * 1e6),
            "server_cpu_us": round(server / (tps * window) * 1e6), "client_cpu_us": round(client * 1e6)}


class SqlCeiling:
    """The ledger's own transfer statement, prepared, driven by pgbench's C client (no Python): what the
    SQL design costs on this machine. It runs on a copy of the bench database made after the setup,
    because its rows carry no valid MAC (``ledger verify`` would rightly flag them)."""

    def __init__(self, url: str, params: dict) -> None:
        import psycopg
        from django.db import connection

        from campuscard.ledger.services import _PG_SQL

        wallets = sorted(params["wallet_ids"])
        low, n = wallets[0], len(wallets)
        if wallets[-1] - low + 1 != n:
            raise RuntimeError("pgbench draws wallet ids from a range: they must be contiguous")
        self.db = url.rsplit("/", 1)[1] + "_sql"
        values = {
            "institution_id": str(params["institution_id"]),
            "key": "'sql-' || :client_id || '-' || md5(random()::text)", "request_hash": "'-'",
            "phase": "'posted'", "kind": "'payment'", "debit_id": ":a", "debit_stripe": "0", "credit_id": ":b",
            "credit_stripe": "0", "amount": "1", "pending_id": "NULL", "reverses_id": "NULL", "reference": "''",
            "metadata": "'{}'", "expires_at": "NULL", "created_at": "now()", "mac": "'-'", "d_posted": "1",
            "d_pending": "0", "c_posted": "1", "c_pending": "0"}
        statement = " ".join(line.strip() for line in (_PG_SQL.replace("::jsonb", "") % values).splitlines())
        self.script = Path(os.environ["CAMPUSCARD_DATA_DIR"]) / "transfer.pgbench"
        self.script.write_text(f"\\set a random({low}, {low + n - 1})\n"
                               f"\\set b {low} + (:a - {low} + random(1, {n - 1})) % {n}\n"
                               f"BEGIN;\n{statement.strip()};\nEND;\n")
        connection.close()  # a template database must have no other sessions
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db}" TEMPLATE "{url.rsplit("/", 1)[1]}"')

    def run(self, clients: int, seconds: int) -> dict:
        exe = shutil.which("pgbench") or "/usr/bin/pgbench"
        run = subprocess.run([exe, "-n", "-M", "prepared", "-f", str(self.script), "-c", str(clients), "-j", "2",
                              "-T", str(seconds), "-h", "127.0.0.1", "-U", "postgres", self.db],
                             capture_output=True, text=True)
        match = re.search(r"tps = ([0-9.]+)", run.stdout)
        failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
        if run.returncode or not match or (failed and int(failed.group(1))):
            raise RuntimeError(f"pgbench with the ledger statement failed:\n{run.stdout}\n{run.stderr}")
        return {"per_s": float(match.group(1)), "cpu_us": 0, "server_cpu_us": 0, "client_cpu_us": 0,
                "errors": 0, "first_error": ""}

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


# --- main ----------------------------------------------------------------------------------------------

def main() -> None:
    def extra(parser):
        parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
        parser.add_argument("--seconds", type=float, default=None, help="measured seconds per workload and round")
        parser.add_argument("--rounds", type=int, default=None,
                            help="rounds of all workloads, interleaved; medians are reported (default 3, quick 1)")
        parser.add_argument("--wallets", type=int, default=None, help="default 10,000 (quick 2,000)")
        parser.add_argument("--stripes", type=int, default=32, help="balance stripes of the hot merchant")
        parser.add_argument("--no-prepare", action="store_true",
                            help="send the transfer statement unprepared (PG_PREPARE = False), to compare")
        parser.add_argument("--processes", type=int, default=1,
                            help="load processes the clients are spread over as threads (default 1: measured "
                                 "fastest on 2 cores; --processes 8 = one process per client)")

    args = parse_args(__doc__, extra)
    if args.db != "postgres":
        sys.exit("bench/ledger.py compares with pgbench and hordak on PostgreSQL: use --db postgres")
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.wallets = args.wallets or (2_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 3)
    sys.path.insert(0, str(BENCH_DIR))
    os.environ["BENCH_PG_PREPARE"] = "0" if args.no_prepare else "1"
    url = fresh_database(args.db, "ledger")
    load_before = os.getloadavg()[0]

    from django.db import connection

    from campuscard.ledger.checks import ledger_check, ledger_verify

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0].split()[0]
    setup_started = time.perf_counter()
    params = ledger_setup(args.wallets, args.stripes)
    hordak = hordak_setup(args.wallets)
    setup_s = time.perf_counter() - setup_started
    connection.close()

    runs: dict[str, list[dict]] = {name: [] for name in ("pgbench", "sql", "spread", "hot", "hordak", "hordak_bare")}
    ceiling = SqlCeiling(url, params)
    ours = Load("campuscard.settings", args.clients, args.processes)
    theirs = Load(HORDAK_SETTINGS, args.clients, args.processes)
    try:
        for _ in range(rounds):  # interleaved, so a noisy moment on a shared machine hits every workload
            pg = pgbench_run(url, args.clients, max(2, round(seconds)))
            runs["pgbench"].append({**pg, "per_s": pg["tps"], "errors": 0, "first_error": ""})
            runs["sql"].append(ceiling.run(args.clients, max(2, round(seconds))))
            runs["spread"].append(ours.run("spread", params, seconds))
            runs["hot"].append(ours.run("hot", params, seconds))
            runs["hordak"].append(theirs.run("hordak", hordak, seconds))
            runs["hordak_bare"].append(theirs.run("hordak_bare", hordak, seconds))
    finally:
        ours.close()
        theirs.close()
        ceiling.drop()
    load_after = os.getloadavg()[0]

    def med(name: str, field: str = "per_s") -> float:
        return statistics.median(r[field] for r in runs[name])

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    check, verify = ledger_check(), ledger_verify()
    conserved = hordak_conserved()
    errors = {name: sum(r["errors"] for r in rs) for name, rs in runs.items() if any(r["errors"] for r in rs)}
    first_errors = [r["first_error"] for rs in runs.values() for r in rs if r["first_error"]]
    pgbench, sql, spread, hot, guarded, bare = (med(n) for n in ("pgbench", "sql", "spread", "hot", "hordak",
                                                                 "hordak_bare"))
    measured = [n for n in runs if n != "sql"]
    cpu = {n: round(med(n, "cpu_us")) for n in measured}
    figures = {
        "pgbench_tps": round(pgbench), "transfers_per_s": round(spread), "hot_transfers_per_s": round(hot),
        "hordak_transfers_per_s": round(guarded), "hordak_bare_transfers_per_s": round(bare),
        "clients": args.clients,
        "spread_vs_pgbench": ratio(spread, pgbench), "hot_vs_spread": ratio(hot, spread),
        "spread_vs_hordak": ratio(spread, guarded), "spread_vs_hordak_bare": ratio(spread, bare),
        "ledger_sql_tps": round(sql), "ledger_sql_vs_pgbench": ratio(sql, pgbench),
        "cpu_us_per_tx": cpu,
        "server_cpu_us_per_tx": {n: round(med(n, "server_cpu_us")) for n in measured},
        "client_cpu_us_per_tx": {n: round(med(n, "client_cpu_us")) for n in measured},
        "cpu_spread_vs_pgbench": ratio(cpu["pgbench"], cpu["spread"]), "cpu_hot_vs_spread": ratio(cpu["spread"], cpu["hot"]),
        "rounds": {n: [round(r["per_s"]) for r in rs] for n, rs in runs.items()},
        "load_processes": args.processes, "prepared_statement": not args.no_prepare, "seconds": seconds, "wallets": args.wallets, "hot_stripes": args.stripes,
        "ledger_check_ok": check.ok, "ledger_verify_ok": verify.ok, "hordak_legs_balance": conserved,
        "errors": errors, "postgresql": pg_version, "cpus": os.cpu_count(),
        "loadavg_before_after": [round(load_before, 2), round(load_after, 2)], "quick": args.quick,
    }

    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    def row(name: str, value: float, unit: str) -> str:
        spread_of = [round(r["per_s"]) for r in runs[name]]
        return (f"{value:>7,.0f} {unit}" + (f"  cpu {cpu[name]:>5,} µs/tx" if name in cpu else "")
                + (f"  rounds {spread_of}" if len(spread_of) > 1 else ""))

    emit("ledger", [
        ("database", f"PostgreSQL {pg_version} on {os.cpu_count()} CPUs (shared with the load generators)"),
        ("clients", f"{args.clients} threads in {args.processes} load process(es), one connection each"),
        ("wallets / hot merchant stripes", f"{args.wallets:,} / {args.stripes}"),
        ("transfer statement", "plain (--no-prepare)" if args.no_prepare else "prepared once per connection"),
        ("rounds × measured seconds", f"{rounds} × {seconds:g} s per workload (medians)  setup {setup_s:.0f} s"),
        ("load average before / after", f"{load_before:.2f} / {load_after:.2f}"),
        ("(a) pgbench -N simple-update", row("pgbench", pgbench, "tps")),
        ("(b) transfers, spread over wallets", row("spread", spread, "/s ")),
        ("(c) transfers, all into one hot merchant", row("hot", hot, "/s ")),
        ("(d) hordak, same guarantees (lock + balance)", row("hordak", guarded, "/s ")),
        ("    hordak bare transfer_to (no checks)", row("hordak_bare", bare, "/s ")),
        ("    the transfer statement alone, from pgbench", row("sql", sql, "tps") + "  (C client, no Python)"),
        ("(b)/(a) spread vs pgbench   [target ≥ 0.50]",
         f"{figures['spread_vs_pgbench']:.2f}  {mark(figures['spread_vs_pgbench'] >= 0.5)}"
         f"   (by CPU per tx: {figures['cpu_spread_vs_pgbench']:.2f})"),
        ("(c)/(b) hot vs spread       [target ≥ 0.80]",
         f"{figures['hot_vs_spread']:.2f}  {mark(figures['hot_vs_spread'] >= 0.8)}"
         f"   (by CPU per tx: {figures['cpu_hot_vs_spread']:.2f})"),
        ("(b)/(d) spread vs hordak    [target ≥ 5]",
         f"{figures['spread_vs_hordak']:.2f}  {mark(figures['spread_vs_hordak'] >= 5)}"
         f"   (vs bare transfer_to: {figures['spread_vs_hordak_bare']:.2f})"),
        ("errors during the runs", ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"),
        *(("first error", e) for e in first_errors[:2]),
        ("ledger check after the run", "clean" if check.ok else f"DIFFERENCES: {check.problems[:3]}"),
        ("ledger verify after the run", "clean" if verify.ok else f"PROBLEMS: {verify.problems[:3]}"),
        ("hordak legs sum to zero", "yes" if conserved else "NO"),
    ], figures)


if __name__ == "__main__":
    main()
