"""core.db.Prepared: a statement prepared once per connection, its array parameters sent as literals or as
protocol parameters (``first_row``)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import DataError, connection

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


TEXT_ECHO = Prepared("test_text_echo", "SELECT array_to_json(%(texts)s::text[])::text, %(ints)s::bigint[]::text, "
                                       "(%(at)s::timestamptz = %(moment)s::timestamptz)::text, NULL::text",
                     {"texts": "text[]", "ints": "bigint[]", "at": "timestamptz", "moment": "timestamptz"})


@pytest.mark.parametrize("prepare", [True, False])
def test_first_row_is_the_row_as_text_by_either_road(settings, prepare):
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE/EXECUTE is PostgreSQL's")
    settings.PG_PREPARE = prepare
    moment = dt.datetime(2026, 11, 30, 4, 5, 6, 789, tzinfo=dt.UTC)
    texts = ['a"b\\c', None, "x,y", "{}", "NULL", "中文 空格"]
    for _ in range(2):
        row = TEXT_ECHO.first_row(connection, {"texts": texts, "ints": [1, None, -7], "at": moment, "moment": moment})
    assert json.loads(row[0]) == texts
    assert row[1:] == ("{1,NULL,-7}", "true", None)


@pytest.mark.parametrize("texts", [["tap:1:2", "x,y", "{}", "NULL", "", " 中文 空格 ", "a}b{c"],  # the quick road
                                   ["plain", 'a"b'], ["plain", "a\\b"], ["plain", None]])  # escaped item by item
def test_lists_of_plain_strings_take_the_quick_road_and_read_the_same(texts):
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE/EXECUTE is PostgreSQL's")
    moment = dt.datetime(2026, 11, 30, 4, 5, 6, tzinfo=dt.UTC)
    row = TEXT_ECHO.first_row(connection, {"texts": texts, "ints": [], "at": moment, "moment": moment})
    assert json.loads(row[0]) == texts


def test_first_row_raises_django_s_errors_and_the_connection_goes_on():
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE/EXECUTE is PostgreSQL's")
    failing = Prepared("test_failing", "SELECT 1 / %(zero)s::int", {"zero": "int"})
    with pytest.raises(DataError):  # division by zero, as Django names it for a cursor
        failing.first_row(connection, {"zero": 0})
    assert failing.first_row(connection, {"zero": 1}) == ("1",)


def test_a_table_empty_when_planned_is_still_read_by_its_index():
    """The generic plan is made once per connection; on an empty table it would be a sequential scan
    for the connection's life, read whole by every call as the table grows."""
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE/EXECUTE is PostgreSQL's")
    from campuscard.cards.models import UsedCode

    UsedCode.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cards_usedcode")
    probe = Prepared("test_used_probe", "SELECT count(*) FROM cards_usedcode WHERE credential_id = %(c)s "
                                        "AND step = %(s)s", {"c": "bigint", "s": "bigint"})
    assert probe.first_row(connection, {"c": 1, "s": 2}) == ("0",)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN EXECUTE {probe.name}(1, 2)")
        plan = " ".join(line for (line,) in cursor.fetchall())
    assert "Seq Scan" not in plan and "used_code_once" in plan


@pytest.mark.parametrize("values", [[1, 2**40, -7, 0], [True, False, True], [1, None, 3], [None, True],
                                    [dt.datetime(2026, 12, 6, 1, 2, 3, 4, tzinfo=dt.UTC)] * 2])
def test_every_quick_road_writes_what_the_item_by_item_road_writes(values):
    """``_array_literal``'s shortcuts for lists of one type are the general road's text exactly."""
    from campuscard.core.db import _array_item, _array_literal

    assert _array_literal(values) == "{" + ",".join(map(_array_item, values)) + "}"
