"""DATABASE_POOLER=pgbouncer sets what Django needs behind a transaction pooler (#18 item 3): no server-side
cursors, no prepared statements; anything that cannot work there is refused at start-up. (The money and
access tests themselves run through a real PgBouncer in CI: tests/ops/pgbouncer.py, .ci/run.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PG = "postgres://postgres@127.0.0.1:6432/campuscard"


def settings_with(**env: str) -> subprocess.CompletedProcess:
    code = ("import json, django; from django.conf import settings; django.setup(); "
            "d = settings.DATABASES['default']; print(json.dumps({'pooler': settings.DATABASE_POOLER, "
            "'prepare': settings.PG_PREPARE, 'no_cursors': d.get('DISABLE_SERVER_SIDE_CURSORS', False)}))")
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_POOLER", "PG_PREPARE", "DATABASE_URL")}
    environ.update(DJANGO_SETTINGS_MODULE="campuscard.settings", **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True)


def shown(**env: str) -> dict:
    out = settings_with(**env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_behind_pgbouncer_no_server_side_cursor_and_no_prepared_statement():
    assert shown(DATABASE_URL=PG, DATABASE_POOLER="pgbouncer") == {
        "pooler": "pgbouncer", "prepare": False, "no_cursors": True}
    assert shown(DATABASE_URL=PG) == {"pooler": "", "prepare": True, "no_cursors": False}
    assert shown(DATABASE_URL=PG, DATABASE_POOLER="none")["prepare"] is True


def test_what_cannot_work_behind_a_transaction_pooler_is_refused_at_start_up():
    refused = settings_with(DATABASE_URL=PG, DATABASE_POOLER="pgbouncer", PG_PREPARE="true")
    assert refused.returncode != 0 and "PG_PREPARE=true cannot work" in refused.stderr
    refused = settings_with(DATABASE_URL="sqlite:////tmp/x.sqlite3", DATABASE_POOLER="pgbouncer")
    assert refused.returncode != 0 and "needs a PostgreSQL DATABASE_URL" in refused.stderr
    refused = settings_with(DATABASE_URL=PG, DATABASE_POOLER="pgpool")
    assert refused.returncode != 0 and "DATABASE_POOLER='pgpool'" in refused.stderr
