"""Set-based settlement of a batch of debits to one credit account (LED-2, LED-3, LED-4; TRN-2).

A bus validator uploads hundreds of taps at once; charging them one transaction at a time would cost a
round trip and a journal insert each. ``debits_settle`` applies the whole batch as sets. Concurrent uploads
share wallets, so each one waits for the balance locks of the others until they commit: everything that can
is done before those locks are taken, and they are held for two short statements and the commit.

* **At once** (every debit fits, the usual case): the journal rows of all debits are inserted (each stays
  traceable: its own key, MAC, reference and metadata) and the caller's own rows for them written
  (``with_journal``, e.g. transit's taps), then the debited balances are locked in account order (so
  concurrent batches never deadlock) and, if each account can pay all its debits of the batch, updated once
  each and the credit stripe once.
* **Walked** (a debit that does not fit, a key already journaled, a larger allowance): all of that is rolled
  back to a savepoint; the balances are locked and the known keys found, each account's debits are walked
  in the caller's order on the locked balances (``_walk``, a loop in memory), and one statement writes the
  accepted ones; then ``with_journal`` again, with the walked result.

"Each account can pay all its debits" is the walk accepting all of them: with ``below_floor_fares`` ≤ 1 the
last debit's test (``available − total ≥ floor − below × last``) implies every earlier one's, since the
balance before an earlier debit is higher by at least the last debit; with a larger allowance the batch is
always walked. On SQLite (writers serialised) the same walk runs between a few ORM statements. (The walk was
a recursive CTE until 2026-12-06: the planner's estimates for parameter arrays are tiny, so it chose nested
loops — 1 s for 1,500 debits; docs/benchmarks.md.)

The rule for a debit: ``available before it − amount ≥ floor − below_floor_fares × amount``, where the
floor is the ACCOUNT's floor (0 for wallets). The caller passes ``below_floor_fares`` from its rulebook
(``payments.rules.TAP_FARES_BELOW_ZERO``): with 1, a debit may take the wallet below zero by at most its
own amount and only from a balance that was not below zero before it. The walk decides each debit on the
balance the account's earlier debits of the batch left — exactly what one-by-one settlement
(``debit_settle_one``, the reference of ``tests/transit/test_batch_differential.py``) decides, for any
rule (a refused large fare may be followed by a smaller one that fits).

A wallet taken below zero gets that row's ``floor`` lowered to its new balance (the CHECK must hold);
nothing else can debit it then, and the next credit raises the floor back to min(0, balance)
(``services.transfer_ctes``) — the allowance is that debit's alone, never a lower floor for others.

Keys already in the journal are ``replayed`` (exact duplicate dropping); the rest are ``posted`` (key →
transfer id) or ``refused``. Must run inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from campuscard.core import clock
from campuscard.core.db import Prepared
from campuscard.core.errors import DomainError
from campuscard.ledger.mac import _key as _mac_key
from campuscard.ledger.mac import transfer_mac
from campuscard.ledger.models import Account, Balance, Transfer
from campuscard.ledger.services import AccountRef, _request_hash

Phase = Transfer.Phase


@dataclass(frozen=True)
class Debit:
    """One debit of a batch, in the order the caller wants it decided (e.g. tap time)."""

    key: str
    debit_id: int
    amount: int
    reference: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    posted: dict[str, int] = field(default_factory=dict)  # key → transfer id
    replayed: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    available: dict[int, int] = field(default_factory=dict)  # debited account → available after
    walked: bool = False  # decided debit by debit, not at once


def _check(debits: list[Debit], credit: AccountRef, institution_id: int) -> None:
    keys = set()
    for d in debits:
        if not isinstance(d.amount, int) or isinstance(d.amount, bool) or d.amount <= 0:
            raise DomainError("amount_invalid")
        if not d.key or len(d.key) > 160:
            raise DomainError("idempotency_key_required")
        if d.debit_id == credit.id:
            raise DomainError("accounts_must_differ")
        if d.key in keys:
            raise DomainError("idempotency_key_reused")
        keys.add(d.key)
    if credit.institution_id != institution_id:
        raise DomainError("accounts_other_institution")


def _rows(debits: list[Debit], *, institution_id: int, credit: AccountRef, kind: str, now: datetime):
    """Each debit with its request hash and MAC: the same strings ``ledger.services._request_hash`` and
    ``ledger.mac.transfer_mac`` make for one transfer (tests/transit/test_batch_differential.py), with the
    batch's constant parts built once and one-shot digests — per debit this was a third of the batch's
    Python time (docs/benchmarks.md)."""
    iso = now.isoformat()
    # _request_hash(phase, kind, debit, credit, amount, reference) is sha256 of json.dumps of that list
    head = json.dumps([str(Phase.POSTED), kind])[:-1] + ", "
    credit_part = f", {credit.id}, "
    # transfer_mac joins (institution, key, phase, kind, debit, credit, amount, "", "", created_at, reference)
    mac_key = _mac_key()
    mac_head = f"{institution_id}\x1f"
    mac_mid = f"\x1f{Phase.POSTED}\x1f{kind}\x1f"
    mac_tail = f"\x1f\x1f\x1f{iso}\x1f"
    references: dict[str, str] = {}
    sha256, digest = hashlib.sha256, hmac.digest
    for d in debits:
        reference = references.get(d.reference)
        if reference is None:
            reference = references[d.reference] = json.dumps(d.reference)
        request = f"{head}{d.debit_id}{credit_part}{d.amount}, {reference}]"
        message = f"{mac_head}{d.key}{mac_mid}{d.debit_id}\x1f{credit.id}\x1f{d.amount}{mac_tail}{d.reference}"
        yield d, sha256(request.encode()).hexdigest()[:32], digest(mac_key, message.encode(), "sha256").hex()


def debits_settle(*, institution_id: int, credit: Account | AccountRef, kind: str, debits: list[Debit],
                  below_floor_fares: int = 0,
                  with_journal: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Settle ``debits`` (in their order) against ``credit`` as sets; see the module's docstring.
    ``with_journal(result)`` writes the caller's rows for ``result.posted`` / ``result.refused`` before the
    balances are locked; it may run twice (the first run's writes rolled back), always once for the result."""
    c = AccountRef.of(credit)
    _check(debits, c, institution_id)
    if not debits:
        result = BatchResult()
    else:
        now = clock.now().astimezone(UTC)
        stripe = 0 if c.stripes == 1 else random.randrange(c.stripes)
        apply = _settle_postgresql if connection.vendor == "postgresql" else _settle_portable
        result = apply(debits, institution_id=institution_id, credit=c, stripe=stripe, kind=kind, now=now,
                       below=below_floor_fares, with_journal=with_journal or _nothing)
    if not debits and with_journal:
        with_journal(result)
    return result


def _nothing(result: BatchResult) -> None:
    return None


# The statements are PREPAREd once per connection and run by libpq with the arrays as text parameters
# (core.db.Prepared): psycopg's client-side quoting of eight lists of thousands of items cost more than the
# statements. Every lookup is by key, driven by the batch's own arrays (a join the planner could drive by an
# institution's accounts became, on a stale estimate, 5,000 × the array: 22 s), so the generic plans stay
# linear in the batch.
_PG_LOCK = Prepared("ledger_batch_lock", """
WITH known AS (
    SELECT t.key FROM ledger_transfer t WHERE t.institution_id = %(inst)s AND t.key = ANY(%(keys)s)
), bal AS (
    -- each account of the (sorted) array in turn, so the locks are taken in account order
    SELECT x.* FROM unnest(%(accounts)s) AS u(id), LATERAL (
        SELECT b.account_id, b.credits_posted - b.debits_posted - b.debits_pending AS available, a.floor
          FROM ledger_balance b JOIN ledger_account a ON a.id = b.account_id
         WHERE b.account_id = u.id AND b.stripe = 0 AND a.status = 'open' AND a.floor IS NOT NULL
           AND a.stripes = 1 AND a.institution_id = %(inst)s
           FOR UPDATE OF b) x
)
SELECT (SELECT coalesce(json_agg(key), '[]') FROM known)::text,
       (SELECT coalesce(json_agg(json_build_array(account_id, available, floor)), '[]') FROM bal)::text
""", {"inst": "bigint", "keys": "text[]", "accounts": "bigint[]"})

# One journal row per debit, in the debits' order (the arrays of ``_arrays``).
_JOURNAL_INSERT = """    INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe, credit_id,
                                 credit_stripe, amount, pending_id, reverses_id, reference, metadata, expires_at,
                                 created_at, mac)
    SELECT %(inst)s, t.key, t.request_hash, 'posted', %(kind)s, t.debit_id, 0, %(credit)s, %(stripe)s, t.amount,
           NULL, NULL, t.reference, t.metadata::jsonb, NULL, %(now)s, t.mac
      FROM unnest(%(ords)s, %(keys)s, %(debits)s, %(amounts)s, %(hashes)s, %(refs)s, %(metas)s, %(macs)s)
           AS t(ord, key, debit_id, amount, request_hash, reference, metadata, mac)
     ORDER BY t.ord
    ON CONFLICT DO NOTHING"""
_JOURNAL_TYPES = {"ords": "int[]", "keys": "text[]", "debits": "bigint[]", "amounts": "bigint[]", "hashes": "text[]",
                  "refs": "text[]", "metas": "text[]", "macs": "text[]", "inst": "bigint", "kind": "text",
                  "credit": "bigint", "stripe": "integer", "now": "timestamptz"}

_PG_WRITE = Prepared("ledger_batch_write", f"""
WITH ins AS (
{_JOURNAL_INSERT}    RETURNING id, key, debit_id, amount
), per AS (
    SELECT debit_id, sum(amount) AS total FROM ins GROUP BY debit_id
), d AS (
    UPDATE ledger_balance b
       SET debits_posted = b.debits_posted + per.total,
           floor = LEAST(b.floor, b.credits_posted - b.debits_posted - b.debits_pending - per.total)
      FROM per
     WHERE b.account_id = per.debit_id AND b.stripe = 0
    RETURNING b.account_id, b.credits_posted - b.debits_posted - b.debits_pending AS available
), c AS (
    UPDATE ledger_balance SET credits_posted = credits_posted + (SELECT sum(amount) FROM ins)
     WHERE account_id = %(credit)s AND stripe = %(stripe)s AND EXISTS (SELECT 1 FROM ins)
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(credit)s AND status = 'open')
    RETURNING 1
)
SELECT (SELECT coalesce(json_agg(json_build_array(key, id)), '[]') FROM ins)::text,
       (SELECT coalesce(json_agg(json_build_array(account_id, available)), '[]') FROM d)::text,
       (SELECT count(*) FROM ins), (SELECT count(*) FROM c)
""", _JOURNAL_TYPES)


# At once: the journal rows first, the balances after (their locks held only from _PG_LOCK to the commit).
_PG_JOURNAL = Prepared("ledger_batch_journal", f"""
WITH ins AS (
{_JOURNAL_INSERT}    RETURNING id, key
)
SELECT (SELECT coalesce(json_agg(json_build_array(key, id)), '[]') FROM ins)::text
""", _JOURNAL_TYPES)

_PG_BALANCES = Prepared("ledger_batch_balances", """
WITH d AS (
    UPDATE ledger_balance b
       SET debits_posted = b.debits_posted + p.total,
           floor = LEAST(b.floor, b.credits_posted - b.debits_posted - b.debits_pending - p.total)
      FROM unnest(%(accounts)s, %(totals)s) AS p(account_id, total)
     WHERE b.account_id = p.account_id AND b.stripe = 0
    RETURNING b.account_id, b.credits_posted - b.debits_posted - b.debits_pending AS available
), c AS (
    UPDATE ledger_balance SET credits_posted = credits_posted + %(sum)s
     WHERE account_id = %(credit)s AND stripe = %(stripe)s
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(credit)s AND status = 'open')
    RETURNING 1
)
SELECT (SELECT coalesce(json_agg(json_build_array(account_id, available)), '[]') FROM d)::text,
       (SELECT count(*) FROM c)
""", {"accounts": "bigint[]", "totals": "bigint[]", "sum": "bigint", "credit": "bigint", "stripe": "integer"})


_metadata_json = json.JSONEncoder(ensure_ascii=False, default=str).encode  # one encoder, not one per debit


def _walk(debits: list[Debit], wallets: dict[int, list[int]], below: int, result: BatchResult) -> list[Debit]:
    """Each debit in order, on the balance its account's earlier accepted debits left (``wallets``: account →
    [available, floor], updated); the accepted ones, the refused ones' keys into ``result``."""
    accepted = []
    for d in debits:
        wallet = wallets.get(d.debit_id)
        if wallet is None or wallet[0] - d.amount < wallet[1] - below * d.amount:
            result.refused.add(d.key)
            continue
        wallet[0] -= d.amount
        accepted.append(d)
    return accepted


def _arrays(debits: list[Debit], **batch: Any) -> dict[str, list]:
    """The journal statements' per-debit arrays, in the debits' order."""
    arrays: dict[str, list] = {"ords": [], "keys": [], "debits": [], "amounts": [], "hashes": [], "refs": [],
                               "metas": [], "macs": []}
    ords, keys, accounts, amounts, hashes, refs, metas, macs = arrays.values()
    for i, (d, request_hash, mac) in enumerate(_rows(debits, **batch)):
        ords.append(i)
        keys.append(d.key)
        accounts.append(d.debit_id)
        amounts.append(d.amount)
        hashes.append(request_hash)
        refs.append(d.reference)
        metas.append(_metadata_json(d.metadata))
        macs.append(mac)
    return arrays


def _settle_postgresql(debits, *, institution_id, credit, stripe, kind, now, below, with_journal) -> BatchResult:
    arrays = _arrays(debits, institution_id=institution_id, credit=credit, kind=kind, now=now)
    batch = {"inst": institution_id, "kind": kind, "credit": credit.id, "stripe": stripe, "now": now}
    if below <= 1:
        result = _settle_at_once(debits, arrays, batch, below, with_journal)
        if result is not None:
            return result
    return _settle_walked(debits, arrays, batch, below, with_journal)


def _settle_at_once(debits, arrays, batch, below, with_journal) -> BatchResult | None:
    """Every debit at once, or None (nothing left of the attempt) when the batch must be walked."""
    totals: dict[int, int] = {}
    lasts: dict[int, int] = {}
    for d in debits:
        totals[d.debit_id] = totals.get(d.debit_id, 0) + d.amount
        lasts[d.debit_id] = d.amount
    attempt = transaction.savepoint()
    (posted,) = _PG_JOURNAL.first_row(connection, {**arrays, **batch})
    result = BatchResult(posted={k: i for k, i in json.loads(posted or "[]")})
    if len(result.posted) == len(debits):  # no key was journaled already
        with_journal(result)
        accounts = sorted(totals)
        _known, balances = _PG_LOCK.first_row(connection, {"inst": batch["inst"], "keys": [], "accounts": accounts})
        locked = {account: (available, floor) for account, available, floor in json.loads(balances or "[]")}
        if len(locked) == len(accounts) and all(
                locked[a][0] - totals[a] >= locked[a][1] - below * lasts[a] for a in accounts):
            available, credited = _PG_BALANCES.first_row(connection, {
                "accounts": accounts, "totals": [totals[a] for a in accounts], "sum": sum(totals.values()),
                "credit": batch["credit"], "stripe": batch["stripe"]})
            if not int(credited or 0):
                raise DomainError("account_closed")  # the credit account is not open: all rolls back
            transaction.savepoint_commit(attempt)
            result.available = {a: v for a, v in json.loads(available or "[]")}
            return result
    transaction.savepoint_rollback(attempt)
    return None


def _settle_walked(debits, arrays, batch, below, with_journal) -> BatchResult:
    result = BatchResult(walked=True)
    known, balances = _PG_LOCK.first_row(connection, {"inst": batch["inst"], "keys": arrays["keys"],
                                                      "accounts": sorted({d.debit_id for d in debits})})
    result.replayed = set(json.loads(known or "[]"))
    wallets = {account: [available, floor] for account, available, floor in json.loads(balances or "[]")}
    accepted = {d.key for d in _walk([d for d in debits if d.key not in result.replayed], wallets, below, result)}
    if accepted:
        keep = [i for i, key in enumerate(arrays["keys"]) if key in accepted]
        written = {name: [values[i] for i in keep] for name, values in arrays.items()}
        written["ords"] = list(range(len(keep)))
        posted, available, inserted, credited = _PG_WRITE.first_row(connection, {**written, **batch})
        if int(inserted or 0) and not int(credited or 0):
            raise DomainError("account_closed")  # the credit account is not open: the caller's transaction rolls back
        result.posted = {k: i for k, i in json.loads(posted or "[]")}
        result.available = {a: v for a, v in json.loads(available or "[]")}
        # a key another transaction journaled between the two statements (not under the caller's lock) was not
        # inserted: not charged here
        result.refused |= accepted - set(result.posted)
    with_journal(result)
    return result


def _settle_portable(debits, *, institution_id, credit, stripe, kind, now, below, with_journal) -> BatchResult:
    """SQLite (one writer at a time under BEGIN IMMEDIATE): the same walk between a few ORM statements."""
    result = BatchResult(walked=True)
    result.replayed = set(Transfer.objects.filter(institution_id=institution_id, key__in=[d.key for d in debits])
                          .values_list("key", flat=True))
    fresh = [d for d in debits if d.key not in result.replayed]
    wallets = {account_id: [available, floor] for account_id, available, floor in
               Balance.objects.filter(account_id__in={d.debit_id for d in fresh}, stripe=0,
                                      account__status=Account.Status.OPEN, account__floor__isnull=False,
                                      account__stripes=1, account__institution_id=institution_id)
               .values_list("account_id", F("credits_posted") - F("debits_posted") - F("debits_pending"),
                            "account__floor")}
    accepted = _walk(fresh, wallets, below, result)
    rows: list[Transfer] = []
    totals: dict[int, int] = {}
    for d, request_hash, mac in _rows(accepted, institution_id=institution_id, credit=credit, kind=kind, now=now):
        totals[d.debit_id] = totals.get(d.debit_id, 0) + d.amount
        rows.append(Transfer(institution_id=institution_id, key=d.key, request_hash=request_hash,
                             phase=Phase.POSTED, kind=kind, debit_id=d.debit_id, debit_stripe=0,
                             credit_id=credit.id, credit_stripe=stripe, amount=d.amount, reference=d.reference,
                             metadata=d.metadata, created_at=now, mac=mac))
    if not rows:
        with_journal(result)
        return result
    if not Account.objects.filter(pk=credit.id, status=Account.Status.OPEN).exists():
        raise DomainError("account_closed")
    for transfer in Transfer.objects.bulk_create(rows):
        result.posted[transfer.key] = transfer.pk
    for account_id, total in totals.items():
        balance = Balance.objects.get(account_id=account_id, stripe=0)
        after = balance.credits_posted - balance.debits_posted - balance.debits_pending - total
        Balance.objects.filter(pk=balance.pk).update(debits_posted=F("debits_posted") + total,
                                                     floor=min(balance.floor if balance.floor is not None else 0,
                                                               after))
        result.available[account_id] = after
    Balance.objects.filter(account_id=credit.id, stripe=stripe).update(
        credits_posted=F("credits_posted") + sum(totals.values()))
    with_journal(result)
    return result


def debit_settle_one(*, institution_id: int, credit: Account | AccountRef, kind: str, debit: Debit,
                     below_floor_fares: int = 0) -> str:
    """The reference: ONE debit with the ORM, row by row (``posted`` / ``replayed`` / ``refused``). Each
    call decides on the balance the previous ones left. Inside the caller's transaction."""
    c = AccountRef.of(credit)
    _check([debit], c, institution_id)
    if Transfer.objects.filter(institution_id=institution_id, key=debit.key).exists():
        return "replayed"
    balance = (Balance.objects.select_for_update().select_related("account")
               .filter(account_id=debit.debit_id, stripe=0, account__institution_id=institution_id).first())
    if balance is None or balance.account.status != Account.Status.OPEN or balance.account.floor is None:
        return "refused"
    available = balance.credits_posted - balance.debits_posted - balance.debits_pending
    if available - debit.amount < balance.account.floor - below_floor_fares * debit.amount:
        return "refused"
    now = clock.now().astimezone(UTC)
    d = debit  # the reference computes its hash and MAC as one transfer does, not with the batch's _rows
    request_hash = _request_hash(Phase.POSTED, kind, d.debit_id, c.id, d.amount, d.reference)
    mac = transfer_mac(institution_id=institution_id, key=d.key, phase=Phase.POSTED, kind=kind, debit_id=d.debit_id,
                       credit_id=c.id, amount=d.amount, pending_id=None, reverses_id=None,
                       created_at_iso=now.isoformat(), reference=d.reference)
    Transfer.objects.create(institution_id=institution_id, key=d.key, request_hash=request_hash, phase=Phase.POSTED,
                            kind=kind, debit_id=d.debit_id, debit_stripe=0, credit_id=c.id, credit_stripe=0,
                            amount=d.amount, reference=d.reference, metadata=d.metadata, created_at=now, mac=mac)
    Balance.objects.filter(pk=balance.pk).update(
        debits_posted=F("debits_posted") + d.amount,
        floor=min(balance.floor if balance.floor is not None else 0, available - d.amount))
    Balance.objects.filter(account_id=c.id, stripe=0).update(credits_posted=F("credits_posted") + d.amount)
    return "posted"
