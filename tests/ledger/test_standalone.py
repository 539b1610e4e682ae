"""A transfer called outside any transaction on PostgreSQL is one autocommitted statement that either
does everything or nothing (LED-2, LED-3, LED-4)."""

import pytest
from django.db import connection

from campuscard.core.errors import DomainError
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Account, Transfer
from campuscard.ledger.selectors import account_balances

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement standalone path is PostgreSQL's")


def test_standalone_transfers_all_or_nothing(institution):
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    shop = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m", name="M",
                               floor=None, stripes=4)
    assert not connection.in_atomic_block
    first = ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    assert not first.replayed and first.debit_balance is not None
    again = ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=1_000, kind="recharge")
    assert again.replayed and again.id == first.id
    with pytest.raises(DomainError) as reused:
        ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=999, kind="recharge")
    assert reused.value.code == "idempotency_key_reused"
    pay = ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=400, kind="payment")
    assert pay.debit_balance == 600
    with pytest.raises(DomainError) as refused:
        ledger.transfer_create(key="p2", debit=wallet, credit=shop, amount=601, kind="payment")
    assert refused.value.code == "insufficient_funds"
    ledger.account_set_status(account=shop, status=Account.Status.CLOSED)
    with pytest.raises(DomainError) as closed:
        ledger.transfer_create(key="p3", debit=wallet, credit=shop, amount=1, kind="payment")
    assert closed.value.code == "account_closed"
    assert set(Transfer.objects.values_list("key", flat=True)) == {"r1", "p1"}
    assert account_balances(account_id=wallet.pk).posted == 600
    assert ledger_check().ok
