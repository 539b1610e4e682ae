"""Ledger basics on both engines (LED-1 … LED-4)."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from campuscard.core.errors import DomainError
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check, ledger_verify
from campuscard.ledger.models import Account, Transfer
from campuscard.ledger.selectors import account_balances, journal

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(institution):
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w:1", name="W1")
    shop = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m:1", name="Shop",
                               floor=None, stripes=8)
    return cash, wallet, shop


def test_transfer_moves_money_and_keeps_trial_balance(accounts):
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=10_000, kind="recharge")
    result = ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=1_250, kind="payment")
    assert result.debit_balance == 8_750 and result.debit_available == 8_750
    assert account_balances(account_id=wallet.pk).posted == 8_750
    assert account_balances(account_id=shop.pk).posted == 1_250
    assert account_balances(account_id=cash.pk).posted == -10_000
    assert ledger_check().ok and ledger_verify().ok


def test_retry_with_same_key_moves_money_once_and_other_params_are_refused(accounts):
    cash, wallet, _shop = accounts
    first = ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=500, kind="recharge")
    again = ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=500, kind="recharge")
    assert again.replayed and again.id == first.id
    with pytest.raises(DomainError) as refused:
        ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=501, kind="recharge")
    assert refused.value.code == "idempotency_key_reused"
    assert account_balances(account_id=wallet.pk).posted == 500
    assert Transfer.objects.count() == 1


def test_wallet_never_goes_below_zero(accounts):
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    with pytest.raises(DomainError) as refused, transaction.atomic():
        ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=1_001, kind="payment")
    assert refused.value.code == "insufficient_funds"
    assert "¥10.00" in refused.value.message
    assert account_balances(account_id=wallet.pk).posted == 1_000
    assert not Transfer.objects.filter(key="p1").exists()


def test_hold_post_void(accounts):
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    hold = ledger.transfer_create(key="h1", debit=wallet, credit=shop, amount=600, kind="payment", pending=True)
    balances = account_balances(account_id=wallet.pk)
    assert (balances.posted, balances.available) == (1_000, 400)
    with pytest.raises(DomainError) as refused, transaction.atomic():
        ledger.transfer_create(key="p2", debit=wallet, credit=shop, amount=500, kind="payment")
    assert refused.value.code == "insufficient_funds"
    ledger.transfer_post(key="h1-post", pending_id=hold.id, amount=450)
    balances = account_balances(account_id=wallet.pk)
    assert (balances.posted, balances.available, balances.pending_debits) == (550, 550, 0)
    with pytest.raises(DomainError) as again:
        ledger.transfer_void(key="h1-void", pending_id=hold.id)
    assert again.value.code == "transfer_not_pending"
    hold2 = ledger.transfer_create(key="h2", debit=wallet, credit=shop, amount=550, kind="payment", pending=True)
    ledger.transfer_void(key="h2-void", pending_id=hold2.id)
    assert account_balances(account_id=wallet.pk).available == 550
    assert ledger_check().ok


def test_reversal_is_a_new_linked_transfer_and_cannot_exceed_original(accounts):
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    pay = ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=800, kind="payment")
    ledger.transfer_reverse(key="p1-r1", original_id=pay.id, amount=300)
    with pytest.raises(DomainError) as refused, transaction.atomic():
        ledger.transfer_reverse(key="p1-r2", original_id=pay.id, amount=501)
    assert refused.value.code == "reversal_exceeds_original"
    ledger.transfer_reverse(key="p1-r2", original_id=pay.id, amount=500)
    assert account_balances(account_id=wallet.pk).posted == 1_000
    assert Transfer.objects.get(key="p1-r1").reverses_id == pay.id
    rows = journal(account_id=wallet.pk)
    assert [r.running for r in rows] == [1_000, 500, 200, 1_000]


def test_refusals_for_bad_input(accounts, other_institution):
    cash, wallet, shop = accounts
    other = ledger.account_open(institution_id=other_institution.pk, kind=Account.Kind.WALLET, code="w:x", name="X")
    for kwargs, code in [
        ({"amount": 0}, "amount_invalid"), ({"amount": -5}, "amount_invalid"), ({"amount": 1.5}, "amount_invalid"),
        ({"credit": cash}, "accounts_must_differ"), ({"credit": other}, "accounts_other_institution"),
        ({"key": ""}, "idempotency_key_required"),
    ]:
        params = {"key": "k", "debit": cash, "credit": wallet, "amount": 100, "kind": "recharge", **kwargs}
        with pytest.raises(DomainError) as refused:
            ledger.transfer_create(**params)
        assert refused.value.code == code
    assert Transfer.objects.count() == 0


def test_closed_account_refuses(accounts):
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    ledger.account_set_status(account=wallet, status=Account.Status.FROZEN)
    for debit, credit in ((wallet, shop), (cash, wallet)):
        with pytest.raises(DomainError) as refused, transaction.atomic():
            ledger.transfer_create(key=f"x{debit.pk}", debit=debit, credit=credit, amount=10, kind="payment")
        assert refused.value.code == "account_closed"


def test_journal_rows_cannot_be_updated(accounts):
    cash, wallet, _shop = accounts
    result = ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        Transfer.objects.filter(pk=result.id).update(amount=1)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic():
            Transfer.objects.filter(pk=result.id).delete()
    assert Transfer.objects.get(pk=result.id).amount == 1_000


def test_accounts_are_never_deleted(accounts):
    """The journal names accounts without database keys (decisions.md 2026-12-06): deleting one is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("the guard is PostgreSQL's (SQLite's test runner empties tables with DELETE)")
    cash, wallet, shop = accounts
    ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    for account in (wallet, shop):  # with journal rows, and without
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM ledger_account WHERE id = %s", [account.pk])
    assert Account.objects.filter(pk__in=[wallet.pk, shop.pk]).count() == 2


def test_database_check_refuses_a_wallet_below_floor_even_behind_the_service(accounts):
    _cash, wallet, _shop = accounts
    from campuscard.ledger.models import Balance

    with pytest.raises(IntegrityError), transaction.atomic():
        Balance.objects.filter(account=wallet).update(debits_posted=1)
