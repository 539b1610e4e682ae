"""A day of bus validator uploads (issue 20, TRN-2): the real server on PostgreSQL, V signed validators
uploading their offline taps in batches of 200–2,000 (5 % of batches sent twice, 1 % of taps by cards on
the deny-list that the validators did not have yet), then a check that every tap is stored once, every
charged tap has exactly one journal row and its fare reached the operator's clearing account, and the
ledger checks clean. Compared in the same run with raw `pgbench` (simple-update, same database). The run
has a PostgreSQL cluster of its own, set as docs/operations.md says (``_common.SERVER_SETTINGS``);
``--shared-cluster`` runs on the machine's server as it is set.

    python bench/transit.py [--quick] [--validators V] [--taps N] [--holders H] [--clients C] [--shared-cluster]
                            [--server granian|gunicorn-sync|gunicorn-gthread] [--workers W] [--threads T]

Full run: 500 validators, 2,000,000 taps, 200,000 holders. ``--quick``: 40 validators, 60,000 taps, 5,000
holders (under a minute). Each upload is ONE ledger statement over its taps (``ledger.batch``), not a
transaction per tap. The uploads are few and large (200–2,000 taps): a Python client with C keep-alive
connections sends them, each signed just before it is sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import tempfile
import time

from _common import (
    ROOT,
    SERVER_SETTINGS,
    SERVERS,
    clone_sql,
    cpu_split,
    emit,
    free_port,
    fresh_database,
    parse_args,
    pgbench_tps,
    settle_database,
    start_server,
    throwaway_cluster,
)

REDIS_URL = "redis://127.0.0.1:6379/9"
PATH = "/api/v1/transit/validator/taps"
WALLET = 20_000  # fen each holder starts with
FARE = 200  # K1's full fare; students pay half


def extra_args(parser):
    parser.add_argument("--validators", type=int, default=None)
    parser.add_argument("--taps", type=int, default=None)
    parser.add_argument("--holders", type=int, default=None)
    parser.add_argument("--clients", type=int, default=8, help="connections uploading at once")
    parser.add_argument("--server", choices=SERVERS, default="gunicorn-sync")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--shared-cluster", action="store_true",
                        help="the machine's PostgreSQL as it is set, not a throwaway cluster set as "
                             "docs/operations.md says: " + ", ".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items()))


def populate(holders: int, validators: int) -> dict:
    """Holders with cards, funded wallets (real journal rows), NFC credentials and bindings, in bulk SQL."""
    from django.db import connection, transaction

    from campuscard.core.actors import Actor
    from campuscard.core.models import Campus, Institution
    from campuscard.ledger import services as ledger
    from campuscard.ledger.mac import transfer_mac
    from campuscard.ledger.models import Account
    from campuscard.transit import services
    from campuscard.transit.models import Route

    actor = Actor.system("bench")
    institution = Institution.objects.create(code="bus", name="公交大学", name_en="Bus University")
    Campus.objects.create(institution=institution, code="main", name="主校区")
    operator = services.operator_create(actor=actor, institution=institution, code="citybus", name="市公交")
    route = Route.objects.create(operator=operator, code="K1", name="一号线", fare=FARE)
    source = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.SUSPENSE)
    now = dt.datetime.now(dt.UTC)
    iso = now.isoformat()
    # one holder made by the real services, the rest cloned from it (``clone_sql``) in a few statements
    from campuscard.cards.services import card_issue, nfc_bind
    from campuscard.identity.models import Person

    template = Person.objects.create(institution=institution, number="B000000000", name="乘客", kind="undergraduate",
                                     status="full_time", id_type="passport", id_number="P000000000")
    card = card_issue(actor=actor, person=template)
    credential = nfc_bind(actor=actor, card=card, uid="B00000000000")
    binding = services.binding_create(actor=actor, card=card, accept_terms=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(clone_sql(cursor, "identity_person", template.pk, "generate_series(1, %s) g", {
            "number": "'B' || lpad(g::text, 9, '0')", "id_number": "'P' || lpad(g::text, 9, '0')",
            "name": "'乘客' || g"}), [holders])
        cursor.execute(clone_sql(cursor, "ledger_account", card.wallet_account_id,
                                 "identity_person p", {"code": "'wallet:' || p.id", "owner": "'person:' || p.id"})
                       + " WHERE p.institution_id = %s AND p.id <> %s", [institution.pk, template.pk])
        cursor.execute("""
            INSERT INTO ledger_balance (account_id, stripe, floor, debits_posted, credits_posted, debits_pending,
                                        credits_pending)
            SELECT id, 0, 0, 0, %s, 0, 0 FROM ledger_account
             WHERE institution_id = %s AND kind = 'wallet' AND id <> %s""",
                       [WALLET, institution.pk, card.wallet_account_id])
        cursor.execute("UPDATE ledger_balance SET credits_posted = %s WHERE account_id = %s",
                       [WALLET, card.wallet_account_id])
        cursor.execute("SELECT id FROM ledger_account WHERE institution_id = %s AND kind = 'wallet' ORDER BY id",
                       [institution.pk])
        wallets = [r[0] for r in cursor.fetchall()]
        rows = [(institution.pk, f"fund:{w}", "x", "posted", "recharge", source.pk, 0, w, 0, WALLET, "", "{}", now,
                 transfer_mac(institution_id=institution.pk, key=f"fund:{w}", phase="posted", kind="recharge",
                              debit_id=source.pk, credit_id=w, amount=WALLET, pending_id=None, reverses_id=None,
                              created_at_iso=iso, reference="")) for w in wallets]
        cursor.executemany("""
            INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe,
                                         credit_id, credit_stripe, amount, reference, metadata, created_at, mac)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)""", rows)
        cursor.execute("UPDATE ledger_balance SET debits_posted = debits_posted + %s WHERE account_id = %s AND stripe = 0",
                       [WALLET * len(wallets), source.pk])
        cursor.execute(clone_sql(cursor, "cards_card", card.pk, "identity_person p JOIN ledger_account a "
                                 "ON a.owner = 'person:' || p.id AND a.institution_id = p.institution_id", {
                                     "person_id": "p.id", "number": "'9' || lpad(p.id::text, 11, '0')",
                                     "wallet_account_id": "a.id"})
                       + " WHERE p.institution_id = %s AND p.id <> %s", [institution.pk, template.pk])
        cursor.execute(clone_sql(cursor, "cards_credential", credential.pk, "cards_card k", {
            "card_id": "k.id", "token": "'b' || k.id", "uid": "'B0' || lpad(upper(to_hex(k.id)), 10, '0')"})
                       + " WHERE k.institution_id = %s AND k.id <> %s", [institution.pk, card.pk])
        cursor.execute(clone_sql(cursor, "transit_binding", binding.pk, "cards_card k", {
            "card_id": "k.id", "person_id": "k.person_id"})
                       + " WHERE k.institution_id = %s AND k.id <> %s", [institution.pk, card.pk])
        cursor.execute("SELECT uid FROM cards_credential c JOIN cards_card k ON k.id = c.card_id "
                       "WHERE k.institution_id = %s AND c.kind = 'nfc' AND c.uid <> '' ORDER BY c.id", [institution.pk])
        uids = [r[0] for r in cursor.fetchall()]
    # 1 % of the holders lose their card after the validators' last download (charged and flagged)
    lost = uids[: max(1, holders // 100)]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cards_card SET state = 'lost' WHERE id IN (SELECT card_id FROM cards_credential "
                       "WHERE uid = ANY(%s))", [lost])
    devices = []
    for v in range(validators):
        validator, secret = services.validator_register(actor=actor, route=route, code=f"bus-{v:04d}")
        devices.append((validator.device.code, secret))
    return {"institution_id": institution.pk, "operator": operator, "uids": uids[len(lost):], "lost": lost,
            "devices": devices}


def batches(data: dict, taps: int, rng: random.Random) -> tuple[list[tuple[str, str, list]], int]:
    """Each validator's taps of the day in batches of 200–2,000; 1 % by a card on the deny-list."""
    per = taps // len(data["devices"])
    now = dt.datetime.now(dt.UTC)
    out = []
    for code, secret in data["devices"]:
        counter = 0
        while counter < per:
            size = min(per - counter, rng.randint(200, 2000))
            taps_ = []
            for _ in range(size):
                counter += 1
                uid = rng.choice(data["lost"]) if rng.random() < 0.01 else rng.choice(data["uids"])
                moment = now - dt.timedelta(seconds=rng.randint(60, 16 * 3600))
                taps_.append({"counter": counter, "uid": uid, "tapped_at": moment.isoformat()})
            out.append((code, secret, taps_))
    return out, per * len(data["devices"])


def uploads(batches_: list, rng: random.Random) -> list:
    """The requests of the day, in a random order: 5 % of batches sent twice."""
    out = []
    for code, secret, taps_ in batches_:
        body = json.dumps({"deny_version": 0, "taps": taps_}).encode()
        out += [(code, secret, body)] * (2 if rng.random() < 0.05 else 1)
    rng.shuffle(out)
    return out


def send_all(requests: list, port: int, clients: int) -> dict:
    """C connections (keep-alive), each signing its next upload just before sending it (a validator signs
    when it sends) and sending it as soon as the last one is answered. The uploads are few and large, so
    this Python client costs the server little; the run's time is the first send to the last answer."""
    import http.client
    import queue
    import threading

    from campuscard.devices.signing import sign_headers

    work: queue.Queue = queue.Queue()
    for item in requests:
        work.put(item)
    latencies: list[float] = []
    refused: dict[str, int] = {}
    errors = [0]
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            try:
                code, secret, body = work.get_nowait()
            except queue.Empty:
                return
            headers = {**sign_headers(device_code=code, secret=secret, method="POST", path=PATH, body=body),
                       "Content-Type": "application/json"}
            t = time.perf_counter()
            try:
                conn.request("POST", PATH, body, headers)
                response = conn.getresponse()
                answer = response.read()
            except OSError:
                with lock:
                    errors[0] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                continue
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)
                if response.status != 200:
                    code_ = json.loads(answer or b"{}").get("code", str(response.status))
                    refused[code_] = refused.get(code_, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {"seconds": seconds, "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "refused": refused, "errors": errors[0]}


def retry_missing(plan: list, port: int) -> tuple[int, dict]:
    """After the rush: every batch with a tap not stored is sent again (freshly signed), as a validator
    whose upload failed or timed out does; the same taps again charge nothing twice."""
    import http.client

    from django.db import connection

    from campuscard.devices.signing import sign_headers

    with connection.cursor() as cursor:
        cursor.execute("SELECT d.code, t.counter FROM transit_tap t JOIN devices_device d ON d.id = t.device_id")
        stored = set(cursor.fetchall())
    connection.close()
    statuses: dict[str, int] = {}
    for code, secret, taps_ in plan:
        if all((code, t["counter"]) in stored for t in taps_):
            continue
        body = json.dumps({"deny_version": 0, "taps": taps_}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", PATH, body, {**sign_headers(device_code=code, secret=secret, method="POST", path=PATH,
                                                         body=body), "Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        key = str(response.status) if response.status == 200 else f"{response.status} {answer[:160]!r}"
        statuses[key] = statuses.get(key, 0) + 1
    return len(stored), statuses


def verify(data: dict, sent: int) -> dict:
    from django.db import connection
    from django.db.models import Count, Sum

    from campuscard.ledger.checks import ledger_check
    from campuscard.ledger.models import Transfer
    from campuscard.transit.models import Tap

    stored = Tap.objects.count()
    charged = Tap.objects.filter(state="charged")
    with connection.cursor() as cursor:  # every charged tap: exactly one journal row, of its fare
        cursor.execute("""
            SELECT count(*) FILTER (WHERE t.id IS NULL), count(*) FILTER (WHERE t.amount <> p.fare)
              FROM transit_tap p LEFT JOIN ledger_transfer t ON t.id = p.transfer_id
             WHERE p.state = 'charged' AND p.fare > 0""")
        unjournaled, wrong = cursor.fetchone()
    journal = Transfer.objects.filter(kind="transit_fare")
    doubled = (journal.values("key").annotate(n=Count("id")).filter(n__gt=1).count()
               + max(0, journal.count() - charged.count()))
    clearing = journal.filter(credit_id=data["operator"].clearing_account_id).aggregate(s=Sum("amount"))["s"] or 0
    fares = charged.aggregate(s=Sum("fare"))["s"] or 0
    check = ledger_check()
    return {"stored": stored, "lost": sent - stored + unjournaled, "doubled": doubled, "wrong_amount": wrong,
            "charged": charged.count(), "refused": Tap.objects.filter(state="refused").count(),
            "flagged": Tap.objects.exclude(flagged="").count(), "fares": fares, "clearing": clearing,
            "ledger_check_ok": check.ok and fares == clearing, "problems": check.problems[:3]}


def main() -> None:
    args = parse_args(__doc__, extra_args)
    validators = args.validators or (40 if args.quick else 500)
    taps = args.taps or (60_000 if args.quick else 2_000_000)
    holders = args.holders or (5_000 if args.quick else 200_000)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    cluster = None if args.shared_cluster else throwaway_cluster(SERVER_SETTINGS)
    db_url = fresh_database("postgres", "transit", *([cluster.url("postgres")] if cluster else []))
    from django.db import connection

    t0 = time.perf_counter()
    data = populate(holders, validators)
    rng = random.Random(20)
    plan, unique = batches(data, taps, rng)
    setup_s = time.perf_counter() - t0
    settle_database()
    connection.close()
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "campuscard.settings", "LOG_LEVEL": "WARNING",
           "CAMPUSCARD_DATA_DIR": tempfile.mkdtemp(prefix="transit-"), "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(["redis-cli", "-n", "9", "FLUSHDB"], capture_output=True)
    port = free_port(8767)
    # a loaded host takes a while to build the OpenAPI document the readiness probe asks each worker for
    server = start_server(env, port, args.server, args.workers, args.threads, timeout=900)
    requests = uploads(plan, rng)
    try:
        before = cpu_split(server.pid)
        run = send_all(requests, port, args.clients)
        cpu = {k: v - before[k] for k, v in cpu_split(server.pid).items()}
        in_rush, retried = retry_missing(plan, port)  # a validator uploads again what was not acknowledged
    finally:
        server.terminate()
        server.wait(10)
    seconds = run["seconds"]
    # the rate counts only what the rush itself stored, over the first send to the last answer
    result = verify(data, unique)
    tps = pgbench_tps(db_url, args.clients, 6 if args.quick else 20)
    rate = in_rush / seconds if seconds else 0.0
    emit("transit", [
        ("machine load before the run", load),
        ("validators / holders", f"{validators:,} / {holders:,}"),
        ("PostgreSQL", "the machine's cluster as set" if cluster is None else
         "throwaway cluster, " + ", ".join(f"{k} {v}" for k, v in SERVER_SETTINGS.items())),
        ("server", f"{args.server}, {args.workers} workers" + ("" if args.server == "gunicorn-sync"
                                                              else f" × {args.threads} threads")),
        ("set-up", f"{setup_s:.1f} s"),
        ("uploads (5 % sent twice)", f"{len(requests):,} requests, {args.clients} connections"),
        ("taps sent (unique)", f"{unique:,}"),
        ("ingest time", f"{seconds:.1f} s"),
        ("taps / s ingested", f"{rate:,.0f}"),
        ("upload latency p50 / p95 / p99", f"{run['p50_ms']:.0f} / {run['p95_ms']:.0f} / {run['p99_ms']:.0f} ms"),
        ("failed requests (by code)", json.dumps(run["refused"]) if run["refused"] else "none"),
        ("transport errors", f"{run['errors']}"),
        ("batches sent again after the rush", json.dumps(retried) if retried else "none"),
        ("stored / charged / not charged / flagged",
         f"{result['stored']:,} / {result['charged']:,} / {result['refused']:,} / {result['flagged']:,}"),
        ("lost / doubled / wrong amount", f"{result['lost']} / {result['doubled']} / {result['wrong_amount']}"),
        ("fares = clearing account", f"{result['fares']:,} = {result['clearing']:,} fen"),
        ("ledger check", "clean" if result["ledger_check_ok"] else json.dumps(result["problems"])),
        ("CPU ms per 1,000 taps: app server / PostgreSQL / client",
         " / ".join(f"{cpu[k] * 1e6 / max(in_rush, 1):,.0f}" for k in ("server", "database", "client"))),
        ("pgbench simple-update tps (same DB, same clients)", f"{tps:,.0f}"),
        ("taps/s ÷ pgbench tps", f"{rate / tps:.2f} (target ≥ 3)"),
    ], {"taps_per_s": round(rate), "ratio_to_pgbench": round(rate / tps, 3), "pgbench_tps": round(tps),
        "lost": result["lost"], "doubled": result["doubled"], "ledger_check_ok": result["ledger_check_ok"],
        "taps": unique, "validators": validators, "requests": len(requests), "seconds": round(seconds, 1),
        "p99_ms": round(run["p99_ms"]),
        "cpu_ms_per_1000_taps": {k: round(v * 1e6 / max(in_rush, 1)) for k, v in cpu.items()}, "quick": args.quick, "machine_load": load,
        "postgresql": "shared" if cluster is None else SERVER_SETTINGS})


if __name__ == "__main__":
    main()
