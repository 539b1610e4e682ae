"""Property tests of the ledger (issue 3 "Proof"; LED-2 … LED-5): a hypothesis state machine.

Random transfers between wallets, a striped merchant and system accounts; holds posted in full or
in part, voided; partial reversals; retries of earlier keys with the same parameters (a replay that
moves nothing) and with other parameters (refused); overdrafts (refused, and a refused key is not
stored: its retry is evaluated afresh). A pure-Python model keeps the expected balances.

After every step: each account's balances equal the model's, the trial balance is zero (posted and
pending), and no wallet's available balance is below zero. At the end of each example:
``ledger_check()`` and ``ledger_verify()`` are clean and each wallet's journal ends at its balance.

Each example runs in its own savepoint inside the test's transaction and is rolled back at the end,
so every example starts from an empty ledger on SQLite and on PostgreSQL alike. Service calls run in
a nested ``atomic()`` (what ``money_transaction`` does at the outermost level, minus ``durable``,
which cannot be nested in the example's savepoint) so a refusal rolls back its partial writes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check, ledger_verify
from campuscard.ledger.models import Account, Balance
from campuscard.ledger.selectors import account_balances, journal

WALLETS = ("w0", "w1", "w2", "w3")
MERCHANT = "shop"
SYSTEM = ("cash", "gateway")
ACCOUNTS = (*WALLETS, MERCHANT, *SYSTEM)
AMOUNTS = st.integers(min_value=1, max_value=5_000)
_examples = itertools.count()


@dataclass
class Expected:
    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits


@dataclass
class Done:
    """A stored transfer: how to call it again, and what it did."""

    key: str
    call: str  # create | post | void | reverse
    params: dict
    id: int
    debit: str
    credit: str
    amount: int


@dataclass
class Hold:
    id: int
    debit: str
    credit: str
    amount: int
    resolved: bool = False


@dataclass
class Moved:
    """A money-moving transfer (posted, post of a hold, or reversal) that can be reversed."""

    id: int
    debit: str
    credit: str
    amount: int
    reversed: int = 0


@dataclass
class Refused:
    key: str
    debit: str
    credit: str
    amount: int
    pending: bool


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        n = next(_examples)
        institution = Institution.objects.create(code=f"prop{n}", name=f"Property University {n}")
        self.accounts: dict[str, Account] = {}
        for name in WALLETS:
            self.accounts[name] = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET,
                                                      code=f"wallet:{name}", name=name)
        self.accounts[MERCHANT] = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT,
                                                      code="merchant:shop", name="Shop", floor=None, stripes=8)
        self.accounts["cash"] = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
        self.accounts["gateway"] = ledger.system_account(institution_id=institution.pk,
                                                         kind=Account.Kind.GATEWAY_CLEARING)
        self.model = {name: Expected() for name in ACCOUNTS}
        self.done: list[Done] = []
        self.holds: list[Hold] = []
        self.moved: list[Moved] = []
        self.refused: list[Refused] = []
        self.keys = itertools.count()

    # --- helpers -----------------------------------------------------------------------------

    def _key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.keys)}"

    @staticmethod
    def _call(call: str, **params):
        fn = {"create": ledger.transfer_create, "post": ledger.transfer_post, "void": ledger.transfer_void,
              "reverse": ledger.transfer_reverse}[call]
        with transaction.atomic():
            return fn(**params)

    def _refusal(self, call: str, **params) -> str:
        with pytest.raises(DomainError) as refused:
            self._call(call, **params)
        return refused.value.code

    def _bounded(self, name: str) -> bool:
        return name in WALLETS

    def _create(self, debit: str, credit: str, amount: int, pending: bool, key: str) -> None:
        params = dict(key=key, debit=self.accounts[debit], credit=self.accounts[credit], amount=amount,
                      kind="hold" if pending else "move", pending=pending)
        if self._bounded(debit) and self.model[debit].available < amount:
            assert self._refusal("create", **params) == "insufficient_funds"
            self.refused.append(Refused(key, debit, credit, amount, pending))
            return
        result = self._call("create", **params)
        assert not result.replayed and result.amount == amount
        self.done.append(Done(key, "create", params, result.id, debit, credit, amount))
        if pending:
            self.model[debit].pending_debits += amount
            self.model[credit].pending_credits += amount
            self.holds.append(Hold(result.id, debit, credit, amount))
        else:
            self.model[debit].posted -= amount
            self.model[credit].posted += amount
            self.moved.append(Moved(result.id, debit, credit, amount))

    # --- rules -------------------------------------------------------------------------------

    @rule(wallet=st.sampled_from(WALLETS), source=st.sampled_from(SYSTEM), amount=AMOUNTS)
    def recharge(self, wallet, source, amount):
        self._create(source, wallet, amount, pending=False, key=self._key("recharge"))

    @rule(debit=st.sampled_from(ACCOUNTS), credit=st.sampled_from(ACCOUNTS), amount=AMOUNTS,
          pending=st.booleans())
    def transfer(self, debit, credit, amount, pending):
        if debit == credit:
            params = dict(key=self._key("same"), debit=self.accounts[debit], credit=self.accounts[credit],
                          amount=amount, kind="move")
            assert self._refusal("create", **params) == "accounts_must_differ"
            return
        self._create(debit, credit, amount, pending, key=self._key("hold" if pending else "move"))

    @rule(wallet=st.sampled_from(WALLETS), extra=st.integers(min_value=1, max_value=1_000), pending=st.booleans())
    def overdraft(self, wallet, extra, pending):
        amount = max(self.model[wallet].available, 0) + extra
        self._create(wallet, MERCHANT, amount, pending, key=self._key("overdraft"))

    @precondition(lambda self: self.refused)
    @rule(data=st.data())
    def retry_refused(self, data):
        """A refusal is not stored: the same key and parameters are evaluated again, on today's balance."""
        refused = data.draw(st.sampled_from(self.refused))
        self.refused.remove(refused)
        self._create(refused.debit, refused.credit, refused.amount, refused.pending, key=refused.key)

    @precondition(lambda self: any(not h.resolved for h in self.holds))
    @rule(data=st.data(), full=st.booleans())
    def post(self, data, full):
        hold = data.draw(st.sampled_from([h for h in self.holds if not h.resolved]))
        amount = hold.amount if full else data.draw(st.integers(min_value=1, max_value=hold.amount))
        key = self._key("post")
        params = dict(key=key, pending_id=hold.id, amount=None if full else amount)
        result = self._call("post", **params)
        assert not result.replayed and result.amount == amount and result.phase == "post"
        hold.resolved = True
        self.model[hold.debit].pending_debits -= hold.amount
        self.model[hold.credit].pending_credits -= hold.amount
        self.model[hold.debit].posted -= amount
        self.model[hold.credit].posted += amount
        self.done.append(Done(key, "post", params, result.id, hold.debit, hold.credit, amount))
        self.moved.append(Moved(result.id, hold.debit, hold.credit, amount))

    @precondition(lambda self: any(not h.resolved for h in self.holds))
    @rule(data=st.data())
    def post_too_much(self, data):
        hold = data.draw(st.sampled_from([h for h in self.holds if not h.resolved]))
        assert self._refusal("post", key=self._key("post"), pending_id=hold.id,
                             amount=hold.amount + 1) == "post_exceeds_hold"

    @precondition(lambda self: any(not h.resolved for h in self.holds))
    @rule(data=st.data())
    def void(self, data):
        hold = data.draw(st.sampled_from([h for h in self.holds if not h.resolved]))
        key = self._key("void")
        params = dict(key=key, pending_id=hold.id)
        result = self._call("void", **params)
        assert not result.replayed and result.phase == "void"
        hold.resolved = True
        self.model[hold.debit].pending_debits -= hold.amount
        self.model[hold.credit].pending_credits -= hold.amount
        self.done.append(Done(key, "void", params, result.id, hold.debit, hold.credit, hold.amount))

    @precondition(lambda self: any(h.resolved for h in self.holds))
    @rule(data=st.data(), void=st.booleans())
    def resolve_again(self, data, void):
        """A resolved hold cannot be posted or voided again under a new key."""
        hold = data.draw(st.sampled_from([h for h in self.holds if h.resolved]))
        call, params = ("void", {}) if void else ("post", {"amount": None})
        assert self._refusal(call, key=self._key("again"), pending_id=hold.id, **params) == "transfer_not_pending"

    @precondition(lambda self: self.moved)
    @rule(data=st.data(), full=st.booleans())
    def reverse(self, data, full):
        original = data.draw(st.sampled_from(self.moved))
        left = original.amount - original.reversed
        if full or left == 0:
            amount = left if left else original.amount
        else:
            amount = data.draw(st.integers(min_value=1, max_value=left + 1))  # may exceed by one
        key = self._key("reverse")
        params = dict(key=key, original_id=original.id, amount=amount)
        # The reversal debits what the original credited.
        debit, credit = original.credit, original.debit
        if original.reversed + amount > original.amount:
            assert self._refusal("reverse", **params) == "reversal_exceeds_original"
            return
        if self._bounded(debit) and self.model[debit].available < amount:
            assert self._refusal("reverse", **params) == "insufficient_funds"
            return
        result = self._call("reverse", **params)
        assert not result.replayed and result.amount == amount
        original.reversed += amount
        self.model[debit].posted -= amount
        self.model[credit].posted += amount
        self.done.append(Done(key, "reverse", params, result.id, debit, credit, amount))
        self.moved.append(Moved(result.id, debit, credit, amount))

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def retry_same(self, data):
        """LED-4: the same key and parameters return the first outcome and move nothing."""
        done = data.draw(st.sampled_from(self.done))
        result = self._call(done.call, **done.params)
        assert result.replayed and result.id == done.id and result.amount == done.amount

    @precondition(lambda self: self.done)
    @rule(data=st.data(), as_create=st.booleans())
    def retry_other_params(self, data, as_create):
        """LED-4: the same key with different parameters is refused and moves nothing."""
        done = data.draw(st.sampled_from(self.done))
        if done.call == "reverse" and not as_create:
            call, params = "reverse", {**done.params, "kind": "other_reversal"}
        elif done.call == "post" and not as_create and done.amount > 1:
            call, params = "post", {**done.params, "amount": done.amount - 1}
        else:
            credit = done.credit if done.credit != "cash" else "gateway"
            call, params = "create", dict(key=done.key, debit=self.accounts["cash"], credit=self.accounts[credit],
                                          amount=done.amount + 1, kind="other")
        assert self._refusal(call, **params) == "idempotency_key_reused"

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self):
        for name, account in self.accounts.items():
            got = account_balances(account_id=account.pk)
            want = self.model[name]
            assert (got.posted, got.pending_debits, got.pending_credits) == (
                want.posted, want.pending_debits, want.pending_credits), name

    @invariant()
    def trial_balance_is_zero(self):
        totals = Balance.objects.aggregate(dp=Coalesce(Sum("debits_posted"), 0), cp=Coalesce(Sum("credits_posted"), 0),
                                           dq=Coalesce(Sum("debits_pending"), 0),
                                           cq=Coalesce(Sum("credits_pending"), 0))
        assert totals["cp"] - totals["dp"] == 0
        assert totals["cq"] - totals["dq"] == 0
        assert sum(e.posted for e in self.model.values()) == 0

    @invariant()
    def no_wallet_below_zero(self):
        for name in WALLETS:
            assert account_balances(account_id=self.accounts[name].pk).available >= 0, name

    def teardown(self):
        try:
            check, verify = ledger_check(), ledger_verify()
            assert check.ok, check.problems
            assert verify.ok, verify.problems
            for name in WALLETS:
                rows = journal(account_id=self.accounts[name].pk, limit=1)
                assert (rows[0].running if rows else 0) == self.model[name].posted
        finally:
            transaction.set_rollback(True)
            self._savepoint.__exit__(None, None, None)


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


# --- regressions the state machine found (kept as plain examples) -----------------------------------

@pytest.mark.django_db
def test_retried_post_void_and_reversal_replay_their_first_outcome(institution):
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    ledger.transfer_create(key="r", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    hold = ledger.transfer_create(key="h", debit=wallet, credit=cash, amount=400, kind="fee", pending=True)
    post = ledger.transfer_post(key="h-post", pending_id=hold.id, amount=300)
    again = ledger.transfer_post(key="h-post", pending_id=hold.id, amount=300)
    assert again.replayed and again.id == post.id
    with pytest.raises(DomainError) as reused:
        ledger.transfer_post(key="h-post", pending_id=hold.id, amount=200)
    assert reused.value.code == "idempotency_key_reused"
    with pytest.raises(DomainError) as resolved:
        ledger.transfer_void(key="h-void", pending_id=hold.id)
    assert resolved.value.code == "transfer_not_pending"

    hold2 = ledger.transfer_create(key="h2", debit=wallet, credit=cash, amount=100, kind="fee", pending=True)
    void = ledger.transfer_void(key="h2-void", pending_id=hold2.id)
    assert ledger.transfer_void(key="h2-void", pending_id=hold2.id).id == void.id

    full = ledger.transfer_reverse(key="rev", original_id=post.id)
    assert ledger.transfer_reverse(key="rev", original_id=post.id).replayed
    assert ledger.transfer_reverse(key="rev", original_id=post.id, amount=300).id == full.id
    balances = account_balances(account_id=wallet.pk)
    assert (balances.posted, balances.pending_debits) == (1_000, 0)
    assert ledger_check().ok


@pytest.mark.django_db
def test_a_chain_of_reversals_keeps_a_short_kind(institution):
    """Undoing a reversal re-applies the original kind; kinds do not grow past the column (PostgreSQL)."""
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    step = ledger.transfer_create(key="r", debit=cash, credit=wallet, amount=100, kind="recharge")
    kinds = []
    for i in range(6):
        step = ledger.transfer_reverse(key=f"undo-{i}", original_id=step.id)
        kinds.append(step.kind)
    assert kinds == ["recharge_reversal", "recharge"] * 3
    assert account_balances(account_id=wallet.pk).posted == 100
    assert ledger_check().ok and ledger_verify().ok


@pytest.mark.django_db
def test_transfer_statement_with_and_without_a_prepared_statement(institution, settings):
    """PostgreSQL runs the transfer through a statement prepared once per session; it must survive a
    refused (rolled back) transfer and a reconnect, and step aside when disabled or when psycopg
    prepares statements itself."""
    from django.db import connection

    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    shop = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m", name="M",
                               floor=None, stripes=4)
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=500, kind="recharge")
    with pytest.raises(DomainError), transaction.atomic():  # refused: its savepoint rolls back
        ledger.transfer_create(key="p-big", debit=wallet, credit=shop, amount=501, kind="payment")
    ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=100, kind="payment")
    settings.PG_PREPARE = False
    ledger.transfer_create(key="p2", debit=wallet, credit=shop, amount=100, kind="payment")
    settings.PG_PREPARE = True
    if connection.vendor == "postgresql":
        session = connection.connection
        session.prepare_threshold = 5  # as if the database OPTIONS enabled psycopg's own preparing
        try:
            ledger.transfer_create(key="p3", debit=wallet, credit=shop, amount=100, kind="payment")
        finally:
            session.prepare_threshold = None
    else:
        ledger.transfer_create(key="p3", debit=wallet, credit=shop, amount=100, kind="payment")
    assert account_balances(account_id=wallet.pk).posted == 200
    assert account_balances(account_id=shop.pk).posted == 300
    assert ledger_check().ok and ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_transfer_after_a_reconnect(institution):
    from django.db import connection

    from campuscard.core.db import money_transaction

    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    money_transaction(ledger.transfer_create)(key="r1", debit=cash, credit=wallet, amount=500, kind="recharge")
    connection.close()  # a new database session: the statement is prepared again there
    money_transaction(ledger.transfer_create)(key="r2", debit=cash, credit=wallet, amount=500, kind="recharge")
    assert account_balances(account_id=wallet.pk).posted == 1_000
