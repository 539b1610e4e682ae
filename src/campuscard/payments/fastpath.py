"""The lunch-rush path: a password-free QR payment in ONE database round trip (PostgreSQL).

Everything that never changes is cached in the process: a terminal's device secret, merchant and
takings account; a credential's TOTP secret, card, holder and wallet. Everything that can change at
any moment is checked *inside* one SQL statement, so caching never weakens a rule:

* the device is not revoked, the card is active (a loss report stops it at once);
* the one-time code step is unused (``cards_usedcode`` unique row);
* the holder's day total stays within their daily limit (``payments_dailyusage`` upsert);
* the journal row is new (idempotency key ``pos:<terminal>:<txn>``), the wallet stays above its floor,
  the merchant's stripe is credited, and the Payment row is written.

Data-modifying CTEs chain on each other's RETURNING rows; if any link fails, the final SELECT raises,
which aborts the whole statement atomically. The caller then takes the ordinary path
(``pos.payment_authorize``), which replays a duplicate or explains the refusal with its own code.
Password payments, offline codes and NFC taps always take the ordinary path.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.db import DatabaseError, connection

from campuscard.cards import codes
from campuscard.cards.models import Credential
from campuscard.core import clock
from campuscard.core.db import Prepared
from campuscard.ledger.mac import transfer_mac
from campuscard.payments.models import Terminal
from campuscard.payments.pos import receipt

_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TerminalFacts:
    device_id: int
    device_code: str
    device_kind: str
    secret: str
    institution_id: int
    time_zone: str
    terminal_id: int | None
    merchant_id: int | None
    merchant_name: str
    account_id: int | None
    stripes: int


@dataclass(frozen=True)
class CredentialFacts:
    credential_id: int
    kind: str
    token: str
    secret: str
    card_id: int
    card_number: str
    card_kind: str
    person_id: int
    person_name: str
    wallet_account_id: int
    institution_id: int


# How often the fast path decided alone vs handed over (exposed for tests and the lunch-rush bench).
stats = {"hits": 0, "replays": 0, "handovers": 0}
_terminals: dict[str, TerminalFacts] = {}
_credentials: dict[str, CredentialFacts] = {}


def terminal_facts(device_code: str) -> TerminalFacts | None:
    facts = _terminals.get(device_code)
    if facts is not None:
        return facts
    from campuscard.devices.models import Device

    device = Device.objects.select_related("institution").filter(code=device_code).first()
    if device is None:
        return None
    terminal = (Terminal.objects.select_related("merchant__account").filter(device=device).first())
    facts = TerminalFacts(
        device_id=device.pk, device_code=device.code, device_kind=device.kind, secret=device.secret,
        institution_id=device.institution_id, time_zone=device.institution.time_zone,
        terminal_id=terminal.pk if terminal else None, merchant_id=terminal.merchant_id if terminal else None,
        merchant_name=terminal.merchant.name if terminal else "", account_id=terminal.merchant.account_id
        if terminal else None, stripes=terminal.merchant.account.stripes if terminal else 1)
    if terminal is not None:  # an unlinked device may be linked later: do not cache its absence
        with _lock:
            _terminals[device_code] = facts
    return facts


_FACT_FIELDS = ("pk", "kind", "token", "secret", "card_id", "card__number", "card__kind", "card__person_id",
                "card__person__name", "card__wallet_account_id", "card__institution_id")
_warmed = False


def _remember(rows) -> None:
    with _lock:
        for row in rows:
            _credentials[row[2]] = CredentialFacts(*row)


def credential_facts(token: str) -> CredentialFacts | None:
    """At lunch most holders pay once, so the first miss loads every code credential in one query
    (a few MB per process for 50,000 holders); later misses are looked up one by one."""
    global _warmed
    facts = _credentials.get(token)
    if facts is not None:
        return facts
    live = Credential.objects.filter(active=True, kind__in=[Credential.Kind.QR, Credential.Kind.HCE])
    if not _warmed:
        _warmed = True
        _remember(live.values_list(*_FACT_FIELDS).iterator(chunk_size=10_000))
    else:
        _remember(live.filter(token=token).values_list(*_FACT_FIELDS))
    return _credentials.get(token)


def warm() -> None:
    """Load what the first payments would: a server warms up before lunch, not during it."""
    credential_facts("")
    for code in Terminal.objects.values_list("device__code", flat=True):
        terminal_facts(code)


def forget(*, device_code: str | None = None, token: str | None = None) -> None:
    """Drop cached facts that may no longer be true (a device re-registered, a credential changed);
    with no argument, everything (tests)."""
    global _warmed
    with _lock:
        if device_code is None and token is None:
            _terminals.clear()
            _credentials.clear()
            _warmed = False
        if device_code is not None:
            _terminals.pop(device_code, None)
        if token is not None:
            _credentials.pop(token, None)


_SQL = """
WITH dev AS (
    SELECT 1 FROM devices_device WHERE id = %(device_id)s AND revoked_at IS NULL
), crd AS (
    SELECT 1 FROM cards_card WHERE id = %(card_id)s AND state = 'active' AND kind <> 'alumni'
       AND kind <> 'visitor' AND EXISTS (SELECT 1 FROM dev)
       AND EXISTS (SELECT 1 FROM cards_credential WHERE id = %(credential_id)s AND active)
), uc AS (
    INSERT INTO cards_usedcode (credential_id, step, used_at)
    SELECT %(credential_id)s, %(step)s, %(now)s WHERE EXISTS (SELECT 1 FROM crd)
    ON CONFLICT (credential_id, step) DO NOTHING
    RETURNING 1
), du AS (
    INSERT INTO payments_dailyusage (person_id, day, spent, wrong_passwords)
    SELECT %(person_id)s, %(day)s, %(amount)s, 0
     WHERE EXISTS (SELECT 1 FROM uc)
       AND %(amount)s <= COALESCE((SELECT daily_limit FROM payments_spendinglimit
                                    WHERE person_id = %(person_id)s), %(default_limit)s)
    ON CONFLICT (person_id, day) DO UPDATE SET spent = payments_dailyusage.spent + EXCLUDED.spent
     WHERE payments_dailyusage.spent + EXCLUDED.spent
           <= COALESCE((SELECT daily_limit FROM payments_spendinglimit WHERE person_id = %(person_id)s),
                       %(default_limit)s)
    RETURNING spent
), ins AS (
    INSERT INTO ledger_transfer (institution_id, key, request_hash, phase, kind, debit_id, debit_stripe,
                                 credit_id, credit_stripe, amount, pending_id, reverses_id, reference, metadata,
                                 expires_at, created_at, mac)
    SELECT %(institution_id)s, %(key)s, %(request_hash)s, 'posted', 'payment', %(wallet)s, 0, %(account)s,
           %(stripe)s, %(amount)s, NULL, NULL, %(reference)s, %(metadata)s::jsonb, NULL, %(now)s, %(mac)s
     WHERE EXISTS (SELECT 1 FROM du)
    ON CONFLICT (institution_id, key) DO NOTHING
    RETURNING id
), d AS (
    UPDATE ledger_balance SET debits_posted = debits_posted + %(amount)s
     WHERE account_id = %(wallet)s AND stripe = 0 AND EXISTS (SELECT 1 FROM ins)
       AND (floor IS NULL OR credits_posted - debits_posted - debits_pending - %(amount)s >= floor)
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(wallet)s AND status = 'open')
    RETURNING credits_posted - debits_posted AS balance
), c AS (
    UPDATE ledger_balance SET credits_posted = credits_posted + %(amount)s
     WHERE account_id = %(account)s AND stripe = %(stripe)s AND EXISTS (SELECT 1 FROM d)
       AND EXISTS (SELECT 1 FROM ledger_account WHERE id = %(account)s AND status = 'open')
    RETURNING 1
), p AS (
    INSERT INTO payments_payment (institution_id, terminal_id, merchant_id, person_id, card_id, txn_id, amount,
                                  method, transfer_id, balance_after, refunded, created_at)
    SELECT %(institution_id)s, %(terminal_id)s, %(merchant_id)s, %(person_id)s, %(card_id)s, %(txn_id)s,
           %(amount)s, %(method)s, (SELECT id FROM ins), (SELECT balance FROM d), 0, %(now)s
     WHERE EXISTS (SELECT 1 FROM c)
    RETURNING id, balance_after
)
-- No payment row means a link refused: dividing by zero aborts the whole statement, nothing half-done.
-- (The divisor must come from the data: a constant 1/0 would be folded and raised at planning time.)
SELECT (SELECT balance_after FROM p), 1 / (SELECT count(*) FROM p)::int
"""


_PAY = Prepared("pos_pay", _SQL, {
    "device_id": "bigint", "card_id": "bigint", "credential_id": "bigint", "step": "bigint", "now": "timestamptz",
    "person_id": "bigint", "day": "date", "amount": "bigint", "default_limit": "bigint", "institution_id": "bigint",
    "key": "text", "request_hash": "text", "wallet": "bigint", "account": "bigint", "stripe": "integer",
    "reference": "text", "metadata": "jsonb", "mac": "text", "terminal_id": "bigint", "merchant_id": "bigint",
    "txn_id": "text", "method": "text"})


def _refused(error: DatabaseError) -> bool:
    """Division by zero is how the statement says "a rule refused"; anything else is unexpected."""
    return getattr(error.__cause__, "sqlstate", None) == "22012"


def eligible(*, amount: int, code: str) -> bool:
    return (connection.vendor == "postgresql" and not connection.in_atomic_block
            and amount <= settings.PASSWORD_FREE_LIMIT_FEN and code.startswith(codes.PREFIX + "."))


def try_pay(*, terminal: TerminalFacts, txn_id: str, amount: int, code: str) -> dict | None:
    """The receipt, or None when the ordinary path must decide (refusal, replay, anything unusual)."""
    parts = code.split(".")  # an offline code (".O…") is not digits: the ordinary path takes it
    if len(parts) != 3 or len(parts[2]) != codes.DIGITS or not parts[2].isdigit() or terminal.terminal_id is None:
        return None
    facts = credential_facts(parts[1])
    if facts is None or facts.institution_id != terminal.institution_id:
        return None
    step = codes.current_step(facts.secret, parts[2])
    if step is None:
        return None
    now = clock.now().astimezone(UTC)
    key = f"pos:{terminal.terminal_id}:{txn_id}"
    reference = f"{terminal.merchant_name} {txn_id}"
    stripe = 0 if terminal.stripes == 1 else random.randrange(terminal.stripes)
    params = {
        "device_id": terminal.device_id, "card_id": facts.card_id, "credential_id": facts.credential_id,
        "step": step, "now": now, "person_id": facts.person_id, "day": now.astimezone(clock.zone(terminal.time_zone))
        .date(), "amount": amount, "default_limit": settings.DAILY_LIMIT_DEFAULT_FEN,
        "institution_id": terminal.institution_id, "key": key, "request_hash": _request_hash(facts, terminal, amount,
                                                                                           reference),
        "wallet": facts.wallet_account_id, "account": terminal.account_id, "stripe": stripe, "reference": reference,
        "metadata": json.dumps({"merchant": terminal.merchant_id, "terminal": terminal.terminal_id}),
        "mac": transfer_mac(institution_id=terminal.institution_id, key=key, phase="posted", kind="payment",
                            debit_id=facts.wallet_account_id, credit_id=terminal.account_id, amount=amount,
                            pending_id=None, reverses_id=None, created_at_iso=now.isoformat(), reference=reference),
        "terminal_id": terminal.terminal_id, "merchant_id": terminal.merchant_id, "txn_id": txn_id,
        "method": facts.kind,
    }
    try:
        with connection.cursor() as cursor:  # autocommit: the statement is its own transaction
            _PAY.execute(cursor, params)
            balance_after, _one = cursor.fetchone()
    except DatabaseError as error:
        if not _refused(error):
            log.warning("payment fast path failed unexpectedly: %s", error)
            stats["handovers"] += 1
            return None
        replayed = _replay(terminal, txn_id, amount)  # a terminal's retry: its stored payment
        stats["replays" if replayed else "handovers"] += 1
        return replayed
    stats["hits"] += 1
    return receipt(txn_id, amount, terminal.merchant_name, facts.person_name, facts.card_number, facts.kind,
                    balance_after, 0, now)


_REPLAY = Prepared("pos_replay", """
SELECT p.txn_id, p.amount, m.name, h.name, c.number, p.method, p.balance_after, p.refunded, p.created_at
  FROM payments_payment p
  JOIN payments_merchant m ON m.id = p.merchant_id
  JOIN identity_person h ON h.id = p.person_id
  JOIN cards_card c ON c.id = p.card_id
 WHERE p.terminal_id = %(terminal_id)s AND p.txn_id = %(txn_id)s AND p.amount = %(amount)s
   AND EXISTS (SELECT 1 FROM devices_device WHERE id = %(device_id)s AND revoked_at IS NULL)
""", {"terminal_id": "bigint", "txn_id": "text", "amount": "bigint", "device_id": "bigint"})


def _replay(terminal: TerminalFacts, txn_id: str, amount: int) -> dict | None:
    """The receipt of this terminal's payment with this txn id and amount, as ``pos.payment_authorize``
    answers a retry; anything else (another amount, a revoked device, a real refusal) is None."""
    with connection.cursor() as cursor:
        _REPLAY.execute(cursor, {"terminal_id": terminal.terminal_id, "txn_id": txn_id, "amount": amount,
                                 "device_id": terminal.device_id})
        row = cursor.fetchone()
    return None if row is None else receipt(*row)


def _request_hash(facts: CredentialFacts, terminal: TerminalFacts, amount: int, reference: str) -> str:
    """The same request hash the ledger computes, so a later replay through it matches."""
    from campuscard.ledger.services import _request_hash as ledger_hash

    return ledger_hash("posted", "payment", facts.wallet_account_id, terminal.account_id, amount, reference)
