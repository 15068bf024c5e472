"""Read departmental sources and map their columns onto canonical fields (RecordTable).

Every cell is read as text: departments store ID numbers as numbers, dates in a dozen
formats and codes with leading zeros, and only the standardise stage may interpret them.
Nothing is dropped here. A malformed CSV row (wrong number of fields) becomes a record
whose fields are all null and whose ``flags`` say why; a duplicated department key keeps
both records and flags them; an unparseable update time is null and flagged. What cannot be
read at all (missing file, undecodable bytes, a mapped column that is absent) raises a
:class:`~linkage.errors.SourceError` naming the source, row and field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
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

from linkage.config import PipelineConfig, SourceConfig
from linkage.errors import SourceError
from linkage.flags import collect_flags
from linkage.io.mapping import apply_mapping
from linkage.privacy import mask_digits_in
from linkage.schemas import RECORD_BASE
from linkage.standardisers.dates import parse_dates

log = logging.getLogger(__name__)

#: update times outside [EARLIEST_UPDATE, LATEST_UPDATE) are typos, not times (flagged)
EARLIEST_UPDATE = dt.date(1900, 1, 1)
LATEST_UPDATE = dt.date(2100, 1, 1)


@dataclass(frozen=True)
class _Raw:
    """A source's cells as text, with the data-row number of each row and any read flags."""

    table: pa.Table
    rows: pa.Array  # int64, 1-based data row (header excluded)
    malformed: list[tuple[int, str]]  # (data row, reason) of rows that could not be split
    recovered: frozenset[int] = frozenset()  # rows re-split from lines an open quote joined


def read_sources(config: PipelineConfig) -> pa.Table:
    """Read every source of ``config`` into one RecordTable (record ids dense from 0)."""
    tables = []
    offset = 0
    for source in config.sources:
        table = read_source(source, first_record_id=offset)
        offset += table.num_rows
        tables.append(table)
    records = pa.concat_tables(tables, promote_options="default")
    log.info("read %d records from %d sources", records.num_rows, len(config.sources))
    return records


def read_source(source: SourceConfig, *, first_record_id: int = 0) -> pa.Table:
    """One source file -> RecordTable rows with canonical field columns (all strings)."""
    if not source.path.is_file():
        raise SourceError(f"file not found: {source.path}", source=source.label)
    fmt = source.resolved_format
    if fmt == "csv":
        raw = _read_csv(source)
    elif fmt == "xlsx":
        raw = _read_xlsx(source)
    elif fmt == "parquet":
        raw = _from_table(_guard(source, lambda: pq.read_table(source.path)))
    elif fmt == "sqlite":
        raw = _from_table(_guard(source, lambda: _query_sqlite(source)))
    elif fmt == "duckdb":
        raw = _from_table(_guard(source, lambda: _query_duckdb(source)))
    else:
        raw = _from_table(_guard(source, lambda: _read_ipc(source.path)))
    return map_columns(
        raw.table,
        source=source,
        rows=raw.rows,
        malformed=raw.malformed,
        first_record_id=first_record_id,
        recovered=raw.recovered,
    )


def read_records(
    data: Any,
    *,
    department: str,
    entity_type: str,
    key: str,
    columns: Mapping[str, str],
    updated_at: str | None = None,
    first_record_id: int = 0,
) -> pa.Table:
    """An in-memory table (pyarrow Table or pandas DataFrame) -> RecordTable rows."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    source = SourceConfig(
        department=department,
        entity_type=entity_type,  # type: ignore[arg-type]
        path=Path(f"<memory:{department}>"),
        key=key,
        columns=dict(columns),
        updated_at=updated_at,
    )
    raw = _from_table(table)
    return map_columns(raw.table, source=source, rows=raw.rows, malformed=[],
                       first_record_id=first_record_id)


def map_columns(
    table: pa.Table,
    *,
    source: SourceConfig,
    rows: pa.Array,
    malformed: Sequence[tuple[int, str]],
    first_record_id: int,
    recovered: frozenset[int] = frozenset(),
) -> pa.Table:
    """Rename a source's columns to canonical fields and add the RecordTable base columns.
    Rows numbered in ``recovered`` get a flag saying they were re-split from a joined row."""
    table, rows, columns = apply_mapping(table, rows, source)  # where, joined columns, units
    wanted = {"key": source.key, **{f"columns.{f}": c for f, c in columns.items()}}
    if source.updated_at:
        wanted["updated_at"] = source.updated_at
    absent = [f"{what} -> {col!r}" for what, col in wanted.items() if col not in table.column_names]
    if absent:
        available = ", ".join(map(repr, table.column_names[:30]))
        raise SourceError(
            f"mapped column(s) not in the file: {'; '.join(absent)} (columns present: {available})",
            source=source.label,
            field=absent[0].split(" ->")[0],
        )
    n_good = table.num_rows
    n = n_good + len(malformed)
    keys = _text(table.column(source.key))
    fields = {f: _text(table.column(c)) for f, c in columns.items()}
    blank_key = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(keys), ""), True)
    updated, bad_update, implausible = _updated_at(table, source)
    checks = [_flag_where(blank_key, "source_key:missing"),
              _flag_where(bad_update, "updated_at:bad_date"),
              _flag_where(implausible, "updated_at:implausible")]
    if recovered:
        was_joined = pc.is_in(rows, value_set=pa.array(sorted(recovered), pa.int64()))
        checks.append(_flag_where(was_joined, "row:recovered (an open quote had joined it "
                                              "to the row before; re-split by line)"))

    if malformed:
        pad = len(malformed)
        keys = pa.concat_arrays([keys, pa.array([f"<malformed row {r}>" for r, _ in malformed])])
        fields = {f: pa.concat_arrays([a, pa.nulls(pad, pa.string())]) for f, a in fields.items()}
        rows = pa.concat_arrays([rows, pa.array([r for r, _ in malformed], pa.int64())])
        updated = pa.concat_arrays([updated, pa.nulls(pad, pa.date32())])
        checks = [pa.concat_arrays([c, pa.nulls(pad, pa.string())]) for c in checks]
        checks.append(pa.concat_arrays([
            pa.nulls(n_good, pa.string()),
            pa.array([f"row:malformed ({why})" for _, why in malformed], pa.string())]))

    checks.append(_flag_where(_duplicated(keys), "source_key:duplicate"))
    flags = collect_flags(checks, n)
    out = {
        "record_id": pa.array(np.arange(first_record_id, first_record_id + n, dtype=np.int64)),
        "source": pa.array([source.department] * n, pa.string()),
        "source_key": keys,
        "entity_type": pa.array([source.entity_type] * n, pa.string()),
        "source_row": rows,
        "updated_at": updated,
        **fields,
        "flags": flags,
    }
    result = pa.table(out)
    assert result.schema.field("record_id").type == RECORD_BASE.field("record_id").type
    bad = int(pc.sum(pc.greater(pc.list_value_length(flags), 0)).as_py() or 0)
    log.info("source %s: %d records (%d flagged on read)", source.label, n, bad)
    return result


def _flag_where(condition: pa.Array, flag: str) -> pa.Array:
    """``flag`` where ``condition`` holds, null elsewhere (one part of the flags column)."""
    return pc.if_else(condition, pa.scalar(flag), pa.scalar(None, pa.string()))


# --- formats -----------------------------------------------------------------------------


def _read_csv(source: SourceConfig) -> _Raw:
    data = source.path.read_bytes()
    text = _decode(data, source)
    if text.startswith("\ufeff"):  # a BOM is tolerated whatever the declared encoding
        text = text[1:]
    header = next(iter(io.StringIO(text)), "")
    names = next(iter(_split_header(header, source.delimiter)), [])
    if not names or all(not n.strip() for n in names):
        raise SourceError("the file has no header row", source=source.label, row=0)
    _check_names(names, source, "the file has")
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
                          source=source.label) from None
    return _number_rows(table, names, bad_lines, source)


def _number_rows(table: pa.Table, names: list[str], bad_lines: list[tuple[int, str, str]],
                 source: SourceConfig) -> _Raw:
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
            cells = next(csv.reader([line.rstrip("\r")], delimiter=source.delimiter), [])
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
    return _Raw(table=table, rows=pa.array(good_rows, pa.int64()), malformed=malformed,
                recovered=frozenset(recovered))


def _split_header(line: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))


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


def _read_xlsx(source: SourceConfig) -> _Raw:
    from python_calamine import CalamineWorkbook

    def load() -> list[list[Any]]:
        book = CalamineWorkbook.from_path(str(source.path))
        name = source.sheet or book.sheet_names[0]
        if name not in book.sheet_names:
            raise SourceError(f"no sheet {name!r} (sheets: {book.sheet_names})",
                              source=source.label)
        rows: list[list[Any]] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        return rows

    rows = _guard(source, load)
    if not rows:
        raise SourceError("the sheet is empty", source=source.label, row=0)
    names = [_cell_text(c) or f"column_{i + 1}" for i, c in enumerate(rows[0])]
    body = [r for r in rows[1:] if any(c not in ("", None) for c in r)]
    columns = {
        name: pa.array([_cell_text(r[i]) if i < len(r) else "" for r in body], pa.string())
        for i, name in enumerate(names)
    }
    return _Raw(table=pa.table(columns), rows=pa.array(np.arange(1, len(body) + 1)),
                malformed=[])


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


def _query_sqlite(source: SourceConfig) -> pa.Table:
    """The query's result from an SQLite file opened read-only, every value as text (an
    SQLite column may hold numbers and text side by side)."""
    import sqlite3

    uri = f"{source.path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as con:
        cursor = con.execute(str(source.query))
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    _check_names(names, source, "the query returns")
    columns = {}
    for j, name in enumerate(names):
        values = [row[j] for row in rows]
        if not all(v is None or isinstance(v, str) for v in values):
            values = [None if v is None else _db_text(v) for v in values]
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns) if columns else pa.table({})


def _query_duckdb(source: SourceConfig) -> pa.Table:
    """The query's result from a DuckDB file opened read-only, as Arrow."""
    import duckdb

    with closing(duckdb.connect(str(source.path), read_only=True)) as con:
        relation = con.sql(str(source.query))
        if relation is None:
            raise SourceError("the query returns no rows (a statement, not a SELECT?)",
                              source=source.label)
        _check_names(list(relation.columns), source, "the query returns")
        return relation.to_arrow_table()


def _check_names(names: list[str], source: SourceConfig, what: str) -> None:
    """Column names a source can be mapped by: some, and none twice."""
    if not names:
        raise SourceError(f"{what} no columns", source=source.label, row=0)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceError(f"{what} duplicate column name(s) {dupes}", source=source.label,
                          row=0)


def _db_text(value: Any) -> str:
    """A database value as text: bytes decoded as UTF-8, otherwise as an Excel cell."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return _cell_text(value)


def _read_ipc(path: Path) -> pa.Table:
    import pyarrow.feather as feather

    return feather.read_table(path)


def _from_table(table: pa.Table) -> _Raw:
    columns = {name: _text(table.column(name)) for name in table.column_names}
    return _Raw(table=pa.table(columns) if columns else table,
                rows=pa.array(np.arange(1, table.num_rows + 1)), malformed=[])


def _guard(source: SourceConfig, load: Any) -> Any:
    try:
        return load()
    except SourceError:
        raise
    except Exception as exc:  # any reader's failure becomes a message naming the source
        raise SourceError(f"cannot read as {source.resolved_format}: {type(exc).__name__}: "
                          f"{mask_digits_in(str(exc))}", source=source.label) from None


def _text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
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


# --- row-level checks ---------------------------------------------------------------------


def _updated_at(table: pa.Table, source: SourceConfig) -> tuple[pa.Array, pa.Array, pa.Array]:
    """The update time of each row (the snapshot date where none is given or usable),
    whether a written value could not be read as a date, and whether a date was read but
    cannot be a record's update time: before ``EARLIEST_UPDATE``, from ``LATEST_UPDATE``
    on, or after the source's snapshot date. An implausible time is replaced like a
    missing one, since "most recent" survivorship would otherwise trust a year-2999 typo;
    the row keeps a flag saying so. (Fixed bounds, never today's date: a run's output must
    not depend on the day it runs.)"""
    n = table.num_rows
    fallback = _snapshot(source)
    if not source.updated_at:
        none = pa.array(np.zeros(n, dtype=bool))
        return pa.array([fallback] * n, pa.date32()), none, none
    text = _text(table.column(source.updated_at))
    parsed = parse_dates(text)
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
    bad = pc.and_(pc.is_null(parsed), pc.invert(blank))
    latest = min(LATEST_UPDATE, fallback + dt.timedelta(days=1)) if fallback else LATEST_UPDATE
    implausible = pc.fill_null(pc.or_(
        pc.less(parsed, pa.scalar(EARLIEST_UPDATE, pa.date32())),
        pc.greater_equal(parsed, pa.scalar(latest, pa.date32()))), False)
    parsed = pc.if_else(implausible, pa.scalar(None, pa.date32()), parsed)
    if fallback is not None:
        parsed = pc.fill_null(parsed, pa.scalar(fallback, pa.date32()))
    return parsed, bad, implausible


def _snapshot(source: SourceConfig) -> dt.date | None:
    if not source.snapshot_date:
        return None
    try:
        return dt.date.fromisoformat(source.snapshot_date)
    except ValueError:
        raise SourceError(f"snapshot_date {source.snapshot_date!r} is not YYYY-MM-DD",
                          source=source.label, field="snapshot_date") from None


def _duplicated(keys: pa.Array) -> pa.Array:
    """Whether each key occurs more than once in the source."""
    counts = pc.value_counts(keys)
    dup_values = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    return pc.fill_null(pc.is_in(keys, value_set=dup_values), False)
