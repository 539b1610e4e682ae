"""The lunch-rush payment: a password-free QR/HCE payment in ONE database round trip (PostgreSQL).

An implementation detail of ``pos.payment_authorize``, which alone decides to try it. What never
changes is cached in the process (a terminal's secret, merchant and takings account; a credential's
TOTP secret, card, holder and wallet). What can change at any moment is checked inside the statement,
by guards built from the rulebook's own constants (``cards.policy`` through ``cards.sql``, the device
registry's ``devices.sql``, the ledger's ``transfer_ctes``): device live, card usable and of a kind that
pays, credential active, code step unused, daily limit, wallet open and above its floor. The statement
names only this app's tables; if any link refuses, it aborts whole and the ordinary path decides —
and explains — the same request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.db import DatabaseError, connection

from campuscard.cards import codes
from campuscard.cards import sql as cards_sql
from campuscard.cards.models import Credential
from campuscard.core import clock
from campuscard.core.db import Prepared
from campuscard.devices import sql as devices_sql
from campuscard.ledger import services as ledger
from campuscard.payments.models import Terminal

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


_SQL = f"""
WITH uc AS (
    {cards_sql.code_use(when=f"{devices_sql.DEVICE_LIVE} AND {cards_sql.CARD_MAY}")}
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
), {ledger.transfer_ctes(when="EXISTS (SELECT 1 FROM du)")}, p AS (
    INSERT INTO payments_payment (institution_id, terminal_id, merchant_id, person_id, card_id, txn_id, amount,
                                  method, transfer_id, balance_after, refunded, created_at)
    SELECT %(institution_id)s, %(terminal_id)s, %(merchant_id)s, %(person_id)s, %(card_id)s, %(txn_id)s,
           %(amount)s, %(method)s, (SELECT id FROM ins), (SELECT balance FROM d), 0, %(now)s
     WHERE EXISTS (SELECT 1 FROM c)
    RETURNING id, balance_after
)
-- No payment row means a link refused: dividing by zero aborts the whole statement, nothing half-done.
-- (The divisor must come from the data: a constant 1/0 would be folded and raised at planning time.)
SELECT (SELECT balance_after FROM p), (SELECT id FROM p), 1 / (SELECT count(*) FROM p)::int
"""


_PAY = Prepared("pos_pay", _SQL, {
    **devices_sql.TYPES, **cards_sql.TYPES, **ledger.TRANSFER_TYPES, "person_id": "bigint", "day": "date",
    "default_limit": "bigint", "terminal_id": "bigint", "merchant_id": "bigint", "txn_id": "text",
    "method": "text"})
_PAYS = cards_sql.card_may_params("pay")


def _refused(error: DatabaseError) -> bool:
    """Division by zero is how the statement says "a rule refused"; anything else is unexpected."""
    return getattr(error.__cause__, "sqlstate", None) == "22012"


def eligible(*, amount: int, code: str) -> bool:
    """Whether the statement can decide this request at all: PostgreSQL, outside a transaction, an online
    dynamic code (offline codes, NFC and password amounts take the ordinary path)."""
    return (connection.vendor == "postgresql" and not connection.in_atomic_block
            and code.startswith(codes.PREFIX + "."))


def try_pay(*, terminal: TerminalFacts, txn_id: str, amount: int, code: str) -> tuple | None:
    """The receipt's fields, or None when the ordinary path must decide (refusal, retry, anything unusual)."""
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
    transfer = ledger.transfer_params(
        key=f"pos:{terminal.terminal_id}:{txn_id}", amount=amount, kind="payment",
        debit=ledger.AccountRef(facts.wallet_account_id, terminal.institution_id, 1),
        credit=ledger.AccountRef(terminal.account_id, terminal.institution_id, terminal.stripes),
        reference=f"{terminal.merchant_name} {txn_id}", now=now,
        metadata={"merchant": terminal.merchant_id, "terminal": terminal.terminal_id})
    params = {
        **transfer, **_PAYS, "device_id": terminal.device_id, "card_id": facts.card_id,
        "credential_id": facts.credential_id, "step": step, "now": now, "person_id": facts.person_id,
        "day": now.astimezone(clock.zone(terminal.time_zone)).date(), "amount": amount,
        "default_limit": settings.DAILY_LIMIT_DEFAULT_FEN, "terminal_id": terminal.terminal_id,
        "merchant_id": terminal.merchant_id, "txn_id": txn_id, "method": facts.kind,
    }
    try:  # autocommit: the statement is its own transaction, its arguments protocol parameters
        balance_after, payment_id, _one = _PAY.first_row(connection, params)
    except DatabaseError as error:
        if not _refused(error):
            log.warning("payment fast path failed unexpectedly: %s", error)
            stats["handovers"] += 1
            return None
        replayed = _replay(terminal, txn_id, amount)  # a terminal's retry: its stored payment
        stats["replays" if replayed else "handovers"] += 1
        return replayed
    stats["hits"] += 1
    return (txn_id, amount, terminal.merchant_name, facts.person_name, facts.card_number, facts.kind,
            int(balance_after or 0), 0, now, int(payment_id or 0))


_REPLAY = Prepared("pos_replay", f"""
SELECT p.txn_id, p.amount, m.name, h.name, c.number, p.method, p.balance_after, p.refunded, p.created_at, p.id
  FROM payments_payment p
  JOIN payments_merchant m ON m.id = p.merchant_id
  {cards_sql.card_with_holder_join("p.card_id", card="c", person="h")}
 WHERE p.terminal_id = %(terminal_id)s AND p.txn_id = %(txn_id)s AND p.amount = %(amount)s
   AND {devices_sql.DEVICE_LIVE}
""", {"terminal_id": "bigint", "txn_id": "text", "amount": "bigint", "device_id": "bigint"})


def _replay(terminal: TerminalFacts, txn_id: str, amount: int) -> tuple | None:
    """The receipt of this terminal's payment with this txn id and amount in one prepared read, as the
    ordinary path answers a retry; anything else (another amount, a revoked device, a real refusal) is
    None, and the ordinary path decides."""
    with connection.cursor() as cursor:
        _REPLAY.execute(cursor, {"terminal_id": terminal.terminal_id, "txn_id": txn_id, "amount": amount,
                                 "device_id": terminal.device_id})
        row = cursor.fetchone()
    return None if row is None else tuple(row)
