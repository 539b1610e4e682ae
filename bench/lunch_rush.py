"""Lunch rush (issue 5): the real server on PostgreSQL, N holders paying at M POS terminals with
one-time QR codes over HTTP, a share of retries of the same transaction id — then a check that no
payment was lost or doubled, no wallet went negative and the ledger reconciles.

    python bench/lunch_rush.py [--quick] [--holders N] [--payers P] [--history H] [--terminals M]
                               [--seconds S] [--clients C]
                               [--server granian|gunicorn-sync|gunicorn-gthread] [--workers W] [--threads T]

The load generator is wrk replaying pre-signed requests (bench/replay.lua), so it leaves the CPU to the
server. Compared in the same run with raw `pgbench` (simple-update, same database, same client count).

``--holders`` is how many holders the database has (each a person, a wallet with its balance, a card and
a QR credential); ``--payers`` how many of them pay in the rush (default: all, at most 20,000 quick /
50,000 full), drawn at random across them. ``--history H`` first writes H past journal rows (a year
back to yesterday: 90 % QR payments at the terminals, each with its Payment row and the holder's daily
total, 10 % cash recharges), opening balances so that no wallet ends below ¥500, and every balance stripe
recomputed from the journal, so ``ledger check`` is clean and row MACs are real. Everything is written
set-based in SQL, in batches with progress. A run with history uses its own database
(``campuscard_bench_lunch_history``), so it can run beside an ordinary one.

``--replica`` (#18): what durability on two machines costs. The run goes to a throwaway primary on
loopback (``ops/pgcluster.py``, the machine's shared_buffers), the rush runs once on it alone, then once
more after a synchronous standby has been cloned from it (``ops/pg_standby.py``: ``synchronous_commit``
``on``, or ``--replica-commit remote_apply``): ``replica_payments_per_s`` and ``replica_ratio`` (with /
without) join the JSON, written to ``bench/results/lunch_rush_replica.json``. One machine runs both
servers, so the standby's own work (receiving, flushing, applying the WAL) takes CPU from the rush too.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import random
import subprocess
import time
import uuid

from _common import (
    ROOT,
    SERVER_SETTINGS,
    SERVERS,
    clone_sql,
    counters_per,
    db_counters,
    emit,
    free_port,
    fresh_database,
    merged_percentiles,
    parse_args,
    pgbench_tps,
    replay_in_segments,
    run_in_batches,
    settle_database,
    start_server,
    table_sizes,
    throwaway_cluster,
    without_indexes,
)

PORT = 8765
REDIS_DB = 7  # with --history: 10 (its own database too), so the two can run side by side
PATH = "/api/v1/pos/payments"
FUNDING = 50_000  # ¥500: every wallet's balance when the rush starts (at least, with history)
AMOUNTS = [650, 800, 1200, 1550, 2200]
HISTORY_DAYS = 365
TABLES = ["identity_person", "ledger_account", "ledger_balance", "cards_card", "cards_credential", "ledger_transfer",
          "payments_payment", "payments_dailyusage"]


def extra_args(parser):
    parser.add_argument("--holders", type=int, default=None,
                        help="holders in the database (default: 20,000 quick / 50,000 full)")
    parser.add_argument("--payers", type=int, default=None,
                        help="holders who pay in the rush, drawn across all (default: all, at most 20,000 / 50,000)")
    parser.add_argument("--history", type=int, default=0, help="past journal rows before the run (a year of them)")
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections of the load generator")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (granian, gunicorn-gthread)")
    parser.add_argument("--retry-share", type=float, default=0.05)
    parser.add_argument("--code-pages", type=int, default=None,
                        help="pay-code pages open on phones in the queues, each asking every 2 s whether its code "
                             "was used (default: 5 per terminal; 0: none)")
    parser.add_argument("--pgbouncer", action="store_true",
                        help="the server reaches PostgreSQL through a PgBouncer of its own in transaction pooling "
                             "(DATABASE_POOLER=pgbouncer: no prepared statements, no server-side cursors; #18 item 3); "
                             "results in lunch_rush_pgbouncer.json")
    parser.add_argument("--pgbouncer-pool", type=int, default=20,
                        help="PgBouncer's server connections (default 20; the server's threads share them)")
    parser.add_argument("--replica", action="store_true",
                        help="on a throwaway primary: the rush alone, then with a synchronous standby on loopback")
    parser.add_argument("--replica-commit", choices=["on", "remote_apply"], default="on",
                        help="synchronous_commit with the standby (default on: flushed there)")
    parser.add_argument("--tuned", action="store_true",
                        help="for the run, the PostgreSQL settings docs/operations.md recommends once history has "
                             "accumulated (ALTER SYSTEM, reset at exit): " + ", ".join(f"{k}={v}" for k, v in TUNED))


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# SQL of a row's MAC, as ledger.mac.transfer_mac computes it (pgcrypto's hmac; checked on a sample).
_ISO = ("to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {t})::int"
        " %% 1000000 = 0 THEN '' ELSE '.' || to_char({t} AT TIME ZONE 'UTC', 'US') END || '+00:00'")
_MAC = ("encode(hmac(convert_to(concat_ws(chr(31), {inst}, {key}, {phase}, {kind}, {debit}, {credit}, {amount}, '', '', "
        + _ISO.format(t="{at}") + ", {reference}), 'UTF8'), %(mac_key)s::bytea, 'sha256'), 'hex')")


def populate(holders: int, terminals: int, history: int) -> dict:
    """The institution, merchants and terminals through the services; one holder through the models
    (the template), the other ``holders - 1`` copied from it set-based in SQL; then ``history`` past
    journal rows, the opening balances and every balance stripe from the journal (``fill_history``)."""
    from django.db import connection, transaction
    from stdnum import luhn

    from campuscard.cards import codes
    from campuscard.cards.models import Card, Credential
    from campuscard.core import clock
    from campuscard.core.actors import Actor
    from campuscard.core.models import Campus, Institution
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.identity.models import Person
    from campuscard.ledger import services as ledger
    from campuscard.ledger.models import Account, Balance
    from campuscard.payments import pos
    from campuscard.payments.models import Terminal

    institution = Institution.objects.create(code="rush", name="午高峰大学", name_en="Lunch Rush University")
    Campus.objects.create(institution=institution, code="main", name="Main")
    now = clock.now()
    merchants = [pos.merchant_open(actor=Actor.system("bench"), institution=institution, code=f"canteen{i}", name=f"食堂{i}",
                                   category="canteen") for i in range(5)]
    secrets_by_code = {}
    for i in range(terminals):
        device, secret = device_register(actor=Actor.system("bench"), institution=institution, kind=Device.Kind.POS,
                                         code=f"pos-{i:03d}", name=f"POS {i}")
        Terminal.objects.create(device=device, merchant=merchants[i % len(merchants)], counter=f"{i}")
        secrets_by_code[device.code] = secret
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    with transaction.atomic():
        person = Person.objects.create(institution=institution, number="R0000000", name="学生0", kind="undergraduate",
                                       status="full_time", id_number="P000000000", id_type="passport")
        wallet = Account.objects.create(institution=institution, kind="wallet", code=f"wallet:rush:{person.pk}",
                                        name=person.number, owner=f"person:{person.pk}", floor=0)
        Balance.objects.create(account=wallet, stripe=0, floor=0)
        card = Card.objects.create(institution=institution, person=person, kind="student",
                                   number="77000000000" + luhn.calc_check_digit("77000000000"), state="active",
                                   wallet_account_id=wallet.pk, issued_at=now, state_changed_at=now)
        credential = Credential.objects.create(card=card, kind="qr", token=codes.new_token(),
                                               secret=codes.new_secret(), created_at=now)
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")  # the set-up only: the rush's sessions are untouched
        cursor.execute("SET jit = off")  # compiling the history statement cost more than running it
        # Foreign keys are deferred triggers, checked row by row at commit: off while the set-up writes rows
        # whose ids it has just read (the rows are the same, the checks only cost minutes).
        cursor.execute("SET session_replication_role = replica")
        # Balance rows are upserted from the journal: their unique index stays.
        with without_indexes(cursor, [t for t in TABLES if t != "ledger_balance"]):
            holders_s = copy_holders(cursor, holders, person, wallet, card, credential)
            history_s = fill_history(cursor, history, institution.pk, cash.pk, now)
            t0 = time.perf_counter()
        history_s += time.perf_counter() - t0
        for setting in ("work_mem", "maintenance_work_mem", "synchronous_commit", "jit", "session_replication_role"):
            cursor.execute(f"RESET {setting}")
    return {"terminals": secrets_by_code, "institution_id": institution.pk, "funding": FUNDING,
            "holders_s": holders_s, "history_s": history_s}


def copy_holders(cursor, holders: int, person, wallet, card, credential) -> float:
    """Holders 1 … ``holders - 1`` as copies of holder 0, each with its own number, wallet, card number,
    token and TOTP secret; ``bench_holder`` (n → ids) is kept for the history and the payers."""
    import secrets as random_secrets

    t0 = time.perf_counter()
    cursor.execute("""
        CREATE UNLOGGED TABLE bench_holder (n integer PRIMARY KEY, person_id bigint NOT NULL, wallet_id bigint,
                                            card_id bigint, credential_id bigint);
        CREATE FUNCTION pg_temp.luhn(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT ((10 - sum(CASE WHEN (length(s) - i) % 2 = 0
                                   THEN (2 * d) - CASE WHEN d > 4 THEN 9 ELSE 0 END ELSE d END) % 10) % 10)::text
              FROM (SELECT i, substr(s, i, 1)::int AS d FROM generate_series(1, length(s)) i) x $$;
        CREATE FUNCTION pg_temp.b32(v bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT string_agg(substr('""" + _B32 + """', ((v >> (5 * k)) & 31)::int + 1, 1), '' ORDER BY k DESC)
              FROM generate_series(0, 9) k $$;
    """)
    cursor.execute("INSERT INTO bench_holder VALUES (0, %s, %s, %s, %s)", [person.pk, wallet.pk, card.pk, credential.pk])
    if holders <= 1:
        return time.perf_counter() - t0
    batch = 250_000
    people = clone_sql(cursor, "identity_person", person.pk, "generate_series(%(lo)s, %(hi)s) g", {
        "number": "'R' || lpad(g::text, 7, '0')", "name": "'学生' || g", "id_number": "'P' || lpad(g::text, 9, '0')"})
    run_in_batches(cursor, "holders: people", holders - 1, f"""
        WITH p AS ({people} RETURNING id, number)
        INSERT INTO bench_holder (n, person_id) SELECT substr(number, 2)::int, id FROM p""", batch=batch)
    wallets = clone_sql(cursor, "ledger_account", wallet.pk, "bench_holder h", {
        "code": "'wallet:rush:' || h.person_id", "name": "'R' || lpad(h.n::text, 7, '0')",
        "owner": "'person:' || h.person_id"})
    run_in_batches(cursor, "holders: wallets", holders - 1, f"""
        WITH a AS ({wallets} WHERE h.n BETWEEN %(lo)s AND %(hi)s RETURNING id, owner)
        UPDATE bench_holder h SET wallet_id = a.id FROM a WHERE a.owner = 'person:' || h.person_id""", batch=batch)
    cards = clone_sql(cursor, "cards_card", card.pk, "bench_holder h", {
        "person_id": "h.person_id", "wallet_account_id": "h.wallet_id",
        "number": "'77' || lpad(h.n::text, 9, '0') || pg_temp.luhn('77' || lpad(h.n::text, 9, '0'))"})
    run_in_batches(cursor, "holders: cards", holders - 1, f"""
        WITH c AS ({cards} WHERE h.n BETWEEN %(lo)s AND %(hi)s RETURNING id, person_id)
        UPDATE bench_holder h SET card_id = c.id FROM c WHERE c.person_id = h.person_id""", batch=batch)
    credentials = clone_sql(cursor, "cards_credential", credential.pk, "bench_holder h", {
        "card_id": "h.card_id", "token": "pg_temp.b32(h.n + (1::bigint << 45))",
        "secret": "translate(md5('s:' || h.n || %(salt)s), '0123456789abcdef', 'ABCDEFGHIJKLMNOP')"})
    run_in_batches(cursor, "holders: QR credentials", holders - 1, f"""
        WITH c AS ({credentials} WHERE h.n BETWEEN %(lo)s AND %(hi)s RETURNING id, card_id)
        UPDATE bench_holder h SET credential_id = c.id FROM c WHERE c.card_id = h.card_id""",
                   {"salt": random_secrets.token_hex(8)}, batch=batch)
    return time.perf_counter() - t0


def fill_history(cursor, history: int, institution_id: int, cash_id: int, now) -> float:
    """``history`` past journal rows, one every (a year / history) up to yesterday, in id order as time
    goes: of every ten, nine QR payments of a holder (picked by a hash of the row number) at a terminal in
    turn — the journal row, its Payment row and the holder's daily total — and one ¥200 cash recharge.
    Then each wallet's opening balance (dated before the history: at least ¥500 left at the end), and
    every balance stripe set from the journal, as the services would have left them."""
    from django.conf import settings

    from campuscard.ledger.mac import _key

    t0 = time.perf_counter()
    cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    cursor.execute("SELECT count(*) FROM bench_holder")
    holders = cursor.fetchone()[0]
    cursor.execute("""
        CREATE UNLOGGED TABLE bench_terminal AS
        SELECT row_number() OVER (ORDER BY t.id) - 1 AS k, t.id AS terminal_id, m.id AS merchant_id, m.name,
               m.account_id, a.stripes
          FROM payments_terminal t JOIN payments_merchant m ON m.id = t.merchant_id
          JOIN ledger_account a ON a.id = m.account_id""")
    cursor.execute("SELECT count(*) FROM bench_terminal")
    terminals = cursor.fetchone()[0]
    start = now.replace(microsecond=0) - dt.timedelta(days=HISTORY_DAYS)
    params = {"inst": institution_id, "cash": cash_id, "holders": holders, "terminals": terminals,
              "start": start, "every": dt.timedelta(days=HISTORY_DAYS - 1) / max(history, 1),
              "mac_key": _key(), "tz": settings.TIME_ZONE, "funding": FUNDING}
    if history:
        mac = _MAC.format(inst="%(inst)s", key="s.key", phase="'posted'", kind="s.kind", debit="s.debit",
                          credit="s.credit", amount="s.amount", at="s.at", reference="s.reference")
        run_in_batches(cursor, "history: journal and payments", history, f"""
            WITH s AS (
                SELECT g, h.person_id, h.card_id, t.terminal_id, t.merchant_id, g %% 10 = 0 AS recharge,
                       date_trunc('second', %(start)s::timestamptz + (g - 1) * %(every)s::interval) AS at,
                       md5('txn:' || g) AS txn,
                       CASE WHEN g %% 10 = 0 THEN 'recharge_window' ELSE 'payment' END AS kind,
                       CASE WHEN g %% 10 = 0 THEN 'recharge:' || md5('r:' || g)
                            ELSE 'pos:' || t.terminal_id || ':' || md5('txn:' || g) END AS key,
                       CASE WHEN g %% 10 = 0 THEN %(cash)s::bigint ELSE h.wallet_id END AS debit,
                       0 AS debit_stripe,
                       CASE WHEN g %% 10 = 0 THEN h.wallet_id ELSE t.account_id END AS credit,
                       CASE WHEN g %% 10 = 0 THEN 0 ELSE (g / 10 %% t.stripes)::int END AS credit_stripe,
                       CASE WHEN g %% 10 = 0 THEN 20000
                            ELSE (ARRAY{AMOUNTS})[1 + (hashint8(g + 1) & 2147483647) %% {len(AMOUNTS)}] END AS amount,
                       CASE WHEN g %% 10 = 0 THEN '' ELSE t.name || ' ' || md5('txn:' || g) END AS reference
                  FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
                  JOIN bench_holder h ON h.n = (hashint8(g) & 2147483647) %% %(holders)s
                  JOIN bench_terminal t ON t.k = (hashint8(-g) & 2147483647) %% %(terminals)s
            ), j AS (
                INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe,
                                             credit_id, credit_stripe, amount, pending_id, reverses_id, reference,
                                             metadata, expires_at, created_at, mac)
                SELECT %(inst)s, s.key, left(md5('req:' || s.g), 32), 'posted', s.kind, s.debit, s.debit_stripe,
                       s.credit, s.credit_stripe, s.amount, NULL, NULL, s.reference,
                       CASE WHEN s.recharge THEN '{{}}'::jsonb
                            ELSE jsonb_build_object('merchant', s.merchant_id, 'terminal', s.terminal_id) END,
                       NULL, s.at, {mac}
                  FROM s ORDER BY s.g
                RETURNING id, key
            )
            INSERT INTO payments_payment (institution_id, terminal_id, merchant_id, person_id, card_id, txn_id,
                                          amount, method, transfer_id, balance_after, refunded, created_at)
            SELECT %(inst)s, s.terminal_id, s.merchant_id, s.person_id, s.card_id, s.txn, s.amount, 'qr', j.id,
                   %(funding)s, 0, s.at
              FROM s JOIN j ON j.key = s.key WHERE NOT s.recharge ORDER BY s.g
        """, params)
        t1 = time.perf_counter()
        cursor.execute("""
            INSERT INTO payments_dailyusage (person_id, day, spent, wrong_passwords)
            SELECT person_id, (created_at AT TIME ZONE %(tz)s)::date, sum(amount), 0 FROM payments_payment
             GROUP BY 1, 2 ORDER BY 2, 1""", params)
        print(f"  history: daily totals ({cursor.rowcount:,} rows) {time.perf_counter() - t1:.1f} s", flush=True)
    # Opening balances: what each wallet had before the history, so that every one ends with ≥ ¥500.
    cursor.execute("""
        CREATE UNLOGGED TABLE bench_net AS
        SELECT h.n, h.wallet_id, coalesce(d.spent, 0) - coalesce(c.got, 0) AS net
          FROM bench_holder h
          LEFT JOIN (SELECT debit_id, sum(amount) AS spent FROM ledger_transfer WHERE kind = 'payment'
                      GROUP BY 1) d ON d.debit_id = h.wallet_id
          LEFT JOIN (SELECT credit_id, sum(amount) AS got FROM ledger_transfer WHERE kind = 'recharge_window'
                      GROUP BY 1) c ON c.credit_id = h.wallet_id""")
    opening = "%(start)s::timestamptz" if history else "date_trunc('second', now())"
    mac = _MAC.format(inst="%(inst)s", key="'fund:' || b.wallet_id", phase="'posted'", kind="'recharge_window'",
                      debit="%(cash)s", credit="b.wallet_id", amount="%(funding)s + greatest(b.net, 0)", at=opening,
                      reference="''")
    run_in_batches(cursor, "opening balances", holders, f"""
        INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe, credit_id,
                                     credit_stripe, amount, reference, metadata, created_at, mac)
        SELECT %(inst)s, 'fund:' || b.wallet_id, 'bench', 'posted', 'recharge_window', %(cash)s, 0, b.wallet_id, 0,
               %(funding)s + greatest(b.net, 0), '', '{{}}'::jsonb, {opening}, {mac}
          FROM bench_net b WHERE b.n BETWEEN %(lo)s AND %(hi)s ORDER BY b.n""", params, batch=500_000, first=0)
    # Every stripe's running sums from the journal (wallets get their row here, the template's is updated).
    t1 = time.perf_counter()
    cursor.execute("""
        INSERT INTO ledger_balance (account_id, stripe, floor, debits_posted, credits_posted, debits_pending,
                                    credits_pending)
        SELECT j.account_id, j.stripe, a.floor, sum(j.dp), sum(j.cp), 0, 0
          FROM (SELECT debit_id AS account_id, debit_stripe AS stripe, sum(amount) AS dp, 0 AS cp
                  FROM ledger_transfer GROUP BY 1, 2
                UNION ALL
                SELECT credit_id, credit_stripe, 0, sum(amount) FROM ledger_transfer GROUP BY 1, 2) j
          JOIN ledger_account a ON a.id = j.account_id
         GROUP BY j.account_id, j.stripe, a.floor
         ORDER BY j.account_id, j.stripe
        ON CONFLICT (account_id, stripe) DO UPDATE SET debits_posted = EXCLUDED.debits_posted,
                                                       credits_posted = EXCLUDED.credits_posted""")
    print(f"  balances from the journal: {time.perf_counter() - t1:.1f} s", flush=True)
    return time.perf_counter() - t0


def mac_sample_ok(institution_id: int, n: int = 200) -> bool:
    """The SQL-written MACs are what ``ledger verify`` recomputes (a random sample)."""
    from campuscard.ledger.mac import transfer_mac
    from campuscard.ledger.models import Transfer

    rows = Transfer.objects.filter(institution_id=institution_id).order_by("?")[:n]
    return all(t.mac == transfer_mac(institution_id=t.institution_id, key=t.key, phase=t.phase, kind=t.kind,
                                     debit_id=t.debit_id, credit_id=t.credit_id, amount=t.amount,
                                     pending_id=t.pending_id, reverses_id=t.reverses_id,
                                     created_at_iso=t.created_at.astimezone(dt.UTC).isoformat(),
                                     reference=t.reference) for t in rows)


def pick_payers(payers: int, holders: int) -> list[tuple[str, str]]:
    """(token, secret) of ``payers`` holders drawn at random across all of them."""
    from django.db import connection

    chosen = sorted(random.Random(5).sample(range(holders), payers))
    with connection.cursor() as cursor:
        cursor.execute("""SELECT c.token, c.secret FROM bench_holder h JOIN cards_credential c ON c.id = h.credential_id
                           WHERE h.n = ANY(%s) ORDER BY h.n""", [chosen])
        return cursor.fetchall()


def signed_payments(holders: list, terminals: dict, step: int, step_seconds: int, retry_share: float,
                    rng: random.Random) -> tuple[list, dict]:
    """Every holder pays once with the one-time code of `step`, at a terminal taken in turn; a share of
    payments is sent twice (a new nonce, the same txn id) right after itself, so the two race."""
    import pyotp

    from campuscard.devices.signing import sign_headers

    codes_ = list(terminals.items())
    order = list(range(len(holders)))
    rng.shuffle(order)
    requests, amounts = [], {}
    for n, index in enumerate(order):
        token, secret = holders[index]
        digits = pyotp.TOTP(secret, digits=8, interval=step_seconds).at(step * step_seconds)
        txn = uuid.uuid4().hex
        amount = rng.choice([650, 800, 1200, 1550, 2200])
        device_code, device_secret = codes_[n % len(codes_)]
        amounts[txn] = (device_code, amount)
        body = json.dumps({"txn_id": txn, "amount": amount, "code": f"CC1.{token}.{digits}"}).encode()
        for _attempt in range(2 if rng.random() < retry_share else 1):
            headers = {**sign_headers(device_code=device_code, secret=device_secret, method="POST", path=PATH,
                                      body=body), "Content-Type": "application/json"}
            requests.append(("POST", PATH, headers, body))
    return requests, amounts


POLL_SECONDS = 2  # portal/static/portal/paycode.js asks this often while the page is visible


def open_code_pages(count: int) -> list[tuple[str, str, str]]:
    """``count`` payers with the pay-code page open, returned as (status ticket, token, secret): the
    ticket the page was rendered with (signed with the server's secret key). The first payers are taken,
    so the pages of those who pay see their code used, as at a real till."""
    from django.db import connection

    from campuscard.cards import codes
    from campuscard.cards.models import Credential

    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute("""SELECT h.credential_id, k.token, k.secret FROM bench_holder h
                            JOIN cards_credential k ON k.id = h.credential_id
                           WHERE h.n = ANY(%s)""", [sorted(random.Random(5).sample(range(count * 4), count))])
        rows = cursor.fetchall()
    return [(codes.status_ticket(Credential(pk=pk)), token, secret) for pk, token, secret in rows]


def code_polls(pages: list, step: int, step_seconds: int, span: float) -> tuple[list, int, float]:
    """A segment of status requests: every page asks about the code of ``step`` every ``POLL_SECONDS``,
    as portal/static/portal/paycode.js does (POST, the ticket and the code, no session)."""
    import pyotp

    requests = []
    for _round in range(int(span / POLL_SECONDS) + 1):
        for ticket, token, secret in pages:
            digits = pyotp.TOTP(secret, digits=8, interval=step_seconds).at(step * step_seconds)
            body = json.dumps({"ticket": ticket, "code": f"CC1.{token}.{digits}"}).encode()
            requests.append(("POST", "/api/v1/cards/code-status",
                             {"Content-Type": "application/json", "Accept": "application/json"}, body))
    return requests, min(len(pages), 32), len(pages) / POLL_SECONDS


def rush(data: dict, seconds: int, clients: int, retry_share: float, step_seconds: int, port: int,
         pages: list, used: set | None = None) -> dict:
    """Every holder pays at most once per segment (see ``replay_in_segments``); the open pay-code pages
    ask about their codes at the same time."""
    rng = random.Random(5)
    amounts: dict = {}

    def build(step: int, _span: float) -> list:
        requests, segment_amounts = signed_payments(data["holders"], data["terminals"], step, step_seconds,
                                                    retry_share, rng)
        amounts.update(segment_amounts)
        return requests

    totals = replay_in_segments(seconds, step_seconds, build, port=port, clients=clients,
                                id_pattern='"txn_id":%s*"(%w+)"',
                                beside=(lambda step, span: code_polls(pages, step, step_seconds, span))
                                if pages else None, used=used)
    totals["acked"] = {txn: amounts[txn] for txn in totals["ids"] if txn in amounts}
    return totals


# Reloadable server settings (no restart): fewer and smaller full-page writes after a checkpoint.
TUNED = tuple((k, v) for k, v in SERVER_SETTINGS.items() if k != "shared_buffers")  # reloadable: ALTER SYSTEM
SHOWN = ("shared_buffers", "wal_compression", "max_wal_size", "checkpoint_timeout")


def server_settings(db_url: str, tuned: bool) -> dict[str, str]:
    """Apply the tuned settings for this run (the server's, so they are reset when the bench exits, however
    it exits) and return the ones that shape the result."""
    def psql(*commands: str) -> str:
        argv = ["psql", db_url, "-Atq"] + [part for c in commands for part in ("-c", c)]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    if tuned:
        atexit.register(psql, *[f"ALTER SYSTEM RESET {name}" for name, _ in TUNED], "SELECT pg_reload_conf()")
        psql(*[f"ALTER SYSTEM SET {name} = '{value}'" for name, value in TUNED], "SELECT pg_reload_conf()")
        time.sleep(1)
    return dict(zip(SHOWN, psql(*[f"SHOW {name}" for name in SHOWN]).split(), strict=True))


def main() -> None:
    args = parse_args(__doc__, extra_args)
    holders = args.holders or (20_000 if args.quick else 50_000)
    payers = min(holders, args.payers or (20_000 if args.quick else 50_000))
    seconds = args.seconds or (12 if args.quick else 45)
    name = "lunch_history" if args.history else "lunch"
    redis_db = 10 if args.history else REDIS_DB
    cluster = replica_primary() if args.replica else None
    if cluster is not None:
        name, redis_db = f"{name}_replica", 11
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
    name += "_pgbouncer" if args.pgbouncer else ""  # its own database: it can run beside a direct run
    db_url = fresh_database("postgres", name, *([cluster.url()] if cluster else []))
    pg = server_settings(db_url, args.tuned)
    from django.conf import settings
    from django.db import connection

    t0 = time.perf_counter()
    data = populate(holders, args.terminals, args.history)
    data["holders"] = pick_payers(payers, holders)
    code_pages = args.terminals * 5 if args.code_pages is None else min(args.code_pages, holders // 4)
    pages = open_code_pages(code_pages)
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    settle_database()
    settle_s = time.perf_counter() - t1
    print(f"set-up {setup_s:.0f} s (holders {data['holders_s']:.0f} s, history, balances, indexes {data['history_s']:.0f} s),"
          f" VACUUM ANALYZE + CHECKPOINT {settle_s:.0f} s", flush=True)
    macs_ok = mac_sample_ok(data["institution_id"])
    with connection.cursor() as cursor:
        sizes = table_sizes(cursor, TABLES)
        cursor.execute("SELECT pg_database_size(current_database())")
        db_mb = round(cursor.fetchone()[0] / 2**20)
        cursor.execute("SELECT coalesce(max(id), 0) FROM payments_payment")
        before_id = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM ledger_transfer")
        journal_rows = cursor.fetchone()[0]
    connection.close()
    # the set-up's data directory: its secret key signs the open pay-code pages' tickets
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}", "DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "campuscard.settings", "LOG_LEVEL": "WARNING",
           "CAMPUSCARD_DATA_DIR": os.environ["CAMPUSCARD_DATA_DIR"], "PYTHONPATH": str(ROOT / "src")}
    bouncer = None
    if args.pgbouncer:  # #18 item 3: the same rush with the server behind a transaction-pooling PgBouncer
        redis_db += 5  # its own cache (12; --replica takes 11), so it can run beside a direct run
        bouncer = start_pgbouncer(db_url, args.pgbouncer_pool)
        env.update(DATABASE_URL=bouncer.url(db_url.rsplit("/", 1)[1]), DATABASE_POOLER="pgbouncer")
        env.pop("PG_PREPARE", None)
        env["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"
    subprocess.run(["redis-cli", "-n", str(redis_db), "FLUSHDB"], capture_output=True)
    port = free_port(PORT + (2 if args.history else 0))
    t2 = time.perf_counter()
    server = start_server(env, port, args.server, args.workers, args.threads, timeout=60 + holders / 2000)
    start_s = time.perf_counter() - t2
    print(f"server answering after {start_s:.1f} s (its workers warm their caches first)", flush=True)
    before = db_counters()
    used: set = set()
    replica = None
    try:
        totals = rush(data, seconds, args.clients, args.retry_share, settings.QR_STEP_SECONDS, port, pages, used)
        if cluster is not None:
            replica = rush_with_standby(cluster, args.replica_commit, lambda: rush(
                data, seconds, args.clients, args.retry_share, settings.QR_STEP_SECONDS, port, pages, used))
    finally:
        server.terminate()
        server.wait(10)
        pooled = bouncer.transactions(db_url.rsplit("/", 1)[1]) if bouncer else (0, 0)
        if bouncer:
            bouncer.stop()
    time.sleep(1)  # the server's statistics reach pg_stat_database when its sessions end
    both = {**totals["acked"], **(replica["acked"] if replica else {})}
    cost = counters_per(before, db_counters(), len(both))  # with --replica: over both runs
    acked = [(code, txn, amount) for txn, (code, amount) in both.items()]
    t3 = time.perf_counter()
    verify = verify_outcome(acked, data, before_id)
    check_s = time.perf_counter() - t3
    tps = pgbench_tps(db_url, args.clients, 10 if args.quick else 20)
    rate = len(totals["acked"]) / totals["seconds"]
    p50, p95, p99 = merged_percentiles(totals["latencies"])
    polls = totals.get("beside", {"requests": 0, "seconds": 1.0, "errors": 0, "latencies": [(0, 0.0, 0.0, 0.0)]})
    poll_rate = polls["requests"] / max(polls["seconds"], 1e-9)
    poll_p99 = merged_percentiles(polls["latencies"])[2]
    refused = totals["refused"]
    server_kind = f"{args.server}, {args.workers} workers" + ("" if args.server == "gunicorn-sync" else
                                                             f" × {args.threads} threads")
    extra_rows, extra_figures = replica_figures(replica, rate, args.replica_commit) if replica else ([], {})
    emit((("lunch_rush_history" if args.history else "lunch_rush") + ("_pgbouncer" if args.pgbouncer else "")) + ("_replica" if replica else ""), [
        ("machine load before the run", load),
        ("holders (paying in the rush) / terminals", f"{holders:,} ({payers:,}) / {args.terminals}"),
        ("past journal rows (history)", f"{args.history:,}" if args.history else "none (fresh database)"),
        ("journal / payments / daily totals (rows ≈, MB heap + indexes)",
         " / ".join(f"{sizes[t]['rows']:,} ({sizes[t]['heap_mb']:,} + {sizes[t]['index_mb']:,})"
                    for t in ("ledger_transfer", "payments_payment", "payments_dailyusage"))),
        ("database size", f"{db_mb:,} MB"),
        ("PostgreSQL settings" + (" (--tuned)" if args.tuned else ""), ", ".join(f"{k} {v}" for k, v in pg.items())),
        ("server", server_kind),
        ("load", f"wrk, {args.clients} connections, {seconds} s, {args.retry_share:.0%} sent twice (same txn id)"),
        ("set-up", f"{setup_s:.1f} s (holders {data['holders_s']:.1f} s, history, balances, indexes {data['history_s']:.1f} s)"
                   f", VACUUM ANALYZE {settle_s:.1f} s"),
        ("server start-up (cache warm-up)", f"{start_s:.1f} s"),
        ("requests answered", f"{totals['requests']:,}"),
        ("payments acknowledged", f"{len(totals['acked']):,}"),
        ("payments / s", f"{rate:,.0f}"),
        ("latency p50 / p95 / p99", f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms"),
        ("refused (by code)", json.dumps(refused) if refused else "none"),
        ("open pay-code pages: status requests / s, p99", f"{len(pages):,} pages: {poll_rate:,.0f} / s, "
                                                          f"p99 {poll_p99:.1f} ms, errors {polls['errors']}"
                                                          + (f", refused {polls['refused']}" if polls.get("refused") else "")),
        ("transport errors", f"{totals['errors']}"),
        ("PostgreSQL per payment: WAL / blocks read / blocks hit",
         f"{cost['wal_kb']} kB / {cost['blocks_read']} / {cost['blocks_hit']} (hit ratio {cost['hit_ratio']:.2%})"),
        ("pgbench simple-update tps (same DB, same clients)", f"{tps:,.0f}"),
        ("payments / pgbench", f"{rate / tps:.2f}"),
        ("lost / doubled / negative wallets", f"{verify['lost']} / {verify['doubled']} / {verify['negative']}"),
        ("ledger check (whole journal)", ("clean" if verify["ledger_ok"] else "DIFFERENCES") + f", {check_s:.0f} s"),
        ("row MACs written in SQL (sample)", "match" if macs_ok else "DIFFER"),
        *extra_rows,
        *([("through PgBouncer (transaction pooling, --pgbouncer)",
            f"{args.pgbouncer_pool} server connections; {pooled[0]:,} transactions, {pooled[1]:,} queries pooled")]
          if args.pgbouncer else []),
    ], {**extra_figures, "payments_per_s": round(rate), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
        "p99_ms": round(p99, 1), "pgbench_tps": round(tps), "ratio_to_pgbench": round(rate / tps, 3),
        "history_rows": args.history, "holders": holders, "payers": payers, "journal_rows": journal_rows,
        "db_mb": db_mb, "setup_s": round(setup_s, 1), "history_setup_s": round(data["history_s"], 1),
        "server_start_s": round(start_s, 1), "wal_kb_per_payment": cost["wal_kb"],
        "blocks_read_per_payment": cost["blocks_read"], "blocks_hit_per_payment": cost["blocks_hit"],
        "terminals": args.terminals, "clients": args.clients, "server": server_kind,
        "payments": len(totals["acked"]),
        "requests": totals["requests"], "refused": sum(refused.values()), "transport_errors": totals["errors"],
        "lost": verify["lost"], "doubled": verify["doubled"], "negative_wallets": verify["negative"],
        "ledger_check_ok": verify["ledger_ok"], "macs_ok": macs_ok, "load_before": load, "pg_settings": pg,
        "tuned": args.tuned, "code_pages": len(pages), "code_status_per_s": round(poll_rate),
        "code_status_p99_ms": round(poll_p99, 1),
        **({"pgbouncer": True, "pgbouncer_pool": args.pgbouncer_pool, "pgbouncer_transactions": pooled[0]}
           if args.pgbouncer else {})})


def start_pgbouncer(db_url: str, pool: int):
    """A PgBouncer of the bench's own (tests/ops/pgbouncer.py: temporary configuration, a free port,
    transaction pooling) in front of the bench database's server; stopped at exit."""
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.ops.pgbouncer import PgBouncer

    bouncer = PgBouncer(db_url, pool_size=pool)
    bouncer.start()
    atexit.register(bouncer.stop)
    return bouncer


def replica_primary():
    """A throwaway primary for ``--replica`` (our standby must not hold the shared cluster's commits), with
    the shared cluster's shared_buffers."""
    shown = subprocess.run(["psql", "postgres://postgres@127.0.0.1:5432/postgres", "-Atqc", "SHOW shared_buffers"],
                           capture_output=True, text=True).stdout.strip() or "128MB"
    return throwaway_cluster({"shared_buffers": shown})


def rush_with_standby(cluster, commit: str, run) -> dict:
    """The same rush again, every commit now waiting for a synchronous standby cloned just before;
    the standby is removed afterwards (the pgbench comparison runs on the primary alone)."""
    t0 = time.perf_counter()
    standby = cluster.standby("standby1", commit=commit)
    print(f"synchronous standby on 127.0.0.1:{standby.port} (synchronous_commit = {commit}) after "
          f"{time.perf_counter() - t0:.1f} s; the same rush again", flush=True)
    try:
        return run()
    finally:
        cluster.asynchronous()
        standby.destroy()
        cluster.psql("SELECT pg_drop_replication_slot('standby1')")


def replica_figures(replica: dict, rate: float, commit: str) -> tuple[list, dict]:
    replica_rate = len(replica["acked"]) / replica["seconds"]
    p50, p95, p99 = merged_percentiles(replica["latencies"])
    rows = [("with a synchronous standby (loopback): payments / s", f"{replica_rate:,.0f} "
             f"({replica_rate / rate:.2f} × alone; synchronous_commit {commit})"),
            ("with the standby: latency p50 / p95 / p99", f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms"),
            ("with the standby: refused, transport errors", f"{json.dumps(replica['refused']) if replica['refused'] else 'none'}, "
                                                            f"{replica['errors']}")]
    return rows, {"replica_payments_per_s": round(replica_rate), "replica_ratio": round(replica_rate / rate, 3),
                  "replica_p50_ms": round(p50, 1), "replica_p99_ms": round(p99, 1), "replica_commit": commit,
                  "replica_payments": len(replica["acked"])}


def verify_outcome(acked: list, data: dict, before_id: int) -> dict:
    """Only the rush's payments (ids above ``before_id``) are compared; the ledger check reads everything."""
    from django.db.models import Count, Sum

    from campuscard.ledger.checks import ledger_check
    from campuscard.ledger.models import Balance
    from campuscard.payments.models import Payment

    new = Payment.objects.filter(id__gt=before_id)
    rows = {(code, txn): amount for code, txn, amount in
            new.values_list("terminal__device__code", "txn_id", "amount")}
    lost = sum(1 for code, txn, amount in acked if rows.get((code, txn)) != amount)
    doubled = (new.values("terminal", "txn_id").annotate(n=Count("id")).filter(n__gt=1).count())
    negative = Balance.objects.filter(floor__isnull=False).extra(
        where=["credits_posted - debits_posted - debits_pending < 0"]).count()
    total = new.aggregate(s=Sum("amount"))["s"] or 0
    assert total >= sum(a for _c, _t, a in acked)
    return {"lost": lost, "doubled": doubled, "negative": negative, "ledger_ok": ledger_check().ok}


if __name__ == "__main__":
    main()
