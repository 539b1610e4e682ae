"""LED-5 and tamper evidence: differences made behind the application's back are reported."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from campuscard.core import clock
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check, ledger_seal, ledger_verify
from campuscard.ledger.models import Account, Balance, CheckRun, Seal, Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(institution):
    cash = ledger.system_account(institution_id=institution.pk, kind=Account.Kind.CASH_WINDOW)
    wallet = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.WALLET, code="w", name="W")
    shop = ledger.account_open(institution_id=institution.pk, kind=Account.Kind.MERCHANT, code="m", name="M",
                               floor=None, stripes=4)
    two_days_ago = clock.now() - dt.timedelta(days=2)
    with clock.frozen_at(two_days_ago):
        ledger.transfer_create(key="r1", debit=cash, credit=wallet, amount=5_000, kind="recharge")
        ledger.transfer_create(key="p1", debit=wallet, credit=shop, amount=1_200, kind="payment")
    ledger.transfer_create(key="p2", debit=wallet, credit=shop, amount=300, kind="payment")
    return cash, wallet, shop


def behind_the_back(sql: str, params=()) -> None:
    """What an attacker with database access would do: switch off the guard and edit."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks before ALTER
            cursor.execute("ALTER TABLE ledger_transfer DISABLE TRIGGER ledger_transfer_no_update_delete")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE ledger_transfer ENABLE TRIGGER ledger_transfer_no_update_delete")
        else:
            cursor.execute("DROP TRIGGER ledger_transfer_no_update")
            cursor.execute(sql, params)


def test_clean_ledger_checks_and_verifies(history):
    assert len(ledger_seal()) >= 1
    assert ledger_check().ok
    assert ledger_verify().ok
    call_command("ledger", "check")
    call_command("ledger", "verify")


def test_edited_amount_is_detected_by_verify(history):
    ledger_seal()
    behind_the_back("UPDATE ledger_transfer SET amount = 1 WHERE key = %s", ["p1"])
    run = ledger_verify()
    assert not run.ok
    assert {"type": "transfer_altered", "transfer": Transfer.objects.get(key="p1").pk} in run.problems
    with pytest.raises(CommandError):
        call_command("ledger", "verify")


def test_deleted_row_in_a_sealed_day_is_detected(history):
    ledger_seal()
    sealed = Seal.objects.get(count=2)  # the day with r1 and p1
    behind_the_back("DELETE FROM ledger_transfer WHERE key = %s", ["p1"])
    run = ledger_verify()
    assert any(p["type"] == "sealed_day_changed" and p["day"] == sealed.day.isoformat() for p in run.problems)


def test_edited_seal_breaks_the_chain(history):
    ledger_seal()
    Seal.objects.update(total=1)
    assert any(p["type"] == "seal_chain_broken" for p in ledger_verify().problems)


def test_balance_edited_behind_the_back_is_reported_by_check(history):
    _cash, wallet, _shop = history
    Balance.objects.filter(account=wallet).update(credits_posted=9_999_999)
    run = ledger_check()
    assert not run.ok
    kinds = {p["type"] for p in run.problems}
    assert {"trial_balance", "balance_mismatch"} <= kinds
    with pytest.raises(CommandError):
        call_command("ledger", "check")
    assert CheckRun.objects.filter(ok=False).count() == 2  # kept, never hidden


def test_nightly_job_records_both_runs(history):
    from campuscard.ledger.tasks import ledger_nightly

    result = ledger_nightly.call_local()
    assert result == {"check_ok": True, "verify_ok": True}
    assert set(CheckRun.objects.values_list("kind", flat=True)) == {"check", "verify"}
