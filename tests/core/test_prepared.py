"""core.db.Prepared: a statement prepared once per connection, its array parameters sent as literals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from campuscard.core.db import Prepared

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = Prepared("test_echo", "SELECT %(texts)s::text[], %(ints)s::bigint[], %(flags)s::bool[], %(days)s::date[], "
                             "%(at)s::timestamptz[], %(one)s::int",
                {"texts": "text[]", "ints": "bigint[]", "flags": "bool[]", "days": "date[]", "at": "timestamptz[]",
                 "one": "int"})


@pytest.mark.parametrize("prepare", [True, False])
def test_arrays_survive_the_round_trip_whatever_their_text(settings, prepare):
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE/EXECUTE is PostgreSQL's")
    settings.PG_PREPARE = prepare
    moment = dt.datetime(2026, 11, 30, 4, 5, 6, 789, tzinfo=dt.UTC)
    params = {"texts": ['a"b\\c', None, "x,y", "{}", "NULL", "中文 空格"], "ints": [1, None, -7, 2**40],
              "flags": [True, False, None], "days": [dt.date(2026, 2, 28)], "at": [moment, None], "one": 3}
    for _ in range(2):  # prepared on the first call, executed by name on the second
        with connection.cursor() as cursor:
            ECHO.execute(cursor, params)
            row = cursor.fetchone()
    assert row == (params["texts"], params["ints"], params["flags"], params["days"], params["at"], 3)
