"""Lunch rush (issue 5): the real server on PostgreSQL, N holders paying at M POS terminals with
one-time QR codes over HTTP, a share of retries of the same transaction id — then a check that no
payment was lost or doubled, no wallet went negative and the ledger reconciles.

    python bench/lunch_rush.py [--quick] [--holders N] [--terminals M] [--seconds S] [--clients C]

Compared in the same run with raw `pgbench` (simple-update, same database, same client count).
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from _common import ROOT, emit, fresh_database, parse_args, pgbench_tps, start_gunicorn

PORT = 8765
REDIS_URL = "redis://127.0.0.1:6379/7"


def extra_args(parser):
    parser.add_argument("--holders", type=int, default=None)
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections of the load generator")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=8, help="threads per gthread worker")
    parser.add_argument("--retry-share", type=float, default=0.05)


def populate(holders: int, terminals: int) -> dict:
    """Bulk set-up through the same tables the services write (balances match the journal)."""
    from django.db import transaction
    from stdnum import luhn

    from campuscard.cards import codes
    from campuscard.cards.models import Card, Credential
    from campuscard.core import clock
    from campuscard.core.models import Campus, Institution
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.identity.models import Person
    from campuscard.ledger import services as ledger
    from campuscard.ledger.mac import transfer_mac
    from campuscard.ledger.models import Account, Balance, Transfer
    from campuscard.payments import pos
    from campuscard.payments.models import Terminal

    institution = Institution.objects.create(code="rush", name="午高峰大学", name_en="Lunch Rush University")
    Campus.objects.create(institution=institution, code="main", name="Main")
    now = clock.now()
    funding = 50_000  # ¥500 each
    with transaction.atomic():
        people = Person.objects.bulk_create([Person(
            institution=institution, number=f"R{i:07d}", name=f"学生{i}", kind="undergraduate", status="full_time",
            id_number=f"P{i:09d}", id_type="passport") for i in range(holders)], batch_size=5000)
        wallets = Account.objects.bulk_create([Account(
            institution=institution, kind="wallet", code=f"wallet:rush:{p.pk}", name=p.number,
            owner=f"person:{p.pk}", floor=0) for p in people], batch_size=5000)
        Balance.objects.bulk_create([Balance(account=w, stripe=0, floor=0, credits_posted=funding) for w in wallets],
                                    batch_size=5000)
        cards = Card.objects.bulk_create([Card(
            institution=institution, person=p, kind="student", number=f"77{i:09d}" + luhn.calc_check_digit(
                f"77{i:09d}"), state="active", wallet_account_id=w.pk, issued_at=now, state_changed_at=now)
            for i, (p, w) in enumerate(zip(people, wallets, strict=True))], batch_size=5000)
        credentials = Credential.objects.bulk_create([Credential(
            card=c, kind="qr", token=codes.new_token(), secret=codes.new_secret(), created_at=now) for c in cards],
            batch_size=5000)
        cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
        iso = now.isoformat()
        Transfer.objects.bulk_create([Transfer(
            institution=institution, key=f"fund:{w.pk}", request_hash="bench", phase="posted", kind="recharge_window",
            debit=cash, debit_stripe=0, credit=w, credit_stripe=0, amount=funding, created_at=now,
            mac=transfer_mac(institution_id=institution.pk, key=f"fund:{w.pk}", phase="posted",
                             kind="recharge_window", debit_id=cash.pk, credit_id=w.pk, amount=funding,
                             pending_id=None, reverses_id=None, created_at_iso=iso, reference=""))
            for w in wallets], batch_size=5000)
        Balance.objects.filter(account=cash, stripe=0).update(debits_posted=funding * holders)
    merchants = [pos.merchant_open(actor="bench", institution=institution, code=f"canteen{i}", name=f"食堂{i}",
                                   category="canteen") for i in range(5)]
    secrets_by_code = {}
    for i in range(terminals):
        device, secret = device_register(actor="bench", institution=institution, kind=Device.Kind.POS,
                                         code=f"pos-{i:03d}", name=f"POS {i}")
        Terminal.objects.create(device=device, merchant=merchants[i % len(merchants)], counter=f"{i}")
        secrets_by_code[device.code] = secret
    return {"holders": [(c.token, c.secret) for c in credentials], "terminals": secrets_by_code,
            "institution_id": institution.pk, "funding": funding}


def client(worker: int, clients: int, holders: list, terminals: dict, seconds: float, retry_share: float,
           step_seconds: int, out) -> None:
    """One load-generator process: `clients` threads, each a terminal paying for rotating holders."""
    import threading

    import pyotp

    sys.path.insert(0, str(ROOT / "src"))
    from campuscard.devices.signing import sign_headers

    lock = threading.Lock()
    last_step: dict[int, set] = {}
    results = {"latencies": [], "acked": [], "refused": {}, "errors": 0, "retries": 0}
    deadline = time.monotonic() + seconds
    codes_ = list(terminals.items())
    order = list(range(len(holders)))
    random.Random(worker).shuffle(order)
    cursor = [0]

    def next_code():
        """A holder's code for a step they have not used yet (each code is one-time)."""
        now_step = int(time.time()) // step_seconds
        with lock:
            for _ in range(len(order)):
                index = order[cursor[0] % len(order)]
                cursor[0] += 1
                used = last_step.setdefault(index, set())
                for step in (now_step, now_step - 1):
                    if step not in used:
                        used.add(step)
                        token, secret = holders[index]
                        digits = pyotp.TOTP(secret, digits=8, interval=step_seconds).at(step * step_seconds)
                        return f"CC1.{token}.{digits}"
        return None

    def run(thread: int):
        device_code, secret = codes_[(worker * clients + thread) % len(codes_)]
        while time.monotonic() < deadline:
            code = next_code()
            if code is None:
                time.sleep(0.05)
                continue
            body = json.dumps({"txn_id": uuid.uuid4().hex, "amount": random.choice([650, 800, 1200, 1550, 2200]),
                               "code": code}).encode()
            for attempt in range(2 if random.random() < retry_share else 1):
                headers = {**sign_headers(device_code=device_code, secret=secret, method="POST",
                                          path="/api/v1/pos/payments", body=body), "Content-Type": "application/json"}
                start = time.perf_counter()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
                    conn.request("POST", "/api/v1/pos/payments", body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    conn.close()
                except OSError:
                    with lock:
                        results["errors"] += 1
                    continue
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    if attempt:
                        results["retries"] += 1
                    if response.status == 201:
                        results["latencies"].append(elapsed)
                        if attempt == 0:
                            data = json.loads(body)
                            results["acked"].append((device_code, data["txn_id"], data["amount"]))
                    else:
                        code_ = json.loads(payload).get("code", str(response.status))
                        results["refused"][code_] = results["refused"].get(code_, 0) + 1

    threads = [threading.Thread(target=run, args=(t,)) for t in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    out.put(results)


def main() -> None:
    args = parse_args(__doc__, extra_args)
    holders = args.holders or (20_000 if args.quick else 50_000)
    seconds = args.seconds or (12 if args.quick else 45)
    db_url = fresh_database("postgres", "lunch")
    from django.conf import settings
    from django.db import connection

    t0 = time.perf_counter()
    data = populate(holders, args.terminals)
    setup_s = time.perf_counter() - t0
    connection.close()
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "campuscard.settings", "LOG_LEVEL": "WARNING",
           "CAMPUSCARD_DATA_DIR": tempfile.mkdtemp(prefix="lunch-"), "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(["redis-cli", "-n", "7", "FLUSHDB"], capture_output=True)
    server = start_gunicorn(env, PORT, args.workers, args.worker_class, args.threads)
    try:
        processes = 2
        queue: mp.Queue = mp.Queue()
        per = args.clients // processes
        ctx = mp.get_context("fork")
        slices = [data["holders"][i::processes] for i in range(processes)]
        procs = [ctx.Process(target=client, args=(i, per, slices[i], data["terminals"], seconds, args.retry_share,
                                                  settings.QR_STEP_SECONDS, queue)) for i in range(processes)]
        start = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(10)
    latencies = sorted(x for r in results for x in r["latencies"])
    acked = [a for r in results for a in r["acked"]]
    refused: dict[str, int] = {}
    for r in results:
        for k, v in r["refused"].items():
            refused[k] = refused.get(k, 0) + v
    verify = verify_outcome(acked, data)
    tps = pgbench_tps(db_url, args.clients, 10 if args.quick else 20)
    rate = len(acked) / elapsed
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [0] * 99
    emit("lunch_rush", [
        ("holders / terminals", f"{holders:,} / {args.terminals}"),
        ("load", f"{args.clients} connections, {seconds} s, {args.retry_share:.0%} retries of the same txn id"),
        ("set-up", f"{setup_s:.1f} s"),
        ("payments acknowledged", f"{len(acked):,}"),
        ("payments / s", f"{rate:,.0f}"),
        ("latency p50 / p95 / p99", f"{q[49]:.1f} / {q[94]:.1f} / {q[98]:.1f} ms"),
        ("retries answered", f"{sum(r['retries'] for r in results):,}"),
        ("refused (by code)", json.dumps(refused) if refused else "none"),
        ("transport errors", f"{sum(r['errors'] for r in results)}"),
        ("pgbench simple-update tps (same DB, same clients)", f"{tps:,.0f}"),
        ("payments / pgbench", f"{rate / tps:.2f}"),
        ("lost / doubled / negative wallets", f"{verify['lost']} / {verify['doubled']} / {verify['negative']}"),
        ("ledger check", "clean" if verify["ledger_ok"] else "DIFFERENCES"),
    ], {"payments_per_s": round(rate), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1), "pgbench_tps": round(tps), "ratio_to_pgbench": round(rate / tps, 3),
        "holders": holders, "terminals": args.terminals, "clients": args.clients, "payments": len(acked),
        "lost": verify["lost"], "doubled": verify["doubled"], "negative_wallets": verify["negative"],
        "ledger_check_ok": verify["ledger_ok"]})


def verify_outcome(acked: list, data: dict) -> dict:
    from django.db.models import Count, Sum

    from campuscard.ledger.checks import ledger_check
    from campuscard.ledger.models import Balance
    from campuscard.payments.models import Payment

    rows = {(code, txn): amount for code, txn, amount in
            Payment.objects.values_list("terminal__device__code", "txn_id", "amount")}
    lost = sum(1 for code, txn, amount in acked if rows.get((code, txn)) != amount)
    doubled = (Payment.objects.values("terminal", "txn_id").annotate(n=Count("id")).filter(n__gt=1).count())
    negative = Balance.objects.filter(floor__isnull=False).extra(
        where=["credits_posted - debits_posted - debits_pending < 0"]).count()
    total = Payment.objects.aggregate(s=Sum("amount"))["s"] or 0
    assert total >= sum(a for _c, _t, a in acked)
    return {"lost": lost, "doubled": doubled, "negative": negative, "ledger_ok": ledger_check().ok}


if __name__ == "__main__":
    main()
