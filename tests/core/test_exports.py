"""Exports no spreadsheet turns into formulas (#18 item 9)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from campuscard.core.exports import SafeCsvWriter, safe_cell, xlsx_append


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+86 138", "'+86 138"), ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-12.50", "-12.50"), ("+3", "+3"), ("张三", "张三"), ("a=b", "a=b"), ("", ""), (-1250, -1250), (None, None),
])
def test_a_cell_that_would_run_as_a_formula_is_written_as_text(value, written):
    assert safe_cell(value) == written


def test_the_csv_writer_and_the_xlsx_rows_keep_names_as_text():
    out = io.StringIO()
    SafeCsvWriter(out).writerow(["=HYPERLINK(\"x\")", "-2.00", 3])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=HYPERLINK(\"x\")", "-2.00", "3"]
    book = Workbook()
    xlsx_append(book.active, ["=1+1", 5, "食堂"])
    saved = io.BytesIO()
    book.save(saved)
    row = next(load_workbook(saved).active.iter_rows())
    assert [(c.value, c.data_type) for c in row] == [("=1+1", "s"), (5, "n"), ("食堂", "s")]
