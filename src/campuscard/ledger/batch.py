"""Set-based settlement of a batch of debits to one credit account (LED-2, LED-3, LED-4; TRN-2).

A bus validator uploads hundreds of taps at once; charging them one transaction at a time would cost a
round trip and a journal insert each. ``debits_settle`` applies the whole batch as sets: on PostgreSQL
ONE statement reads and locks the debited balances (in account order, so concurrent batches never
deadlock), walks each account's debits in the caller's order (a recursive walk carrying its running balance), inserts one journal
row per accepted debit (each stays traceable: its own key, MAC, reference and metadata), and updates
each debited balance once and the credit stripe once. On SQLite (writers serialised) the same decision
runs as a few set statements.

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

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import F

from campuscard.core import clock
from campuscard.core.errors import DomainError
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
    iso = now.isoformat()
    for d in debits:
        yield d, _request_hash(Phase.POSTED, kind, d.debit_id, credit.id, d.amount, d.reference), transfer_mac(
            institution_id=institution_id, key=d.key, phase=Phase.POSTED, kind=kind, debit_id=d.debit_id,
            credit_id=credit.id, amount=d.amount, pending_id=None, reverses_id=None, created_at_iso=iso,
            reference=d.reference)


def debits_settle(*, institution_id: int, credit: Account | AccountRef, kind: str, debits: list[Debit],
                  below_floor_fares: int = 0) -> BatchResult:
    """Settle ``debits`` (in their order) against ``credit`` as sets; see the module's docstring."""
    c = AccountRef.of(credit)
    _check(debits, c, institution_id)
    if not debits:
        return BatchResult()
    now = clock.now().astimezone(UTC)
    stripe = 0 if c.stripes == 1 else random.randrange(c.stripes)
    apply = _settle_postgresql if connection.vendor == "postgresql" else _settle_portable
    result = apply(debits, institution_id=institution_id, credit=c, stripe=stripe, kind=kind, now=now,
                   below=below_floor_fares)
    return result


_PG_SETTLE = """
WITH RECURSIVE inp AS (
    SELECT * FROM unnest(%(ords)s::int[], %(keys)s::text[], %(debits)s::bigint[], %(amounts)s::bigint[],
                         %(hashes)s::text[], %(refs)s::text[], %(metas)s::text[], %(macs)s::text[])
           AS t(ord, key, debit_id, amount, request_hash, reference, metadata, mac)
), known AS (
    SELECT t.key FROM ledger_transfer t WHERE t.institution_id = %(inst)s AND t.key = ANY(%(keys)s::text[])
), fresh AS (
    SELECT inp.* FROM inp WHERE NOT EXISTS (SELECT 1 FROM known WHERE known.key = inp.key)
), bal AS (
    SELECT b.account_id, b.credits_posted - b.debits_posted - b.debits_pending AS available, a.floor
      FROM ledger_balance b JOIN ledger_account a ON a.id = b.account_id
     WHERE b.account_id IN (SELECT debit_id FROM fresh) AND b.stripe = 0 AND a.status = 'open'
       AND a.floor IS NOT NULL AND a.stripes = 1 AND a.institution_id = %(inst)s
     ORDER BY b.account_id
       FOR UPDATE OF b
), seq AS (
    SELECT f.*, row_number() OVER (PARTITION BY f.debit_id ORDER BY f.ord) AS n FROM fresh f
), walk (debit_id, n, ord, left_after, ok) AS (
    -- each account's debits in order, carrying its running available balance (one step per debit of
    -- the busiest account in the batch, all accounts at once)
    SELECT s.debit_id, s.n, s.ord,
           CASE WHEN bal.available - s.amount >= bal.floor - %(below)s * s.amount
                THEN bal.available - s.amount ELSE bal.available END,
           bal.available - s.amount >= bal.floor - %(below)s * s.amount
      FROM seq s JOIN bal ON bal.account_id = s.debit_id
     WHERE s.n = 1
    UNION ALL
    SELECT s.debit_id, s.n, s.ord,
           CASE WHEN w.left_after - s.amount >= bal.floor - %(below)s * s.amount
                THEN w.left_after - s.amount ELSE w.left_after END,
           w.left_after - s.amount >= bal.floor - %(below)s * s.amount
      FROM walk w JOIN seq s ON s.debit_id = w.debit_id AND s.n = w.n + 1
      JOIN bal ON bal.account_id = s.debit_id
), ins AS (
    INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe, credit_id,
                                 credit_stripe, amount, pending_id, reverses_id, reference, metadata, expires_at,
                                 created_at, mac)
    SELECT %(inst)s, key, request_hash, 'posted', %(kind)s, debit_id, 0, %(credit)s, %(stripe)s, amount, NULL, NULL,
           reference, metadata::jsonb, NULL, %(now)s, mac
      FROM seq
     WHERE EXISTS (SELECT 1 FROM walk WHERE walk.debit_id = seq.debit_id AND walk.n = seq.n AND walk.ok)
     ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id, key, debit_id, amount
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
       (SELECT coalesce(json_agg(key), '[]') FROM known)::text,
       (SELECT count(*) FROM ins), (SELECT count(*) FROM c)
"""


def _settle_postgresql(debits, *, institution_id, credit, stripe, kind, now, below) -> BatchResult:
    ords, keys, accounts, amounts, hashes, refs, metas, macs = [], [], [], [], [], [], [], []
    for i, (d, request_hash, mac) in enumerate(_rows(debits, institution_id=institution_id, credit=credit,
                                                     kind=kind, now=now)):
        ords.append(i)
        keys.append(d.key)
        accounts.append(d.debit_id)
        amounts.append(d.amount)
        hashes.append(request_hash)
        refs.append(d.reference)
        metas.append(json.dumps(d.metadata, ensure_ascii=False, default=str))
        macs.append(mac)
    params = {"ords": ords, "keys": keys, "debits": accounts, "amounts": amounts, "hashes": hashes, "refs": refs,
              "metas": metas, "macs": macs, "inst": institution_id, "kind": kind, "credit": credit.id,
              "stripe": stripe, "now": now, "below": below}
    with connection.cursor() as cursor:
        cursor.execute(_PG_SETTLE, params)
        posted, available, known, inserted, credited = cursor.fetchone()
    if inserted and not credited:
        raise DomainError("account_closed")  # the credit account is not open: the caller's transaction rolls back
    result = BatchResult(posted={k: i for k, i in json.loads(posted)}, replayed=set(json.loads(known)),
                         available={a: v for a, v in json.loads(available)})
    result.refused = {d.key for d in debits} - set(result.posted) - result.replayed
    return result


def _settle_portable(debits, *, institution_id, credit, stripe, kind, now, below) -> BatchResult:
    """SQLite (one writer at a time under BEGIN IMMEDIATE): the same decision in a few set statements."""
    result = BatchResult()
    result.replayed = set(Transfer.objects.filter(institution_id=institution_id, key__in=[d.key for d in debits])
                          .values_list("key", flat=True))
    fresh = [row for row in _rows(debits, institution_id=institution_id, credit=credit, kind=kind, now=now)
             if row[0].key not in result.replayed]
    wallets = {account_id: [available, floor] for account_id, available, floor in
               Balance.objects.filter(account_id__in={d.debit_id for d, _h, _m in fresh}, stripe=0,
                                      account__status=Account.Status.OPEN, account__floor__isnull=False,
                                      account__stripes=1, account__institution_id=institution_id)
               .values_list("account_id", F("credits_posted") - F("debits_posted") - F("debits_pending"),
                            "account__floor")}
    rows, totals = [], {}
    for d, request_hash, mac in fresh:
        wallet = wallets.get(d.debit_id)
        if wallet is None or wallet[0] - d.amount < wallet[1] - below * d.amount:
            result.refused.add(d.key)
            continue
        wallet[0] -= d.amount
        totals[d.debit_id] = totals.get(d.debit_id, 0) + d.amount
        rows.append(Transfer(institution_id=institution_id, key=d.key, request_hash=request_hash,
                             phase=Phase.POSTED, kind=kind, debit_id=d.debit_id, debit_stripe=0,
                             credit_id=credit.id, credit_stripe=stripe, amount=d.amount, reference=d.reference,
                             metadata=d.metadata, created_at=now, mac=mac))
    if not rows:
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
    ((d, request_hash, mac),) = _rows([debit], institution_id=institution_id, credit=c, kind=kind, now=now)
    Transfer.objects.create(institution_id=institution_id, key=d.key, request_hash=request_hash, phase=Phase.POSTED,
                            kind=kind, debit_id=d.debit_id, debit_stripe=0, credit_id=c.id, credit_stripe=0,
                            amount=d.amount, reference=d.reference, metadata=d.metadata, created_at=now, mac=mac)
    Balance.objects.filter(pk=balance.pk).update(
        debits_posted=F("debits_posted") + d.amount,
        floor=min(balance.floor if balance.floor is not None else 0, available - d.amount))
    Balance.objects.filter(account_id=c.id, stripe=0).update(credits_posted=F("credits_posted") + d.amount)
    return "posted"
