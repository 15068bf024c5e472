"""A small, streaming .xlsx writer for text tables (the departments' worklists).

Why not openpyxl: it builds a Python object per cell and an XML element per cell when it
saves, about 0.2 ms a cell; a province's worklists hold millions of cells. Here each
column is escaped and joined into rows with Arrow, and the sheets are streamed into the
zip. Every cell is an inline string (a value that starts with ``=`` stays text, never a
formula); characters XML 1.0 cannot hold (control characters other than tab and line
breaks) are written as ``?``, and a value is cut at Excel's 32,767 characters. The zip
entries carry a fixed timestamp, so the same rows give the same bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["write_workbook"]

#: the longest text a cell holds (Excel's limit)
CELL_MAX_CHARS = 32_767
#: characters XML 1.0 does not allow (as a regular expression class)
_NOT_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"
#: rows assembled and written at a time
_ROWS_AT_ONCE = 50_000

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def write_workbook(target: str | Path | IO[bytes],
                   sheets: Sequence[tuple[str, Sequence[Sequence[str | None]]]]) -> None:
    """Write ``sheets`` (sheet name, rows of text; the first row is the header) as one
    workbook to ``target`` (a path or a binary file object). A None cell is left empty."""
    names = _sheet_names([name for name, _ in sheets])
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as book:
        for part, text in _package(len(sheets), names).items():
            book.writestr(_entry(part), text.encode("utf-8"))
        for i, (_, rows) in enumerate(sheets, start=1):
            with book.open(_entry(f"xl/worksheets/sheet{i}.xml"), "w",
                           force_zip64=True) as sheet:
                sheet.write(f'{_XML_HEAD}<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
                for start in range(0, len(rows), _ROWS_AT_ONCE):
                    sheet.write(_rows_xml(rows[start:start + _ROWS_AT_ONCE], start + 1))
                sheet.write(b"</sheetData></worksheet>")


def _rows_xml(rows: Sequence[Sequence[str | None]], first: int) -> bytes:
    """``<row>`` elements of ``rows``, numbered from ``first``: each column escaped and
    joined as a whole (Arrow), not cell by cell."""
    if not rows:
        return b""
    width = max(len(r) for r in rows)
    numbers = pc.cast(pa.array(np.arange(first, first + len(rows), dtype=np.int64)),
                      pa.string())
    cells = []
    for j in range(width):
        column = pa.array([r[j] if j < len(r) else None for r in rows], pa.string())
        cells.append(_cells(column, _column_letters(j), numbers))
    joined = pc.binary_join_element_wise('<row r="', numbers, '">', *cells, "</row>", "")
    return _concatenated(joined)


def _cells(values: pa.Array, column: str, rows: pa.Array) -> pa.Array:
    """Each value as an inline-string cell with its reference (A2, B2, ...); a null cell
    is left out (readers see it empty; the references keep the columns in place)."""
    text = pc.utf8_slice_codeunits(values, 0, CELL_MAX_CHARS)
    text = pc.replace_substring_regex(text, _NOT_XML, "?")
    text = pc.replace_substring(text, "&", "&amp;")
    text = pc.replace_substring(text, "<", "&lt;")
    text = pc.replace_substring(text, ">", "&gt;")
    cell = pc.binary_join_element_wise('<c r="', column, rows,
                                       '" t="inlineStr"><is><t xml:space="preserve">', text,
                                       "</t></is></c>", "")
    return pc.fill_null(cell, "")


def _concatenated(values: pa.Array) -> bytes:
    """The strings of a null-free string array back to back, from its buffers."""
    values = pc.cast(values, pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)
    offsets = offsets[values.offset: values.offset + len(values) + 1]
    data = values.buffers()[2]
    if data is None:
        return b""
    chunk: bytes = data[int(offsets[0]): int(offsets[-1])].to_pybytes()
    return chunk


def _column_letters(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _sheet_names(names: Sequence[str]) -> list[str]:
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


def _package(n: int, names: Sequence[str]) -> dict[str, str]:
    """The parts besides the sheets: content types, relationships, the workbook."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        f'ContentType="{_OOXML}.worksheet+xml"/>' for i in range(1, n + 1))
    sheets = "".join(f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
                     for i, name in enumerate(names, start=1))
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
    return {
        "[Content_Types].xml": (
            f'{_XML_HEAD}<Types xmlns="{_PKG}/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
            f"{overrides}</Types>"),
        "_rels/.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG}/relationships">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'{_XML_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
            f"<sheets>{sheets}</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG}/relationships">{relations}'
            "</Relationships>"),
    }


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info

