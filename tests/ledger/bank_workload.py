"""Jepsen's "bank" workload against the ledger, shared by the thread test (PostgreSQL) and the process
test (SQLite) in ``test_bank_concurrency.py``. Not a test module: spawned worker processes import it
before Django is set up, so every Django import here is inside a function.

A client runs ``ops`` operations, each a money transaction with its own idempotency key:

* recharge  — a system account (cash at the window) credits a random wallet;
* transfer  — wallet → wallet, random pair;
* payment   — wallet → the ONE hot merchant account (striped);
* refund    — a partial reversal of one of this client's acknowledged payments;
* retry     — an earlier key of this client again, same parameters (a replay if it was acknowledged,
  evaluated afresh if it was refused or aborted);
* shared    — every ``SHARED_EVERY`` steps the two clients of a pair meet at a barrier and submit the
  SAME key and parameters at the same moment (concurrent duplicates).

Any operation may be aborted by the client: ``raise`` inside the transaction after the transfer (it
rolls back), or ``connection.close()`` inside the transaction (the client "dies": the server rolls
back on its own). Each attempt is recorded as an ``Outcome``; only ``ok`` is an acknowledgement.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from dataclasses import asdict, dataclass

SHARED_EVERY = 12
RAISE_ABORT = 0.07
CLOSE_ABORT = 0.03


class ClientAbort(Exception):
    """The client gives up after the transfer, before the commit."""


@dataclass(frozen=True)
class Bank:
    institution_id: int
    cash_id: int
    merchant_id: int
    merchant_stripes: int
    wallet_ids: tuple[int, ...]
    opening: int  # each wallet's opening balance (a recharge under key "open-<wallet id>")


@dataclass
class Outcome:
    client: int
    key: str
    op: str
    status: str  # ok | refused | aborted | error
    amount: int
    debit_id: int
    credit_id: int
    transfer_id: int | None = None
    replayed: bool = False
    detail: str = ""
    original: int | None = None  # refunds: the payment reversed


REFUSALS = {"insufficient_funds", "reversal_exceeds_original"}  # a business "no": nothing stored


def configure_sqlite(path: str, data_dir: str) -> None:
    """In a spawned process: point the real settings at a file database, then set Django up."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "campuscard.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["CAMPUSCARD_DATA_DIR"] = data_dir
    os.environ["HUEY_IMMEDIATE"] = "true"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def open_bank(*, wallets: int, opening: int, merchant_stripes: int, code: str) -> Bank:
    """Institution, wallets with an opening balance, one hot merchant, cash at the window (committed)."""
    from campuscard.core.db import money_transaction
    from campuscard.core.models import Institution
    from campuscard.ledger import services as ledger
    from campuscard.ledger.models import Account

    institution = Institution.objects.create(code=code, name=f"Bank {code}")
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    merchant = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m:canteen",
                                   name="Canteen", floor=None, stripes=merchant_stripes)
    ids = []
    for i in range(wallets):
        wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code=f"w:{i}",
                                     name=f"W{i}")
        money_transaction(ledger.transfer_create)(key=f"open-{wallet.pk}", debit=cash, credit=wallet,
                                                  amount=opening, kind="recharge")
        ids.append(wallet.pk)
    return Bank(institution.pk, cash.pk, merchant.pk, merchant_stripes, tuple(ids), opening)


def _op(rng: random.Random, bank: Bank) -> tuple[str, int, int, int]:
    """(op, debit, credit, amount) for a fresh operation."""
    roll = rng.random()
    wallet = rng.choice(bank.wallet_ids)
    if roll < 0.15:
        return "recharge", bank.cash_id, wallet, rng.randint(100, 5_000)
    if roll < 0.55:
        other = rng.choice([w for w in bank.wallet_ids if w != wallet])
        return "transfer", wallet, other, rng.randint(1, 3_000)
    return "payment", wallet, bank.merchant_id, rng.randint(1, 2_000)


def run_client(client: int, bank: Bank, ops: int, seed: int, barrier=None, pair: int | None = None,
               close_connection: bool = True) -> list[dict]:
    """Run ``ops`` operations; return every attempt's ``Outcome`` (as dicts, picklable)."""
    from django.db import DatabaseError, connection

    from campuscard.core.db import money_transaction
    from campuscard.core.errors import DomainError
    from campuscard.ledger import services as ledger

    rng = random.Random(seed * 1_000 + client)
    cash = ledger.AccountRef(bank.cash_id, bank.institution_id, 4)
    merchant = ledger.AccountRef(bank.merchant_id, bank.institution_id, bank.merchant_stripes)
    refs = {bank.cash_id: cash, bank.merchant_id: merchant}
    refs.update({w: ledger.AccountRef(w, bank.institution_id, 1) for w in bank.wallet_ids})
    outcomes: list[Outcome] = []
    mine: list[Outcome] = []  # first attempt of each of my keys (what a retry resubmits)
    payments: list[Outcome] = []  # my acknowledged payments (what a refund reverses)

    def attempt(key: str, op: str, debit: int, credit: int, amount: int, original: int | None = None,
                abort: str = "") -> Outcome:
        def body():
            if op == "refund":
                result = ledger.transfer_reverse(key=key, original_id=original, amount=amount)
            else:
                result = ledger.transfer_create(key=key, debit=refs[debit], credit=refs[credit], amount=amount,
                                                kind=op)
            if abort == "raise":
                raise ClientAbort
            if abort == "close":
                connection.close()  # the client dies mid-transaction: nothing is committed
            return result

        outcome = Outcome(client, key, op, "error", amount, debit, credit, original=original)
        try:
            result = money_transaction(body)()
        except ClientAbort:
            outcome.status, outcome.detail = "aborted", "raise"
        except DomainError as exc:
            outcome.status, outcome.detail = ("refused" if exc.code in REFUSALS else "error"), exc.code
        except DatabaseError as exc:  # e.g. retries exhausted: rolled back, so not acknowledged
            outcome.status, outcome.detail = "error", f"{type(exc).__name__}: {exc}"[:300]
        else:
            if abort == "close":
                outcome.status, outcome.detail = "aborted", "close"
            else:
                outcome.status, outcome.transfer_id, outcome.replayed = "ok", result.id, result.replayed
                if (result.amount, result.debit_id, result.credit_id) != (amount, debit, credit):
                    outcome.status, outcome.detail = "error", f"result differs: {result}"
        outcomes.append(outcome)
        return outcome

    def abort_mode() -> str:
        roll = rng.random()
        return "raise" if roll < RAISE_ABORT else "close" if roll < RAISE_ABORT + CLOSE_ABORT else ""

    try:
        for step in range(ops):
            if barrier is not None and step % SHARED_EVERY == SHARED_EVERY - 1:
                shared = random.Random(f"{seed}:{pair}:{step}")  # both clients of the pair draw the same op
                op, debit, credit, amount = _op(shared, bank)
                barrier.wait(timeout=60)
                attempt(f"s{seed}-p{pair}-{step}", op, debit, credit, amount, abort=abort_mode())
                continue
            roll = rng.random()
            if roll < 0.12 and mine:
                first = rng.choice(mine)
                again = attempt(first.key, first.op, first.debit_id, first.credit_id, first.amount,
                                original=first.original)
                if first.op == "payment" and again.status == "ok" and not again.replayed:
                    payments.append(again)
                continue
            if roll < 0.18 and payments:
                paid = rng.choice(payments)
                amount = rng.randint(1, max(1, paid.amount // 3))
                first = attempt(f"c{client}-{seed}-{step}", "refund", bank.merchant_id, paid.debit_id, amount,
                                original=paid.transfer_id, abort=abort_mode())
                mine.append(first)
                continue
            op, debit, credit, amount = _op(rng, bank)
            first = attempt(f"c{client}-{seed}-{step}", op, debit, credit, amount, abort=abort_mode())
            mine.append(first)
            if op == "payment" and first.status == "ok":
                payments.append(first)
    finally:
        if close_connection:
            connection.close()
    return [asdict(o) for o in outcomes]


def verify(bank: Bank, outcomes: list[dict]) -> dict:
    """Compare the journal with what the clients were told; return {"problems": [...], "stats": {...}}."""
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    from campuscard.ledger.checks import ledger_check, ledger_verify
    from campuscard.ledger.models import Balance, Transfer
    from campuscard.ledger.selectors import account_balances

    problems: list[str] = []
    acked: dict[str, dict] = {}
    attempted: set[str] = set()
    for o in outcomes:
        attempted.add(o["key"])
        if o["status"] == "error":
            problems.append(f"unexpected error: {o}")
        if o["status"] != "ok":
            continue
        first = acked.setdefault(o["key"], o)
        if (first["transfer_id"], first["amount"]) != (o["transfer_id"], o["amount"]):
            problems.append(f"two acknowledgements of {o['key']} differ: {first} vs {o}")

    journal = {key: (tid, amount, debit, credit) for key, tid, amount, debit, credit in Transfer.objects.filter(
        institution_id=bank.institution_id).exclude(key__startswith="open-")
        .values_list("key", "id", "amount", "debit_id", "credit_id")}
    for key, o in acked.items():
        row = journal.get(key)
        if row is None:
            problems.append(f"acknowledged {key} is missing from the journal")
        elif row != (o["transfer_id"], o["amount"], o["debit_id"], o["credit_id"]):
            problems.append(f"acknowledged {key} differs in the journal: {row} vs {o}")
    for key in journal.keys() - acked.keys():
        problems.append(f"{key} is in the journal but was never acknowledged"
                        + ("" if key in attempted else " (nor attempted)"))
    rows = Transfer.objects.filter(institution_id=bank.institution_id).count()
    if rows != len(journal) + len(bank.wallet_ids):  # each key exactly once
        problems.append(f"{rows} journal rows for {len(journal) + len(bank.wallet_ids)} keys")

    expected: dict[int, int] = defaultdict(int)
    for w in bank.wallet_ids:
        expected[w] += bank.opening
        expected[bank.cash_id] -= bank.opening
    for o in acked.values():
        expected[o["debit_id"]] -= o["amount"]
        expected[o["credit_id"]] += o["amount"]
    for account in (bank.cash_id, bank.merchant_id, *bank.wallet_ids):
        got = account_balances(account_id=account)
        if got.posted != expected[account]:
            problems.append(f"account {account}: stored {got.posted}, acknowledged transfers say {expected[account]}")
        if account in bank.wallet_ids and got.available < 0:
            problems.append(f"wallet {account} is negative: {got.available}")
    totals = Balance.objects.aggregate(cp=Coalesce(Sum("credits_posted"), 0), dp=Coalesce(Sum("debits_posted"), 0))
    if totals["cp"] != totals["dp"]:
        problems.append(f"money not conserved: credits {totals['cp']} != debits {totals['dp']}")
    check, verified = ledger_check(), ledger_verify()
    if not check.ok:
        problems.append(f"ledger_check: {check.problems[:5]}")
    if not verified.ok:
        problems.append(f"ledger_verify: {verified.problems[:5]}")

    by_status: dict[str, int] = defaultdict(int)
    for o in outcomes:
        by_status[o["status"] + (":" + o["detail"] if o["status"] == "aborted" else "")] += 1
    stats = {"attempts": len(outcomes), "acknowledged_keys": len(acked), "journal_rows": len(journal),
             "replays": sum(1 for o in outcomes if o["status"] == "ok" and o["replayed"]),
             "shared_keys": len({o["key"] for o in outcomes if o["key"].startswith("s")}),
             **dict(by_status), "check_ok": check.ok, "verify_ok": verified.ok}
    return {"problems": problems, "stats": stats}


def sqlite_setup(path: str, data_dir: str, wallets: int, opening: int, stripes: int) -> Bank:
    """Spawned once, before the workers: migrate the file database and open the accounts."""
    configure_sqlite(path, data_dir)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return open_bank(wallets=wallets, opening=opening, merchant_stripes=stripes, code="bank")


def sqlite_client(path: str, data_dir: str, client: int, bank: Bank, ops: int, seed: int, barrier, pair: int,
                  results) -> None:
    configure_sqlite(path, data_dir)
    results.put((client, run_client(client, bank, ops, seed, barrier=barrier, pair=pair)))


def sqlite_verify(path: str, data_dir: str, bank: Bank, outcomes: list[dict]) -> dict:
    configure_sqlite(path, data_dir)
    return verify(bank, outcomes)
