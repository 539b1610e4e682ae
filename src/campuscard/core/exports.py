"""Spreadsheet exports a spreadsheet cannot turn against its reader (#18 item 9, formula injection).

A text cell that begins with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is read as a formula
by Excel, LibreOffice and WPS when the CSV is opened: a merchant named ``=HYPERLINK(…)`` would become a
live link in the settlement. CSV cells get a leading apostrophe (OWASP's advice; numbers written as text,
like ``-12.50``, are left alone); XLSX cells are typed as text, so their value stays exactly as given.
Every CSV and XLSX export writes its rows through here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet runs as a formula."""
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose rows pass through ``safe_cell``."""

    def __init__(self, out, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def xlsx_append(sheet, row: Iterable[Any]) -> None:
    """``sheet.append(row)`` with every text cell typed as text (openpyxl makes ``=…`` a formula)."""
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
