"""LED-2: journal rows are never updated or deleted — the database refuses it, not a signal.

PostgreSQL refuses UPDATE and DELETE of ledger_transfer rows. SQLite refuses UPDATE (DELETE stays
possible there only so the test runner can empty tables; `campuscard ledger verify` detects it).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ledger_transfer_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger_transfer is append-only (LED-2): %% refused', TG_OP USING ERRCODE = 'P0001';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transfer_no_update_delete BEFORE UPDATE OR DELETE ON ledger_transfer
    FOR EACH ROW EXECUTE FUNCTION ledger_transfer_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledger_transfer_no_update_delete ON ledger_transfer;
DROP FUNCTION IF EXISTS ledger_transfer_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer
BEGIN SELECT RAISE(ABORT, 'ledger_transfer is append-only (LED-2): UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS ledger_transfer_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(vendor)
    if sql:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(vendor)
    if sql:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
