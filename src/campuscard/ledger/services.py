"""Ledger writes: open accounts, transfer, hold/post/void, reverse (LED-1 … LED-4).

Every function here must run inside the caller's transaction (use ``core.db.money_transaction``
at the outermost service); the ledger never commits on its own so a payment row and its transfer
commit together or not at all.

On PostgreSQL a transfer is ONE statement (insert the journal row, conditionally update the debit
stripe, update the credit stripe, all in data-modifying CTEs): one round trip, no check-then-act
race. On SQLite (writers serialised by BEGIN IMMEDIATE) the same steps run as separate statements.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction

from campuscard.core import clock
from campuscard.core.db import Prepared
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.ledger.mac import transfer_mac
from campuscard.ledger.models import Account, Balance, Transfer

Phase = Transfer.Phase


@dataclass(frozen=True)
class TransferResult:
    id: int
    key: str
    kind: str
    phase: str
    amount: int
    debit_id: int
    credit_id: int
    created_at: datetime
    replayed: bool = False
    debit_balance: int | None = None  # posted balance of the debit account after (unstriped accounts)
    debit_available: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"transfer_id": self.id, "key": self.key, "kind": self.kind, "phase": self.phase,
                "amount": self.amount, "debit_account": self.debit_id, "credit_account": self.credit_id,
                "created_at": self.created_at.isoformat(), "replayed": self.replayed}


@dataclass(frozen=True)
class AccountRef:
    """What a transfer needs to know about an account; callers may cache it (hot paths)."""

    id: int
    institution_id: int
    stripes: int

    @classmethod
    def of(cls, account: Account | AccountRef) -> AccountRef:
        if isinstance(account, AccountRef):
            return account
        return cls(account.pk, account.institution_id, account.stripes)


# --- accounts ----------------------------------------------------------------------------------

def account_open(*, institution_id: int, kind: str, code: str, name: str, owner: str = "",
                 floor: int | None = 0, stripes: int = 1) -> Account:
    """Open an account with its balance stripe rows. Wallets: floor 0 (LED-3); system: floor None."""
    if floor is not None and stripes != 1:
        raise ValueError("an account with a floor must have exactly one stripe")
    with transaction.atomic():
        account = Account.objects.create(institution_id=institution_id, kind=kind, code=code, name=name,
                                         owner=owner, floor=floor, stripes=stripes)
        Balance.objects.bulk_create([Balance(account=account, stripe=s, floor=floor) for s in range(stripes)])
    return account


def account_get_or_open(*, institution_id: int, kind: str, code: str, name: str, owner: str = "",
                        floor: int | None = 0, stripes: int = 1) -> Account:
    account = Account.objects.filter(institution_id=institution_id, code=code).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return account_open(institution_id=institution_id, kind=kind, code=code, name=name, owner=owner,
                                floor=floor, stripes=stripes)
    except IntegrityError:  # opened concurrently by someone else
        account = Account.objects.filter(institution_id=institution_id, code=code).first()
        if account is None:
            raise
        return account


SYSTEM_KINDS = {Account.Kind.CASH_WINDOW, Account.Kind.CASH_KIOSK, Account.Kind.GATEWAY_CLEARING,
                Account.Kind.FEE_INCOME, Account.Kind.TRANSIT_CLEARING, Account.Kind.SUSPENSE,
                Account.Kind.LEGACY_MEAL, Account.Kind.REFUNDS_PAYABLE, Account.Kind.UTILITIES}


def system_account(*, institution_id: int, kind: str) -> Account:
    """The institution's own account of that kind (unbounded: its balance may be negative)."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system account kind")
    return account_get_or_open(institution_id=institution_id, kind=kind, code=f"sys:{kind}",
                               name=str(Account.Kind(kind).label), floor=None, stripes=4)


def account_set_status(*, account: Account, status: str) -> None:
    Account.objects.filter(pk=account.pk).update(status=status)


# --- transfers -----------------------------------------------------------------------------------

def _request_hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _stripe(ref: AccountRef) -> int:
    return 0 if ref.stripes == 1 else random.randrange(ref.stripes)


def transfer_create(*, key: str, debit: Account | AccountRef, credit: Account | AccountRef, amount: int,
                    kind: str, reference: str = "", metadata: dict | None = None, pending: bool = False,
                    expires_at: datetime | None = None) -> TransferResult:
    """Move ``amount`` fen from ``debit`` to ``credit`` once per ``key`` (LED-2, LED-4).

    ``pending=True`` makes a hold: the debit's available balance drops now, the money moves when the
    hold is posted (``transfer_post``) or comes back when it is voided.
    """
    d, c = AccountRef.of(debit), AccountRef.of(credit)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("amount_invalid")
    if d.id == c.id:
        raise DomainError("accounts_must_differ")
    if d.institution_id != c.institution_id:
        raise DomainError("accounts_other_institution")
    phase = Phase.PENDING if pending else Phase.POSTED
    request_hash = _request_hash(phase, kind, d.id, c.id, amount, reference)
    posted, held = (0, amount) if pending else (amount, 0)
    return _apply(
        institution_id=d.institution_id, key=key, request_hash=request_hash, phase=phase, kind=kind,
        debit_id=d.id, debit_stripe=_stripe(d), credit_id=c.id, credit_stripe=_stripe(c), amount=amount,
        deltas=(posted, held, posted, held), pending_id=None, reverses_id=None, reference=reference,
        metadata=metadata or {}, expires_at=expires_at)


def transfer_post(*, key: str, pending_id: int, amount: int | None = None, metadata: dict | None = None
                  ) -> TransferResult:
    """Complete a hold, for its full amount or less (the rest is released)."""
    hold = _hold(pending_id)
    amount = hold.amount if amount is None else amount
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("amount_invalid")
    if amount > hold.amount:
        raise DomainError("post_exceeds_hold")
    request_hash = _request_hash("post", pending_id, amount)
    if (existing := _existing(hold.institution_id, key)) is not None:  # a retry: the first outcome (LED-4)
        return _replay(existing, request_hash)
    _unresolved(hold)
    return _apply(
        institution_id=hold.institution_id, key=key, request_hash=request_hash,
        phase=Phase.POST, kind=hold.kind, debit_id=hold.debit_id, debit_stripe=hold.debit_stripe,
        credit_id=hold.credit_id, credit_stripe=hold.credit_stripe, amount=amount,
        deltas=(amount, -hold.amount, amount, -hold.amount), pending_id=hold.pk, reverses_id=None,
        reference=hold.reference, metadata=metadata or {}, expires_at=None)


def transfer_void(*, key: str, pending_id: int, metadata: dict | None = None) -> TransferResult:
    """Cancel a hold: the held amount becomes available again."""
    hold = _hold(pending_id)
    request_hash = _request_hash("void", pending_id)
    if (existing := _existing(hold.institution_id, key)) is not None:  # a retry: the first outcome (LED-4)
        return _replay(existing, request_hash)
    _unresolved(hold)
    return _apply(
        institution_id=hold.institution_id, key=key, request_hash=request_hash,
        phase=Phase.VOID, kind=hold.kind, debit_id=hold.debit_id, debit_stripe=hold.debit_stripe,
        credit_id=hold.credit_id, credit_stripe=hold.credit_stripe, amount=hold.amount,
        deltas=(0, -hold.amount, 0, -hold.amount), pending_id=hold.pk, reverses_id=None,
        reference=hold.reference, metadata=metadata or {}, expires_at=None)


def transfer_reverse(*, key: str, original_id: int, amount: int | None = None, kind: str | None = None,
                     reference: str = "", metadata: dict | None = None, credit_to: int | None = None
                     ) -> TransferResult:
    """Undo (part of) a posted transfer with a new opposite transfer linked to it (LED-2). ``credit_to``:
    another account of the same institution to pay back into (the original's debit account was closed,
    e.g. a replaced card's wallet whose balance moved on)."""
    original = (Transfer.objects.select_for_update().filter(pk=original_id).first())  # serialises reversals
    if original is None:
        raise DomainError("transfer_not_found")
    # A retry (looked up under the lock, so a concurrent duplicate sees the first one's row): the same
    # answer, without re-checking the limit the first one used up.
    if (existing := _existing(original.institution_id, key)) is not None:
        return _replay(existing, _request_hash("reverse", original_id, amount if amount is not None
                                                else existing.amount, kind or existing.kind, reference))
    if original.phase not in (Phase.POSTED, Phase.POST):
        raise DomainError("transfer_not_pending")
    amount = original.amount if amount is None else amount
    if not isinstance(amount, int) or amount <= 0:
        raise DomainError("amount_invalid")
    reversed_so_far = sum(Transfer.objects.filter(reverses_id=original_id).values_list("amount", flat=True))
    if reversed_so_far + amount > original.amount:
        raise DomainError("reversal_exceeds_original")
    if not kind:  # undoing a reversal re-applies the original kind (no ever-growing "_reversal_reversal…")
        undoes_reversal = original.reverses_id is not None and original.kind.endswith("_reversal")
        kind = original.kind.removesuffix("_reversal") if undoes_reversal else f"{original.kind}_reversal"
    debit = Account.objects.only("id", "institution_id", "stripes").get(pk=original.credit_id)
    credit = Account.objects.only("id", "institution_id", "stripes").get(pk=credit_to or original.debit_id)
    d, c = AccountRef.of(debit), AccountRef.of(credit)
    return _apply(
        institution_id=original.institution_id, key=key,
        request_hash=_request_hash("reverse", original_id, amount, kind, reference), phase=Phase.POSTED,
        kind=kind, debit_id=d.id, debit_stripe=_stripe(d), credit_id=c.id, credit_stripe=_stripe(c),
        amount=amount, deltas=(amount, 0, amount, 0), pending_id=None, reverses_id=original_id,
        reference=reference or original.reference, metadata=metadata or {}, expires_at=None)


def _hold(pending_id: int) -> Transfer:
    hold = Transfer.objects.filter(pk=pending_id).first()
    if hold is None:
        raise DomainError("transfer_not_found")
    return hold


def _unresolved(hold: Transfer) -> None:
    if hold.phase != Phase.PENDING or hold.resolutions.filter(phase__in=[Phase.POST, Phase.VOID]).exists():
        raise DomainError("transfer_not_pending")


def _existing(institution_id: int, key: str) -> Transfer | None:
    return Transfer.objects.filter(institution_id=institution_id, key=key).first()


def _replay(existing: Transfer, request_hash: str) -> TransferResult:
    if existing.request_hash != request_hash:
        raise DomainError("idempotency_key_reused")
    return TransferResult(id=existing.pk, key=existing.key, kind=existing.kind, phase=existing.phase,
                          amount=existing.amount, debit_id=existing.debit_id, credit_id=existing.credit_id,
                          created_at=existing.created_at, replayed=True)


def _apply(*, institution_id: int, key: str, request_hash: str, phase: str, kind: str, debit_id: int,
           debit_stripe: int, credit_id: int, credit_stripe: int, amount: int, deltas: tuple[int, int, int, int],
           pending_id: int | None, reverses_id: int | None, reference: str, metadata: dict,
           expires_at: datetime | None) -> TransferResult:
    if not key or len(key) > 160:
        raise DomainError("idempotency_key_required")
    now = clock.now().astimezone(UTC)  # UTC so the MAC input is what the database gives back
    row = _row(institution_id=institution_id, key=key, request_hash=request_hash, phase=phase, kind=kind,
               debit_id=debit_id, debit_stripe=debit_stripe, credit_id=credit_id, credit_stripe=credit_stripe,
               amount=amount, pending_id=pending_id, reverses_id=reverses_id, reference=reference,
               metadata=metadata, expires_at=expires_at, now=now)
    d_posted, d_pending, c_posted, c_pending = deltas
    if connection.vendor == "postgresql" and not connection.in_atomic_block and pending_id is None \
            and reverses_id is None:
        done = _apply_standalone(row, d_posted, d_pending, c_posted, c_pending)
        if done is not None:
            transfer_id, balance, available, _credited = done
            return TransferResult(id=transfer_id, key=key, kind=kind, phase=phase, amount=amount,
                                  debit_id=debit_id, credit_id=credit_id, created_at=now, debit_balance=balance,
                                  debit_available=available)
        with transaction.atomic():  # replay or refusal: the ordinary statement says which
            return _apply(institution_id=institution_id, key=key, request_hash=request_hash, phase=phase,
                          kind=kind, debit_id=debit_id, debit_stripe=debit_stripe, credit_id=credit_id,
                          credit_stripe=credit_stripe, amount=amount, deltas=deltas, pending_id=pending_id,
                          reverses_id=reverses_id, reference=reference, metadata=metadata, expires_at=expires_at)
    apply = _apply_postgresql if connection.vendor == "postgresql" else _apply_portable
    try:
        transfer_id, balance, available, credited = apply(row, d_posted, d_pending, c_posted, c_pending)
    except IntegrityError:
        if pending_id is not None:  # a concurrent post/void of the same hold won the unique index
            raise DomainError("transfer_not_pending")
        raise
    if transfer_id is None:  # a unique rule kept the row out: the key exists, or the hold is resolved
        existing = _existing(institution_id, key)
        if existing is None:  # a concurrent post/void of the same hold under another key won
            raise DomainError("transfer_not_pending")
        return _replay(existing, request_hash)  # a retry (maybe concurrent) or a conflicting reuse
    if balance is None:
        _refuse_debit(debit_id, amount)
    if not credited:
        raise DomainError("account_closed")
    return TransferResult(id=transfer_id, key=key, kind=kind, phase=phase, amount=amount, debit_id=debit_id,
                          credit_id=credit_id, created_at=now, debit_balance=balance, debit_available=available)


def _row(*, institution_id: int, key: str, request_hash: str, phase: str, kind: str, debit_id: int,
         debit_stripe: int, credit_id: int, credit_stripe: int, amount: int, pending_id: int | None,
         reverses_id: int | None, reference: str, metadata: dict, expires_at: datetime | None,
         now: datetime) -> dict[str, Any]:
    """The journal row as our statements write it, with its MAC."""
    mac = transfer_mac(institution_id=institution_id, key=key, phase=phase, kind=kind, debit_id=debit_id,
                       credit_id=credit_id, amount=amount, pending_id=pending_id, reverses_id=reverses_id,
                       created_at_iso=now.isoformat(), reference=reference)
    return dict(institution_id=institution_id, key=key, request_hash=request_hash, phase=phase, kind=kind,
                debit_id=debit_id, debit_stripe=debit_stripe, credit_id=credit_id, credit_stripe=credit_stripe,
                amount=amount, pending_id=pending_id, reverses_id=reverses_id, reference=reference,
                metadata=json.dumps(metadata, ensure_ascii=False, default=str),
                expires_at=_db_datetime(expires_at), created_at=_db_datetime(now), mac=mac)


def transfer_params(*, key: str, debit: Account | AccountRef, credit: Account | AccountRef, amount: int,
                    kind: str, reference: str = "", metadata: dict | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The parameters of ``transfer_ctes`` for a posted transfer: the row ``transfer_create`` would write
    for the same arguments (so a later retry through it replays instead of conflicting)."""
    d, c = AccountRef.of(debit), AccountRef.of(credit)
    if not key or len(key) > 160:
        raise DomainError("idempotency_key_required")
    row = _row(institution_id=d.institution_id, key=key,
               request_hash=_request_hash(Phase.POSTED, kind, d.id, c.id, amount, reference), phase=Phase.POSTED,
               kind=kind, debit_id=d.id, debit_stripe=_stripe(d), credit_id=c.id, credit_stripe=_stripe(c),
               amount=amount, pending_id=None, reverses_id=None, reference=reference, metadata=metadata or {},
               expires_at=None, now=(now or clock.now()).astimezone(UTC))
    return {**row, "d_posted": amount, "d_pending": 0, "c_posted": amount, "c_pending": 0}


def _db_datetime(value: datetime | None):
    """Raw SQL bypasses field adaptation; adapt like the ORM does (SQLite stores naive UTC text)."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def _refuse_debit(debit_id: int, amount: int):
    """Explain why the conditional debit matched no row; the caller's transaction rolls back."""
    account = Account.objects.filter(pk=debit_id).first()
    if account is None:
        raise DomainError("account_not_found")
    if account.status != Account.Status.OPEN:
        raise DomainError("account_closed")
    from campuscard.ledger.selectors import account_balances

    raise DomainError("insufficient_funds", available=format_fen(account_balances(account_id=debit_id).available))


_COLUMNS = ("institution_id", "key", "request_hash", "phase", "kind", "debit_id", "debit_stripe", "credit_id",
            "credit_stripe", "amount", "pending_id", "reverses_id", "reference", "metadata", "expires_at",
            "created_at", "mac")

def transfer_ctes(*, when: str = "TRUE") -> str:
    """The transfer as three data-modifying CTEs — ``ins`` (the journal row, RETURNING id), ``d`` (the
    conditional debit, RETURNING balance, available) and ``c`` (the credit) — for a statement of ours or
    of an app composing its own write around a transfer (``when``: its SQL condition for the insert).
    Parameters: ``TRANSFER_TYPES``, filled by ``transfer_params``. A refused link leaves ``c`` empty."""
    return f"""ins AS (
    INSERT INTO ledger_transfer ({", ".join(_COLUMNS)})
    SELECT {", ".join(f"%({c})s" + ("::jsonb" if c == "metadata" else "") for c in _COLUMNS)}
     WHERE {when}
    ON CONFLICT DO NOTHING
    RETURNING id
), d AS (
    UPDATE ledger_balance
       SET debits_posted = debits_posted + %(d_posted)s, debits_pending = debits_pending + %(d_pending)s
     WHERE account_id = %(debit_id)s AND stripe = %(debit_stripe)s AND EXISTS (SELECT 1 FROM ins)
       AND (floor IS NULL
            OR credits_posted - debits_posted - debits_pending - %(d_posted)s - %(d_pending)s >= floor)
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(debit_id)s AND status = 'open')
    RETURNING credits_posted - debits_posted AS balance,
              credits_posted - debits_posted - debits_pending AS available
), c AS (
    UPDATE ledger_balance
       SET credits_posted = credits_posted + %(c_posted)s, credits_pending = credits_pending + %(c_pending)s,
           floor = CASE WHEN floor < 0 THEN LEAST(0, credits_posted + %(c_posted)s - debits_posted - debits_pending)
                        ELSE floor END
     WHERE account_id = %(credit_id)s AND stripe = %(credit_stripe)s AND EXISTS (SELECT 1 FROM d)
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(credit_id)s AND status = 'open')
    RETURNING 1
)"""


_PG_SQL = f"""
WITH {transfer_ctes()}
SELECT (SELECT id FROM ins), (SELECT balance FROM d), (SELECT available FROM d), (SELECT count(*) FROM c)
"""


TRANSFER_TYPES = {"institution_id": "bigint", "debit_id": "bigint", "credit_id": "bigint", "debit_stripe": "integer",
             "credit_stripe": "integer", "amount": "bigint", "pending_id": "bigint", "reverses_id": "bigint",
             "metadata": "jsonb", "expires_at": "timestamptz", "created_at": "timestamptz", "d_posted": "bigint",
             "d_pending": "bigint", "c_posted": "bigint", "c_pending": "bigint", "key": "text",
             "request_hash": "text", "phase": "text", "kind": "text", "reference": "text", "mac": "text"}
_PG_APPLY = Prepared("ledger_apply", _PG_SQL, TRANSFER_TYPES)
# Standalone (autocommit) variant: the same statement, but if the credit did not happen — a known key,
# a refused debit, a closed account — the final division by the number of credited rows (zero) aborts
# the whole statement atomically, so nothing of it is left. One round trip, no BEGIN/COMMIT.
_PG_ONCE = Prepared("ledger_once", _PG_SQL.rstrip() + ", 1 / (SELECT count(*) FROM c)::int\n", TRANSFER_TYPES)


def _apply_standalone(row: dict, d_posted: int, d_pending: int, c_posted: int, c_pending: int):
    """Outside any transaction on PostgreSQL: the transfer in one autocommitted statement. Anything
    but a plain success returns None, and the caller decides inside a transaction (replay, refusal)."""
    params = {**row, "d_posted": d_posted, "d_pending": d_pending, "c_posted": c_posted, "c_pending": c_pending}
    try:
        with connection.cursor() as cursor:
            _PG_ONCE.execute(cursor, params)
            return cursor.fetchone()[:4]
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) != "22012":  # not our "refused" signal
            raise
        return None


def _apply_postgresql(row: dict, d_posted: int, d_pending: int, c_posted: int, c_pending: int):
    params = {**row, "d_posted": d_posted, "d_pending": d_pending, "c_posted": c_posted, "c_pending": c_pending}
    with connection.cursor() as cursor:
        _PG_APPLY.execute(cursor, params)
        return cursor.fetchone()


_INSERT_SQL = (f"INSERT INTO ledger_transfer ({', '.join(_COLUMNS)}) "
               f"VALUES ({', '.join('%s' for _ in _COLUMNS)}) ON CONFLICT DO NOTHING "
               "RETURNING id")
_DEBIT_SQL = """
UPDATE ledger_balance SET debits_posted = debits_posted + %s, debits_pending = debits_pending + %s
 WHERE account_id = %s AND stripe = %s
   AND (floor IS NULL OR credits_posted - debits_posted - debits_pending - %s - %s >= floor)
   AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %s AND status = 'open')
RETURNING credits_posted - debits_posted, credits_posted - debits_posted - debits_pending
"""
_CREDIT_SQL = """
UPDATE ledger_balance SET credits_posted = credits_posted + %s, credits_pending = credits_pending + %s,
       floor = CASE WHEN floor < 0 THEN MIN(0, credits_posted + %s - debits_posted - debits_pending) ELSE floor END
 WHERE account_id = %s AND stripe = %s
   AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %s AND status = 'open')
"""


def _apply_portable(row: dict, d_posted: int, d_pending: int, c_posted: int, c_pending: int):
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, [row[c] for c in _COLUMNS])
        inserted = cursor.fetchone()
        if inserted is None:
            return None, None, None, 0
        cursor.execute(_DEBIT_SQL, [d_posted, d_pending, row["debit_id"], row["debit_stripe"], d_posted, d_pending,
                                    row["debit_id"]])
        debited = cursor.fetchone()
        if debited is None:
            return inserted[0], None, None, 0
        cursor.execute(_CREDIT_SQL, [c_posted, c_pending, c_posted, row["credit_id"], row["credit_stripe"],
                                     row["credit_id"]])
        return inserted[0], debited[0], debited[1], cursor.rowcount
