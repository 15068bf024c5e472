"""Each source format's cells as text: CSV (decoded, malformed rows numbered and kept),
Excel sheets, Parquet and Arrow IPC files, SQLite and DuckDB queries.

Every cell is read as text (only the standardise stage may interpret a value) together
with its data-row number, the rows that could not be split, and the values a float held
with fewer digits than they had. :mod:`linkage.io.sources` maps these cells onto canonical
fields and checks the rows. What cannot be read at all raises a
:class:`~linkage.errors.SourceError` naming the source, row and field; a database source
runs one SELECT on a connection that cannot write, attach or read other files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.config import SourceConfig
from linkage.errors import SourceError
from linkage.privacy import mask_digits_in, mask_personal

log = logging.getLogger(__name__)

#: a reader's own column: which read row each kept row was
ROW_POSITION = "__linkage_row_position"
#: longest column name accepted (a header names columns; longer means a header-less file)
MAX_NAME = 1000
#: cells a sheet's used range may span (Excel fills the range densely when read)
MAX_SHEET_CELLS = 50_000_000
#: integers from 2**53 on are not all representable as floats: such a float lost digits
FLOAT_EXACT = 2.0**53


@dataclass(frozen=True)
class RawCells:
    """A source's cells as text, with the data-row number of each row and any read flags."""

    table: pa.Table
    rows: pa.Array  # int64, 1-based data row (header excluded)
    malformed: list[tuple[int, str]]  # (data row, reason) of rows that could not be split
    recovered: frozenset[int] = frozenset()  # rows re-split from lines an open quote joined
    #: column -> whether each row's value came from a float too large to hold its digits
    from_float: Mapping[str, pa.Array] | None = None


def read_cells(source: SourceConfig) -> RawCells:
    """The cells of ``source`` (an existing file, or a database query), by its format."""
    fmt = source.resolved_format
    if fmt == "csv":
        raw = _read_csv(source)
    elif fmt == "xlsx":
        raw = _read_xlsx(source)
    elif fmt == "parquet":
        raw = cells_of(_guard(source, lambda: pq.read_table(source.path)))
    elif fmt == "sqlite":
        raw = _guard(source, lambda: _query_sqlite(source))
    elif fmt == "duckdb":
        raw = cells_of(_guard(source, lambda: _query_duckdb(source)))
    else:
        raw = cells_of(_guard(source, lambda: _read_ipc(source.path)))
    check_names(list(raw.table.column_names), source, "the file has")
    return raw


def _read_csv(source: SourceConfig) -> RawCells:
    data = source.path.read_bytes()
    text = _decode(data, source)
    if text.startswith("\ufeff"):  # a BOM is tolerated whatever the declared encoding
        text = text[1:]
    if "\r" in text and "\n" not in text:
        text = text.replace("\r", "\n")  # classic Mac line ends: CR alone ends a line
    header = next(iter(io.StringIO(text, newline=None)), "")
    names = _split_header(header, source)
    if not names or all(not n.strip() for n in names):
        raise SourceError("the file has no header row", source=source.label, row=0)
    check_names(names, source, "the file has")
    bad_lines: list[tuple[int, str, str]] = []

    def on_invalid(row: Any) -> str:
        bad_lines.append((int(row.number) - 1, f"expected {row.expected_columns} fields, "
                                                 f"got {row.actual_columns}", str(row.text)))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
            parse_options=pacsv.ParseOptions(
                delimiter=source.delimiter, newlines_in_values=True,
                invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        # The reader may quote the offending row: mask any ID or phone in it.
        raise SourceError(f"cannot parse as CSV: {mask_digits_in(str(exc))}",
                          source=source.label, field="path") from None
    lines = text.count("\n") + (not text.endswith("\n")) - 1  # data lines, blank ones too
    blank = text.count("\n\n") + text.count("\n\r\n")
    spans = table.num_rows + len(bad_lines) < lines - blank  # some value holds a line break
    if spans and '"' in text and _swallowed_rows(table, len(names), source.delimiter):
        log.warning("source %s: a stray quote made one value of several whole rows; read "
                    "line by line instead", source.label)
        return _read_lines(text, names, source)
    return _number_rows(table, names, bad_lines, source)


def _swallowed_rows(table: pa.Table, n_fields: int, delimiter: str) -> bool:
    """Whether a value spans lines of which one holds a whole row's delimiters: two stray
    quotes paired up across rows and made one cell of everything between them (a value
    with a line break, such as a two-line address, has no such line)."""
    if n_fields < 2:
        return False
    for column in table.columns:
        multi = pc.filter(column, pc.fill_null(pc.match_substring(column, "\n"), False))
        if len(multi) == 0:
            continue
        lines = pc.list_flatten(pc.split_pattern(multi, "\n"))
        if pc.any(pc.greater_equal(pc.count_substring(lines, delimiter), n_fields - 1)).as_py():
            return True
    return False


def _read_lines(text: str, names: list[str], source: SourceConfig) -> RawCells:
    """Every line one row, split on its own so that no quote can reach past its line (the
    file's quotes are not to be trusted); a line with the wrong number of fields is a
    malformed row. A Python step per line: only files a stray quote broke come here."""
    cells: list[list[str]] = [[] for _ in names]
    numbers: list[int] = []
    malformed: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n")[1:], start=1):
        line = line.rstrip("\r")
        if not line:
            continue
        try:
            row = next(csv.reader([line], delimiter=source.delimiter), [])
        except csv.Error:
            row = []
        if len(row) != len(names):
            malformed.append((number, f"expected {len(names)} fields, got {len(row)}; read "
                                      "line by line after a stray quote"))
            continue
        numbers.append(number)
        for j, value in enumerate(row):
            cells[j].append(value)
    table = pa.table({name: pa.array(cells[j], pa.string()) for j, name in enumerate(names)})
    return RawCells(table=table, rows=pa.array(numbers, pa.int64()), malformed=malformed)


def _number_rows(table: pa.Table, names: list[str], bad_lines: list[tuple[int, str, str]],
                 source: SourceConfig) -> RawCells:
    """Data rows numbered 1.. in file order (exact unless values span several lines), and
    the rows a stray quote swallowed given back.

    The reader reports a malformed row with its text. When that text spans several lines,
    a quote left open joined them (one row with too few fields); each line is then split
    on its own, and a line with the header's number of fields becomes a row again (flagged
    as recovered) instead of vanishing inside the malformed one."""
    total = table.num_rows + len(bad_lines)
    # lines each logical row takes: 1, or a joined row's line count (a Python step per
    # malformed row only; the numbering itself is a cumulative sum)
    span = np.ones(total, dtype=np.int64)
    bad = np.zeros(total, dtype=bool)
    for r, _, txt in bad_lines:
        if 1 <= r <= total:
            bad[r - 1] = True
            span[r - 1] = txt.count("\n") + 1
    first = np.cumsum(span) - span + 1  # number of each logical row's first line
    good_rows = first[~bad].tolist()
    malformed: list[tuple[int, str]] = []
    recovered: dict[int, list[str]] = {}
    for r, why, txt in bad_lines:
        number = int(first[r - 1]) if 1 <= r <= total else r
        lines = txt.split("\n")
        if len(lines) == 1:
            malformed.append((number, why))
            continue
        for k, line in enumerate(lines):
            try:
                cells = next(csv.reader([line.rstrip("\r")], delimiter=source.delimiter), [])
            except csv.Error:
                cells = []
            if len(cells) == len(names):
                recovered[number + k] = cells
            else:
                malformed.append((number + k, f"expected {len(names)} fields, got "
                                              f"{len(cells)}; a quote left open joined the "
                                              "lines after it"))
    if recovered:
        log.warning("source %s: %d row(s) recovered from lines an open quote had joined",
                    source.label, len(recovered))
        extra = pa.table({name: pa.array([cells[j] for cells in recovered.values()],
                                         pa.string()) for j, name in enumerate(names)})
        table = pa.concat_tables([table, extra.select(table.column_names)])
        good_rows.extend(recovered)
    return RawCells(table=table, rows=pa.array(good_rows, pa.int64()), malformed=malformed,
                recovered=frozenset(recovered))


def _split_header(line: str, source: SourceConfig) -> list[str]:
    """The header's column names (a name longer than :data:`MAX_NAME` is refused)."""
    try:
        names = next(csv.reader([line.rstrip("\r\n")], delimiter=source.delimiter), [])
    except csv.Error as exc:  # e.g. a field larger than the csv module's limit
        rough = line.rstrip("\r\n").split(source.delimiter)  # enough to name the column
        _check_name_lengths(rough, source)
        raise SourceError(f"cannot split the header row ({exc}); is the first line a "
                          "header?", source=source.label, row=0) from None
    _check_name_lengths(names, source)
    return names


def _check_name_lengths(names: Sequence[str], source: SourceConfig) -> None:
    for i, name in enumerate(names):
        if len(name) > MAX_NAME:
            raise SourceError(f"column {i + 1}'s name is {len(name):,} characters long "
                              f"(at most {MAX_NAME:,}); is the first line a header?",
                              source=source.label, row=0, field=f"column {i + 1}")


def _decode(data: bytes, source: SourceConfig) -> str:
    encoding = "utf-8" if source.encoding == "utf-8-sig" else source.encoding
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = ""
        if encoding.startswith("utf") and _decodes(data, "gb18030"):
            hint = " (it decodes as GB18030: declare encoding = \"gb18030\")"
        elif encoding != "utf-8" and _decodes(data, "utf-8"):
            hint = " (it decodes as UTF-8: declare encoding = \"utf-8\")"
        raise SourceError(
            f"bytes at offset {exc.start} are not valid {source.encoding}{hint}",
            source=source.label,
            row=max(line - 1, 0),
        ) from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _read_xlsx(source: SourceConfig) -> RawCells:
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    def load() -> list[list[Any]]:
        book = CalamineWorkbook.from_path(str(source.path))
        names = list(book.sheet_names)
        if source.sheet is not None:
            if source.sheet not in names:
                raise SourceError(f"no sheet {source.sheet!r} (sheets: {names})",
                                  source=source.label, field="sheet")
            index = names.index(source.sheet)
        else:
            visible = [i for i, m in enumerate(book.sheets_metadata)
                       if m.visible == SheetVisibleEnum.Visible]
            if not visible:
                raise SourceError(f"every sheet is hidden (sheets: {names}); name one with "
                                  "sheet = ...", source=source.label, field="sheet")
            index = visible[0]
            if index:
                log.warning("source %s: reading sheet %r, the first visible one (hidden "
                            "before it: %s)", source.label, names[index], names[:index])
        _check_sheet_extent(source, index)
        rows: list[list[Any]] = book.get_sheet_by_index(index).to_python(
            skip_empty_area=False)
        return rows

    rows = _guard(source, load)
    if not rows:
        raise SourceError("the sheet is empty", source=source.label, row=0)
    names = [_cell_text(c) or f"column_{i + 1}" for i, c in enumerate(rows[0])]
    _check_name_lengths(names, source)
    check_names(names, source, "the sheet has")
    numbers = [i + 1 for i, r in enumerate(rows[1:]) if any(c not in ("", None) for c in r)]
    body = [rows[i] for i in numbers]
    columns = {}
    lossy = {}
    for i, name in enumerate(names):
        cells = [r[i] if i < len(r) else None for r in body]
        columns[name] = pa.array([_cell_text(c) for c in cells], pa.string())
        big = [isinstance(c, float) and abs(c) >= FLOAT_EXACT for c in cells]
        if any(big):
            lossy[name] = pa.array(big, pa.bool_())
    return RawCells(table=pa.table(columns), rows=pa.array(numbers, pa.int64()), malformed=[],
                from_float=lossy)


_CELL_REF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\b[^>]*?\sr\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?"
                       rb"([0-9]{1,7})")


def _check_sheet_extent(source: SourceConfig, index: int) -> None:
    """Refuse a sheet whose used range is too large to hold, before the reader allocates
    it densely: one stray cell at XFD1048576 in a 6 KB file would ask for 512 GB."""
    import xml.etree.ElementTree as ET
    import zipfile

    try:
        with zipfile.ZipFile(source.path) as z:
            book = ET.fromstring(z.read("xl/workbook.xml"))
            rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            sheets = [e for e in book.iter() if e.tag.endswith("}sheet") or e.tag == "sheet"]
            rid = next(v for k, v in sheets[index].attrib.items() if k.endswith("}id"))
            target = next(e.attrib["Target"] for e in rels if e.attrib.get("Id") == rid)
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            cols, row_numbers = _cell_extent(z, member)
    except (KeyError, IndexError, StopIteration, ET.ParseError, zipfile.BadZipFile, OSError):
        return  # an unusual layout: the reader itself says what is wrong
    if not cols or not row_numbers:
        return
    numbers = [_column_number(c) for c in cols]
    width = max(numbers) - min(numbers) + 1
    height = max(row_numbers) - min(row_numbers) + 1
    if width * height > MAX_SHEET_CELLS:
        last_col = max(cols, key=_column_number).decode()
        raise SourceError(
            f"the sheet's used range spans {height:,} rows x {width:,} columns (at most "
            f"{MAX_SHEET_CELLS:,} cells); a stray cell far from the data (column "
            f"{last_col}, row {max(row_numbers):,}) does this: delete it",
            source=source.label, row=max(row_numbers), field=f"column {last_col}")


def _cell_extent(z: Any, member: str) -> tuple[set[bytes], set[int]]:
    """The column letters and row numbers of every cell reference in a sheet's XML, read
    in chunks (a sheet of a million rows is never held whole)."""
    cols: set[bytes] = set()
    rows: set[int] = set()
    tail = b""
    with z.open(member) as stream:
        while chunk := stream.read(1 << 22):
            data = tail + chunk
            found = _CELL_REF.findall(data)
            cols.update(c.upper() for c, _ in found)
            numbers = {int(r) for r in {r for _, r in found}}
            if numbers:
                rows.update((min(numbers), max(numbers)))
            tail = data[-256:]
    return cols, rows


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a person sees: whole floats without ``.0``, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


#: the SQLite actions a query may take: read tables and call harmless functions
_SQLITE_ALLOWED = {"SQLITE_SELECT", "SQLITE_READ", "SQLITE_FUNCTION", "SQLITE_RECURSIVE"}
_SQLITE_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit",
                            "fts3_tokenizer"}


def _query_sqlite(source: SourceConfig) -> RawCells:
    """The query's result from an SQLite file, every value as text (an SQLite column may
    hold numbers and text side by side). Read-only means it: the file is opened with
    ``mode=ro``, one statement runs, and an authorizer lets it do nothing but read
    (no ATTACH, VACUUM INTO, PRAGMA or extension)."""
    import sqlite3

    allowed = {getattr(sqlite3, name) for name in _SQLITE_ALLOWED if hasattr(sqlite3, name)}
    allowed.add(33)  # SQLITE_RECURSIVE (WITH RECURSIVE), not exported by every Python

    def authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
        if action not in allowed:
            return int(sqlite3.SQLITE_DENY)
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in \
                _SQLITE_DENIED_FUNCTIONS:
            return int(sqlite3.SQLITE_DENY)
        return int(sqlite3.SQLITE_OK)

    uri = f"{source.path.resolve().as_uri()}?mode=ro{_sqlite_immutable(source.path)}"
    with closing(sqlite3.connect(uri, uri=True)) as con:
        con.set_authorizer(authorize)
        try:
            cursor = con.execute(str(source.query))
        except sqlite3.DatabaseError as exc:
            if "authoriz" in str(exc) or "one statement" in str(exc):
                raise SourceError(f"the query may only read: one SELECT statement ({exc})",
                                  source=source.label, field="query") from None
            raise
        except sqlite3.ProgrammingError as exc:
            raise SourceError(f"the query must be one SELECT statement ({exc})",
                              source=source.label, field="query") from None
        if cursor.description is None:
            raise SourceError("the query returns no rows (a statement, not a SELECT?)",
                              source=source.label, field="query")
        names = [d[0] for d in cursor.description or ()]
        check_names(names, source, "the query returns")
        rows = cursor.fetchall()
    columns = {}
    lossy = {}
    for j, name in enumerate(names):
        values = [row[j] for row in rows]
        if not all(v is None or isinstance(v, str) for v in values):
            big = [isinstance(v, float) and abs(v) >= FLOAT_EXACT for v in values]
            if any(big):
                lossy[name] = pa.array(big, pa.bool_())
            values = [None if v is None else _db_text(v) for v in values]
        columns[name] = pa.array(values, pa.string())
    table = pa.table(columns) if columns else pa.table({})
    return RawCells(table=table, rows=pa.array(np.arange(1, table.num_rows + 1)), malformed=[],
                from_float=lossy)


def _sqlite_immutable(path: Path) -> str:
    """``&immutable=1`` for a WAL-mode file without a ``-wal`` file beside it: everything
    is in the main file, and even a read-only open would otherwise create ``-wal`` and
    ``-shm`` files next to it. (Where a ``-wal`` file exists, a writer's pages are in it
    and must be read through the usual shared memory.)"""
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except OSError:
        return ""
    wal_mode = header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"
    if wal_mode and not path.with_name(path.name + "-wal").exists():
        return "&immutable=1"
    return ""


def _query_duckdb(source: SourceConfig) -> pa.Table:
    """The query's result from a DuckDB file, as Arrow. Read-only means it: the file is
    opened ``read_only``, external access (reading or writing any other file: COPY,
    read_csv, EXPORT, ATTACH) is switched off and locked, and the query must be exactly
    one SELECT."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False, "autoinstall_known_extensions": False,
              "autoload_known_extensions": False, "lock_configuration": True}
    with closing(duckdb.connect(str(source.path), read_only=True, config=config)) as con:
        statements = con.extract_statements(str(source.query))
        kinds = [st.type for st in statements]
        if len(statements) != 1 or kinds[0] != duckdb.StatementType.SELECT:
            shown = ", ".join(k.name for k in kinds) or "none"
            raise SourceError(f"the query must be exactly one SELECT statement (it has: "
                              f"{shown})", source=source.label, field="query")
        relation = con.sql(str(source.query))
        if relation is None:
            raise SourceError("the query returns no rows (a statement, not a SELECT?)",
                              source=source.label, field="query")
        check_names(list(relation.columns), source, "the query returns")
        return relation.to_arrow_table()


def check_names(names: list[str], source: SourceConfig, what: str) -> None:
    """Column names a source can be mapped by: some, and none twice."""
    if not names:
        raise SourceError(f"{what} no columns", source=source.label, row=0)
    counts = Counter(names)  # linear: a header may have 100,000 names
    dupes = sorted(mask_personal(n)[:60] for n, k in counts.items() if k > 1)
    if dupes:
        shown = dupes[:10] + (["..."] if len(dupes) > 10 else [])
        raise SourceError(f"{what} duplicate column name(s) {shown}", source=source.label,
                          row=0, field=dupes[0])


def _db_text(value: Any) -> str:
    """A database value as text: bytes decoded as UTF-8, otherwise as an Excel cell."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return _cell_text(value)


def _read_ipc(path: Path) -> pa.Table:
    import pyarrow.feather as feather

    return feather.read_table(path)


def cells_of(table: pa.Table) -> RawCells:
    """A table as read (text is made of the mapped columns only, so an unmapped nested
    column is no obstacle), with the whole floats too large to hold their digits marked."""
    lossy = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(column.type) and column.null_count < len(column):
            big = pc.fill_null(pc.greater_equal(pc.abs(column), FLOAT_EXACT), False)
            if pc.any(big).as_py():
                lossy[name] = big.combine_chunks() if isinstance(big, pa.ChunkedArray) \
                    else big
    return RawCells(table=table, rows=pa.array(np.arange(1, table.num_rows + 1)), malformed=[],
                from_float=lossy)


def _guard(source: SourceConfig, load: Any) -> Any:
    try:
        return load()
    except SourceError:
        raise
    except Exception as exc:  # any reader's failure becomes a message naming the source
        # a database's failure is its query's (syntax, table, a file it may not read);
        # a file's that the file at ``path`` is not what its format says
        field = "query" if source.query is not None else "path"
        raise SourceError(f"cannot read as {source.resolved_format}: {type(exc).__name__}: "
                          f"{mask_digits_in(' '.join(str(exc).split()))}",
                          source=source.label, field=field) from None


def text_of_column(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type):
        return column
    if pa.types.is_floating(column.type):
        # Whole numbers stored as floats (IDs, codes) must not gain a ".0".
        whole = pc.equal(column, pc.floor(column))
        as_int = pc.cast(pc.if_else(whole, column, None), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    return pc.cast(column, pa.string())
