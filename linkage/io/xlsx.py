"""The departments' worklists as .xlsx workbooks, through XlsxWriter.

XlsxWriter in ``constant_memory`` mode streams each row to its temporary sheet file, so a
province's worklists do not sit in memory as cell objects (openpyxl held a Python object
and an XML element per cell until it saved: about 0.2 ms a cell). Every cell is written as
text: a value that starts with ``=`` stays text, never a formula, and no text is turned
into a number or a link. A value is cut at Excel's 32,767 characters. The workbook's
creation date is fixed, so the same rows give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import xlsxwriter

__all__ = ["CELL_MAX_CHARS", "sheet_names", "write_workbook"]

#: the longest text a cell holds (Excel's limit)
CELL_MAX_CHARS = 32_767
#: the creation date every workbook carries (a run's outputs depend on its input only)
_CREATED = dt.datetime(2000, 1, 1)


def write_workbook(target: str | Path | IO[bytes],
                   sheets: Sequence[tuple[str, Sequence[Sequence[str | None]]]]) -> None:
    """Write ``sheets`` (sheet name, rows of text; the first row is the header) as one
    workbook to ``target`` (a path or a binary file object). A None cell is left empty."""
    book = xlsxwriter.Workbook(target if isinstance(target, str) else
                               str(target) if isinstance(target, Path) else target,
                               {"constant_memory": True, "strings_to_formulas": False,
                                "strings_to_numbers": False, "strings_to_urls": False,
                                "in_memory": not isinstance(target, str | Path)})
    book.set_properties({"created": _CREATED})
    try:
        for name, rows in zip(sheet_names([n for n, _ in sheets]), sheets, strict=True):
            sheet = book.add_worksheet(name)
            write = sheet.write_string
            for i, row in enumerate(rows[1]):
                for j, value in enumerate(row):
                    if value is not None:
                        write(i, j, value[:CELL_MAX_CHARS])
    finally:
        book.close()


def sheet_names(names: Sequence[str]) -> list[str]:
    """Sheet names Excel accepts: no ``[]:*?/\\``, at most 31 characters, distinct."""
    out: list[str] = []
    for name in names:
        clean = "".join("_" if c in "[]:*?/\\" else c for c in name)[:31] or "Sheet"
        candidate, k = clean, 2
        while candidate in out:
            candidate = f"{clean[:28]}_{k}"
            k += 1
        out.append(candidate)
    return out
