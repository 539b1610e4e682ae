"""The restore drill (#18 item 8) on the engine the suite runs on — SQLite in CI's first run, PostgreSQL in
its second: money moved, `campuscard backup`, every table dropped, `campuscard restore`, then the same
balances, journal and payments, and `ledger check` / `ledger verify` clean."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from campuscard.cards.services import nfc_bind
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.ledger.models import Balance, Transfer
from campuscard.payments import pos
from campuscard.payments.models import Payment, Terminal
from campuscard.payments.services import recharge_cash

pytestmark = pytest.mark.django_db(transaction=True)


def books() -> dict:
    return {
        "balances": sorted(Balance.objects.values_list("account_id", "stripe", "debits_posted", "credits_posted",
                                                       "debits_pending", "credits_pending")),
        "journal": sorted(Transfer.objects.values_list("id", "key", "amount", "mac")),
        "payments": sorted(Payment.objects.values_list("txn_id", "amount", "balance_after", "transfer_id")),
    }


def drop_every_table() -> None:
    """The disaster: the database is empty (a new server, a dropped schema)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            tables = [name for (name,) in cursor.fetchall()]
            for name in tables:
                cursor.execute(f'DROP TABLE "{name}"')
            cursor.execute("PRAGMA foreign_keys = ON")
    assert not connection.introspection.table_names()


def test_restore_drill_brings_back_the_same_books(institution, student, card, tmp_path):
    recharge_cash(channel="window", person=student, amount=50_000, key="drill-fund")
    nfc_bind(actor=Actor.system("t"), card=card, uid="04:A1:B2:C3")
    canteen = pos.merchant_open(actor=Actor.system("t"), institution=institution, code="c", name="食堂", category="canteen")
    device, _secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS,
                                      code="pos-1", name="POS 1")
    terminal = Terminal.objects.create(device=device, merchant=canteen, counter="1")
    for n, amount in enumerate([650, 1200, 800]):
        pos.payment_authorize(terminal=terminal, txn_id=f"drill{n}", amount=amount, nfc_uid="04A1B2C3")
    before = books()
    assert len(before["payments"]) == 3 and len(before["journal"]) >= 4

    out = io.StringIO()
    suffix = "dump" if connection.vendor == "postgresql" else "sqlite3"
    call_command("backup", str(tmp_path / f"drill.{suffix}"), stdout=out)
    assert "backup of" in out.getvalue() and (tmp_path / f"drill.{suffix}").stat().st_size > 0
    assert not list(tmp_path.glob("*.partial"))

    drop_every_table()
    out = io.StringIO()
    call_command("restore", str(tmp_path / f"drill.{suffix}"), "--noinput", stdout=out)
    assert "restored" in out.getvalue() and "check:" in out.getvalue() and "clean" in out.getvalue()
    assert books() == before
    call_command("ledger", "verify", stdout=io.StringIO())  # the row MACs and seals read as written
    # and the restored database takes money again
    recharge_cash(channel="window", person=student, amount=1_000, key="after-restore")
    pos.payment_authorize(terminal=terminal, txn_id="drill3", amount=500, nfc_uid="04A1B2C3")
    call_command("ledger", "check", stdout=io.StringIO())


def test_restore_refuses_a_file_that_is_not_a_backup_of_this_engine(tmp_path):
    other = tmp_path / "other"
    other.write_bytes(b"SQLite format 3\x00" if connection.vendor == "postgresql" else b"PGDMP\x01\x0e")
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(other), "--noinput")
    assert refused.value.returncode == 2 and "is not" in str(refused.value)
    with pytest.raises(CommandError, match="no such file"):
        call_command("restore", str(tmp_path / "missing"), "--noinput")


def test_backup_refuses_the_pooler_and_a_database_in_a_transaction(settings, tmp_path):
    if connection.vendor == "postgresql":
        settings.DATABASE_POOLER = "pgbouncer"
        with pytest.raises(CommandError, match="--database-url"):
            call_command("backup", str(tmp_path / "x.dump"))
    else:
        with transaction.atomic(), pytest.raises(CommandError, match="in a transaction"):
            call_command("backup", str(tmp_path / "x.sqlite3"))
    assert not list(tmp_path.iterdir())
