"""Read departmental sources and map their columns onto canonical fields (RecordTable).

Every cell is read as text: departments store ID numbers as numbers, dates in a dozen
formats and codes with leading zeros, and only the standardise stage may interpret them.
Nothing is dropped here. A malformed CSV row (wrong number of fields) becomes a record
whose fields are all null and whose ``flags`` say why; an unparseable update time is null
and flagged. A blank, duplicated or absent department key never ties records together:
each such row gets a key of its own derived from the file and its row number
(``<tax.csv row 17>``, the given key kept in ``source_key__given``) and a flag. A value
longer than :data:`MAX_CELL` characters is set aside (null, flagged), so one hostile cell
cannot cost minutes; a number that went through a floating-point cell with more digits
than a float holds (an ID number typed into Excel) is flagged, and ``<field>__unreliable``
keeps it out of must-link and cannot-link rules. What cannot be read at all (missing file,
undecodable bytes, a mapped column that is absent, a nested column) raises a
:class:`~linkage.errors.SourceError` naming the source, row and field. Database sources run
one SELECT on a connection that cannot write, attach or read other files.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import PipelineConfig, SourceConfig
from linkage.errors import SourceError
from linkage.flags import collect_flags
from linkage.io.mapping import apply_mapping
from linkage.io.source_formats import (
    ROW_POSITION,
    cells_of,
    read_cells,
    text_of_column,
)
from linkage.privacy import mask_personal
from linkage.schemas import RECORD_BASE
from linkage.standardisers.dates import parse_dates

log = logging.getLogger(__name__)

#: longest value kept, in characters (a name or an address is far shorter; a longer value
#: is flagged and set aside, since comparing it would cost time quadratic in its length)
MAX_CELL = 1000

#: update times outside [EARLIEST_UPDATE, LATEST_UPDATE) are typos, not times (flagged)
EARLIEST_UPDATE = dt.date(1900, 1, 1)
LATEST_UPDATE = dt.date(2100, 1, 1)


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
    if source.path.is_dir():
        raise SourceError(f"{source.path} is a folder, not a file", source=source.label,
                          field="path")
    if not source.path.is_file():
        raise SourceError(f"file not found: {source.path}", source=source.label, field="path")
    raw = read_cells(source)
    return map_columns(
        raw.table,
        source=source,
        rows=raw.rows,
        malformed=raw.malformed,
        first_record_id=first_record_id,
        recovered=raw.recovered,
        from_float=raw.from_float,
    )


def read_records(
    data: Any,
    *,
    department: str,
    entity_type: str,
    key: str | None,
    columns: Mapping[str, str],
    updated_at: str | None = None,
    first_record_id: int = 0,
) -> pa.Table:
    """An in-memory table (pyarrow Table or pandas DataFrame) -> RecordTable rows."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    source = SourceConfig(
        department=department,
        entity_type=entity_type,
        path=Path(f"<memory:{department}>"),
        key=key,
        columns=dict(columns),
        updated_at=updated_at,
    )
    raw = cells_of(table)
    return map_columns(raw.table, source=source, rows=raw.rows, malformed=[],
                       first_record_id=first_record_id, from_float=raw.from_float)


def map_columns(
    table: pa.Table,
    *,
    source: SourceConfig,
    rows: pa.Array,
    malformed: Sequence[tuple[int, str]],
    first_record_id: int,
    recovered: frozenset[int] = frozenset(),
    from_float: Mapping[str, pa.Array] | None = None,
) -> pa.Table:
    """Rename a source's columns to canonical fields and add the RecordTable base columns.
    Rows numbered in ``recovered`` get a flag saying they were re-split from a joined row;
    ``from_float`` (column -> bool per row) marks values a float could not hold exactly."""
    if from_float:  # follow the rows a ``where`` keeps
        table = table.append_column(ROW_POSITION, pa.array(np.arange(table.num_rows)))
    table, rows, columns = apply_mapping(table, rows, source)  # where, joined columns, units
    if from_float:
        kept = table.column(ROW_POSITION).combine_chunks()
        from_float = {c: a.take(kept) for c, a in from_float.items()}
        table = table.drop_columns([ROW_POSITION])
    wanted = {**({"key": source.key} if source.key is not None else {}),
              **{f"columns.{f}": c for f, c in columns.items()}}
    if source.updated_at:
        wanted["updated_at"] = source.updated_at
    present = set(table.column_names)
    absent = [f"{what} -> {col!r}" for what, col in wanted.items() if col not in present]
    if absent:
        shown = [mask_personal(n)[:60] for n in table.column_names[:30]]
        available = ", ".join(map(repr, shown))
        raise SourceError(
            f"mapped column(s) not in the file: {'; '.join(absent)} (columns present: "
            f"{available}; a file without a header row shows its first row here)",
            source=source.label,
            row=0,
            field=absent[0].split(" ->")[0],
        )
    n_good = table.num_rows
    n = n_good + len(malformed)
    has_key = source.key is not None
    keys = (_text_of(table, source.key, source, rows) if source.key is not None
            else pa.nulls(n_good, pa.string()))
    fields = {f: _text_of(table, c, source, rows) for f, c in columns.items()}
    blank_key = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(keys), ""), True)
    updated, bad_update, implausible = _updated_at(table, source, rows)
    checks = [_flag_where(blank_key, "source_key:missing") if has_key
              else pa.nulls(n_good, pa.string()),
              _flag_where(bad_update, "updated_at:bad_date"),
              _flag_where(implausible, "updated_at:implausible")]
    if recovered:
        was_joined = pc.is_in(rows, value_set=pa.array(sorted(recovered), pa.int64()))
        checks.append(_flag_where(was_joined, "row:recovered (an open quote had joined it "
                                              "to the row before; re-split by line)"))
    fields, long_checks = _cap_lengths(fields)
    checks.extend(long_checks)
    unreliable = {}
    for f, c in columns.items():
        lossy = (from_float or {}).get(c)
        if lossy is not None and pc.any(lossy).as_py():
            unreliable[f] = lossy
            checks.append(_flag_where(lossy, f"{f}:from_float (stored as a number with more "
                                             "digits than a float holds; digits may be "
                                             "altered)"))
    too_long_key = pc.greater(pc.utf8_length(pc.fill_null(keys, "")), MAX_CELL)
    if has_key:
        checks.append(_flag_where(too_long_key, "source_key:too_long"))

    if malformed:
        pad = len(malformed)
        keys = pa.concat_arrays([keys, pa.nulls(pad, pa.string())])
        blank_key = pa.concat_arrays([blank_key, pa.array([True] * pad)])
        too_long_key = pa.concat_arrays([too_long_key, pa.array([False] * pad)])
        fields = {f: pa.concat_arrays([a, pa.nulls(pad, pa.string())]) for f, a in fields.items()}
        unreliable = {f: pa.concat_arrays([a, pa.array([False] * pad)])
                      for f, a in unreliable.items()}
        rows = pa.concat_arrays([rows, pa.array([r for r, _ in malformed], pa.int64())])
        updated = pa.concat_arrays([updated, pa.nulls(pad, pa.date32())])
        checks = [pa.concat_arrays([c, pa.nulls(pad, pa.string())]) for c in checks]
        checks.append(pa.concat_arrays([
            pa.nulls(n_good, pa.string()),
            pa.array([f"row:malformed ({why})" for _, why in malformed], pa.string())]))

    duplicated = pc.and_(pc.invert(blank_key), _duplicated(keys))
    if has_key:
        checks.append(_flag_where(duplicated, "source_key:duplicate"))
    own_key = pc.or_(pc.or_(blank_key, duplicated), too_long_key)
    keys, given = _own_keys(keys, own_key, rows, source)
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
    if given is not None:
        out["source_key__given"] = given
    for f, lossy in unreliable.items():
        out[f"{f}__unreliable"] = lossy
    result = pa.table(out)
    assert result.schema.field("record_id").type == RECORD_BASE.field("record_id").type
    bad = int(pc.sum(pc.greater(pc.list_value_length(flags), 0)).as_py() or 0)
    log.info("source %s: %d records (%d flagged on read)", source.label, n, bad)
    return result


def _own_keys(keys: pa.Array, own: pa.Array, rows: pa.Array,
              source: SourceConfig) -> tuple[pa.Array, pa.Array | None]:
    """Department keys, with a key of its own for each row in ``own`` (blank, duplicated,
    too long, or every row of a source without keys): ``<file row N>``, unique within
    the source and the same on every run of the same file. Returns the keys and the given
    keys of the replaced rows (null elsewhere; None when no key was replaced)."""
    if not pc.any(own).as_py():
        return keys, None
    derived = pc.binary_join_element_wise(
        pa.scalar(f"<{source.path.name} row "), pc.cast(rows, pa.string()), pa.scalar(">"), "")
    # a department key that happens to read like a derived one must not collide with it
    clash = pc.and_(pc.invert(own), pc.is_in(keys, value_set=pc.filter(derived, own)))
    if pc.any(clash).as_py():
        own = pc.or_(own, clash)
    given = pc.if_else(own, keys, pa.scalar(None, pa.string()))
    if source.key is None:
        given = pa.nulls(len(keys), pa.string())
    return pc.if_else(own, derived, keys), given


def _cap_lengths(fields: dict[str, pa.Array]) -> tuple[dict[str, pa.Array], list[pa.Array]]:
    """Values longer than :data:`MAX_CELL` set aside (null) and flagged, per field."""
    checks = []
    capped = {}
    for f, values in fields.items():
        long = pc.fill_null(pc.greater(pc.utf8_length(values), MAX_CELL), False)
        if pc.any(long).as_py():
            checks.append(_flag_where(long, f"{f}:too_long (over {MAX_CELL} characters; "
                                            "set aside)"))
            values = pc.if_else(long, pa.scalar(None, pa.string()), values)
        capped[f] = values
    return capped, checks


def _text_of(table: pa.Table, column: str, source: SourceConfig, rows: pa.Array) -> pa.Array:
    """A mapped column as text, or a SourceError naming the column and the first row whose
    value cannot be text (a list, a struct, bytes that are not UTF-8)."""
    values = table.column(column)
    try:
        return text_of_column(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        what = str(values.type)
        first = pc.index(pc.is_valid(values), True).as_py()
        row = int(rows[first].as_py()) if 0 <= first < len(rows) else None
        if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
            row = _first_bad_utf8(values, rows)
            reason = "holds bytes that are not UTF-8 text"
        else:
            reason = f"holds {what} values, not text ({type(exc).__name__})"
        raise SourceError(f"column {mask_personal(column)!r} {reason}", source=source.label,
                          row=row, field=column) from None


def _first_bad_utf8(values: pa.Array | pa.ChunkedArray, rows: pa.Array) -> int | None:
    """The row of the first value that is not UTF-8 (only on the error path)."""
    for i, value in enumerate(values.to_pylist()):
        if value is None:
            continue
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return int(rows[i].as_py()) if i < len(rows) else i + 1
    return None


def _flag_where(condition: pa.Array, flag: str) -> pa.Array:
    """``flag`` where ``condition`` holds, null elsewhere (one part of the flags column)."""
    return pc.if_else(condition, pa.scalar(flag), pa.scalar(None, pa.string()))


# --- row-level checks ---------------------------------------------------------------------


def _updated_at(table: pa.Table, source: SourceConfig,
                rows: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
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
    text = _text_of(table, source.updated_at, source, rows)
    long = pc.fill_null(pc.greater(pc.utf8_length(text), MAX_CELL), False)
    text = pc.if_else(long, pa.scalar("", pa.string()), text)  # no date is that long
    parsed = parse_dates(text)
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
    bad = pc.or_(pc.and_(pc.is_null(parsed), pc.invert(blank)), long)
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
