"""Per-department correction worklists: what goes back to each department.

One file per department, ``worklists/<department>.xlsx`` (a sheet per entity type) and a
CSV per source in the department's own encoding (``<department>.csv``, or
``<department>_<entity type>.csv`` when the department sent both kinds of file). Every row
is one value of one of the department's records that disagrees with the golden record,
under the department's own column names:

    <the department's key column>   the record's key, as the department wrote it
    字段                            the department's column (columns joined with ``+``)
    本部门值                        the value the department holds (as written)
    标准值                          the golden value
    问题类型 / 严重程度             the conflict kind and severity, in words
    依据                            the evidence (the typo's position, the newer value's
                                    department and date, ...)
    实体编号                        the entity id, to find the golden record

Identifiers and phones are masked as in the report (:data:`linkage.io.report.MASKED_FIELDS`).
Only fields the department's file carries are listed (a field it never collects is nothing
to correct), and format-only differences are left out (nothing to correct either).

An incremental run (:func:`write_worklist_changes`) touches a few entities, so it does not
write every list again (XlsxWriter costs about 10 us a cell: half a minute for a
province's 300k rows). Each CSV is the previous run's, less the rows of the entities
the batch touched, plus those entities' rows now, merged in the order a full write gives
(the same bytes). Each workbook carries the night's changes only: a sheet per entity
type, ``<type>-本次变动``, whose first column ``变动`` says ``新增`` (a row new tonight)
or ``无需再改`` (a row of the previous list that is no longer to correct; a row whose
golden value changed is both). The complete list is the CSV; a full run, or
``linkage compact`` (:func:`complete_workbooks`), writes complete workbooks again.
"""

from __future__ import annotations

import csv
import functools
import heapq
import html
import io
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import SourceConfig
from linkage.io.labels import KIND_LABELS, SEVERITY_LABELS
from linkage.io.report_examples import MASKED_FIELDS
from linkage.io.xlsx import sheet_names, write_workbook
from linkage.master.conflict_kinds import classify

log = logging.getLogger(__name__)

__all__ = ["complete_workbooks", "holds_changes", "worklist_rows", "write_worklist_changes",
           "write_worklists"]

_SEVERITY_RANK = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "info"))}
#: the first column's header when the source has no key column (its rows are keyed
#: ``<file row N>``)
NO_KEY_HEADER = "记录(文件行号)"
HEADERS = ("字段", "本部门值", "标准值", "问题类型", "严重程度", "依据", "实体编号")
_SKIP_KINDS = frozenset({"format_only", "vocabulary"})
#: Kinds explained per value (:mod:`linkage.master.conflict_kinds`).
_EXPLAINED = frozenset({"typo", "homophone_or_lookalike", "abbreviation"})
#: When one value is listed under several kinds, the most specific one is kept.
_KIND_RANK = {k: i for i, k in enumerate((
    "identity_conflict", "typo", "homophone_or_lookalike", "abbreviation", "invalid", "stale",
    "value_conflict", "missing"))}
#: Rows an Excel sheet holds (the header included).
EXCEL_MAX_ROWS = 1_048_576


def worklist_rows(conflicts: pa.Table, source: SourceConfig) -> list[list[str]]:
    """The worklist of one source: a header row, then one row per value to correct, most
    severe first (then by field and key). Whole-column Arrow work; Python touches only the
    values whose kind is explained per value (a typo, a homophone, an abbreviation)."""
    return _worklist(_candidates(conflicts), source)


#: conflicts expanded into candidate rows at a time
CONFLICT_SLICE = 1 << 18


def _candidates(conflicts: pa.Table) -> pa.Table:
    """One row per (conflict, candidate value) of the kinds a worklist may list that holds
    a value to correct (:func:`_to_correct`): the candidate's value, raw value, source and
    key beside its conflict's columns. Built once for all sources, a slice of conflicts at
    a time, so only the rows kept are held (most candidates agree with the golden value),
    never every candidate of every conflict."""
    parts = []
    for start in range(0, max(conflicts.num_rows, 1), CONFLICT_SLICE):
        part = conflicts.slice(start, CONFLICT_SLICE)
        listed = part.filter(pc.invert(pc.is_in(part["kind"],
                                                value_set=pa.array(sorted(_SKIP_KINDS)))))
        lists = listed["candidates"].combine_chunks()
        parent = pc.list_parent_indices(lists)
        flat = pc.list_flatten(lists)
        rows = pa.table({
            **{name: flat.field(name) for name in ("value", "raw_value", "source",
                                                   "source_key")},
            **{name: listed[name].combine_chunks().take(parent)
               for name in ("entity_type", "field", "kind", "severity", "golden_value",
                            "evidence", "entity_id")},
        })
        parts.append(rows.filter(_to_correct(rows)))
    return pa.concat_tables(parts).combine_chunks()


def _worklist(candidates: pa.Table, source: SourceConfig) -> list[list[str]]:
    """:func:`worklist_rows` from :func:`_candidates`."""
    # a source without a key column has its rows keyed by file and row number
    header = [source.key or NO_KEY_HEADER, *HEADERS]
    carried = dict(source.columns)
    rows = candidates.filter(pc.and_(pc.and_(
        pc.equal(candidates["entity_type"], source.entity_type),
        pc.equal(candidates["source"], source.department)),
        pc.is_in(candidates["field"], value_set=pa.array(sorted(carried), pa.string()))))
    if rows.num_rows == 0:
        return [header]
    rows = _own_explanations(rows, source.entity_type)
    key = pc.fill_null(rows["source_key"], "")
    # one row per value: the most specific kind, the first row among equals
    rank = _ranked(rows["kind"], _KIND_RANK, len(_KIND_RANK))
    order = pc.sort_indices(pa.table({"k": key, "f": rows["field"], "r": rank,
                                      "i": pa.array(np.arange(rows.num_rows))}),
                            sort_keys=[("k", "ascending"), ("f", "ascending"),
                                       ("r", "ascending"), ("i", "ascending")])
    rows, key = rows.take(order), key.take(order)
    sorted_key = key.to_numpy(zero_copy_only=False)
    sorted_field = rows["field"].to_numpy(zero_copy_only=False)
    first = np.ones(rows.num_rows, dtype=bool)
    first[1:] = (sorted_key[1:] != sorted_key[:-1]) | (sorted_field[1:] != sorted_field[:-1])
    keep = pa.array(first)
    rows, key = rows.filter(keep), key.filter(keep)
    severity = _ranked(rows["severity"], _SEVERITY_RANK, 9)
    final = pc.sort_indices(pa.table({"s": severity, "f": rows["field"], "k": key}),
                            sort_keys=[("s", "ascending"), ("f", "ascending"),
                                       ("k", "ascending")])
    rows, key = rows.take(final), key.take(final)
    fields = sorted(carried)
    names = [c if isinstance(c, str) else "+".join(c) for c in (carried[f] for f in fields)]
    column_name = pa.array(names, pa.string()).take(
        pc.index_in(rows["field"], value_set=pa.array(fields, pa.string())))
    hide = pc.is_in(rows["field"], value_set=pa.array(sorted(MASKED_FIELDS), pa.string()))
    written = pc.coalesce(rows["raw_value"], rows["value"])
    columns = [key, column_name, _shown(written, hide), _shown(rows["golden_value"], hide),
               _labelled(rows["kind"], KIND_LABELS),
               _labelled(rows["severity"], SEVERITY_LABELS),
               pc.fill_null(rows["evidence"], ""), rows["entity_id"]]
    lists = [c.to_pylist() for c in columns]
    return [header, *(list(r) for r in zip(*lists, strict=True))]


def _own_explanations(rows: pa.Table, entity_type: str) -> pa.Table:
    """Rows of a kind explained per value (:data:`_EXPLAINED`) kept only when the record's
    own value is explained the same way, with its own evidence: the entity's conflict names
    what one record did, said of this record only when true of it too."""
    explained = np.asarray(pc.is_in(rows["kind"], value_set=pa.array(sorted(_EXPLAINED)))
                           .to_numpy(zero_copy_only=False), dtype=bool)
    at = np.flatnonzero(explained)
    if len(at) == 0:
        return rows
    keep = np.ones(rows.num_rows, dtype=bool)
    evidence: list[str] = []
    picked = rows.take(pa.array(at)).select(["field", "value", "golden_value", "kind"])
    for i, row in zip(at.tolist(), picked.to_pylist(), strict=True):
        mine = classify(row["field"], entity_type, row["value"] or "",
                        row["golden_value"] or "")
        if mine is None or mine[0] != row["kind"]:
            keep[i] = False
        else:
            evidence.append(mine[1])
    own = np.zeros(rows.num_rows, dtype=bool)
    own[at[keep[at]]] = True
    rows = rows.set_column(rows.column_names.index("evidence"), "evidence", pc.replace_with_mask(
        rows["evidence"].combine_chunks(), pa.array(own), pa.array(evidence, pa.string())))
    return rows.filter(pa.array(keep))


def _ranked(values: pa.ChunkedArray | pa.Array, ranks: dict[str, int], default: int) -> pa.Array:
    """Each value's rank in ``ranks`` (``default`` for others and nulls)."""
    order = sorted(ranks, key=ranks.__getitem__)
    at = pc.index_in(values, value_set=pa.array(order, pa.string()))
    table = pa.array([ranks[k] for k in order] + [default], pa.int64())
    return table.take(pc.fill_null(at, len(order)))


def _labelled(values: pa.ChunkedArray | pa.Array, labels: Mapping[str, str]) -> pa.Array:
    """Each value's label in ``labels``, or the value itself."""
    keys = list(labels)
    at = pc.index_in(values, value_set=pa.array(keys, pa.string()))
    return pc.coalesce(pa.array([labels[k] for k in keys], pa.string()).take(at), values)


def _shown(values: pa.ChunkedArray | pa.Array, hide: pa.Array) -> pa.Array:
    """:func:`_show` over a column: null -> ``""``, masked where ``hide``
    (:func:`linkage.privacy.mask`: the first 3 and last 2 characters kept, a value of 6 or
    fewer masked whole)."""
    text = pc.fill_null(values, "")
    length = pc.utf8_length(text)
    stars = pc.binary_repeat("*", length)
    masked = pc.if_else(pc.less_equal(length, 6), stars, pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 3),
        pc.binary_repeat("*", pc.max_element_wise(pc.subtract(length, 5), 0)),
        pc.utf8_slice_codeunits(text, -2), ""))
    return pc.if_else(hide, masked, text)


def _to_correct(rows: pa.Table) -> pa.Array:
    """Per candidate row: a value the department should look at. Missing: nothing (or a
    blank) written; invalid: something written that is no value; identity conflicts: every
    record; otherwise a value other than the golden one."""
    value, raw, kind = rows["value"], rows["raw_value"], rows["kind"]
    golden = rows["golden_value"]
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(raw), ""), True)
    absent = pc.is_null(value)
    differs = pc.and_(pc.fill_null(pc.not_equal(value, golden), True),
                      pc.fill_null(pc.not_equal(raw, golden), True))
    out = pc.case_when(
        pc.make_struct(pc.equal(kind, "missing"), pc.equal(kind, "invalid"),
                       pc.equal(kind, "identity_conflict")),
        pc.and_(absent, blank), pc.and_(absent, pc.invert(blank)), pa.scalar(True),
        pc.and_(pc.invert(absent), differs))
    return pc.fill_null(out, False)


def write_worklists(conflicts: pa.Table, sources: Sequence[SourceConfig],
                    out_dir: str | Path, *, previous: Path | None = None) -> dict[str, Path]:
    """Write ``<out_dir>/worklists/``: an xlsx per department, a CSV per source in its own
    encoding. Returns name -> path (names ``worklist_<department>`` and
    ``worklist_<department>_<type>_csv``). A department's delta source (``delta = true``,
    new versions of its records) shares the worklist of its base source of that type.

    ``previous``: an earlier run folder (the one an incremental run updates). A
    department whose files come out byte for byte as they are there (same CSVs, same
    sheets) gets them hard-linked from it (copied across file systems) instead of an xlsx
    written again, which costs a few microseconds a cell."""
    folder = Path(out_dir) / "worklists"
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    candidates = _candidates(conflicts)
    before = Path(previous) / "worklists" if previous is not None else None
    for department, mine in _departments(sources).items():
        sheets: list[tuple[str, list[list[str]]]] = []
        csvs: dict[str, bytes | None] = {}
        for source in mine:
            rows = _worklist(candidates, source)
            sheets.append((_SHEETS.get(source.entity_type, source.entity_type),
                           rows[:EXCEL_MAX_ROWS]))
            if len(rows) > EXCEL_MAX_ROWS:
                log.warning("worklist %s/%s: %d rows, more than a sheet holds; the xlsx keeps "
                            "the first %d (most severe first), the CSV all of them",
                            department, source.entity_type, len(rows) - 1, EXCEL_MAX_ROWS - 1)
            name = _csv_name(department, source, mine)
            data, kept = _csv_bytes(rows, source)
            csvs[name] = data if kept else None  # None: not comparable with an earlier file
            written[f"worklist_{name}_csv"] = folder / f"{_safe(name)}.csv"
            _atomic_bytes(folder / f"{_safe(name)}.csv", data)
            log.info("worklist %s/%s: %d value(s) to correct", department, source.entity_type,
                     len(rows) - 1)
        path = folder / f"{_safe(department)}.xlsx"
        written[f"worklist_{department}"] = path
        if before is not None and _unchanged(before, path.name, csvs,
                                             sheet_names([n for n, _ in sheets])):
            _link(before / path.name, path)
            log.info("worklist %s: as in the previous run (linked)", department)
            continue
        _atomic_file(path, functools.partial(_write_book, sheets=sheets))
    return written


def _departments(sources: Sequence[SourceConfig]) -> dict[str, list[SourceConfig]]:
    """Each department's sources that have a worklist: a delta source (``delta = true``,
    new versions of its records) shares the one of its base source of that type."""
    by_department: dict[str, list[SourceConfig]] = {}
    for source in sources:
        by_department.setdefault(source.department, []).append(source)
    return {d: [s for s in mine if not s.delta or not any(
        o.entity_type == s.entity_type and not o.delta for o in mine)]
        for d, mine in by_department.items()}


def _csv_name(department: str, source: SourceConfig, mine: Sequence[SourceConfig]) -> str:
    return department if len(mine) == 1 else f"{department}_{source.entity_type}"


#: the changes sheet's first column and its two words, and the sheet's name after the type
CHANGE_HEADER, ADDED, GONE = "变动", "新增", "无需再改"
CHANGES_SUFFIX = "-本次变动"


class _NeedWholeError(Exception):
    """A previous worklist that cannot be updated row by row (missing, another header)."""


def write_worklist_changes(previous: Path, removed: pa.Array | pa.ChunkedArray,
                           added: pa.Table, sources: Sequence[SourceConfig],
                           out_dir: str | Path) -> dict[str, Path]:
    """An incremental run's ``<out_dir>/worklists/`` from the previous run's: the
    entities ``removed`` (their previous ids: every entity the batch touched) lose their
    rows, the conflicts ``added`` (those entities as they are now) bring theirs. Each CSV
    comes out as :func:`write_worklists` writes it from the whole merged conflicts; each
    workbook holds the night's changes (see the module's docstring). Where the previous
    run's lists cannot be updated (none written, another key column), they are written
    whole from its conflicts table, merged with ``added``. Costs the batch's rows, and
    reading and writing the previous CSVs as text."""
    folder = Path(out_dir) / "worklists"
    folder.mkdir(parents=True, exist_ok=True)
    before = Path(previous) / "worklists"
    gone = frozenset(str(v) for v in pa.chunked_array([removed], pa.string())
                     .to_pylist() if v is not None) if len(removed) else frozenset()
    candidates = _candidates(added)
    written: dict[str, Path] = {}
    try:
        if not before.is_dir():
            raise _NeedWholeError(f"{before} is missing")
        for department, mine in _departments(sources).items():
            sheets: list[tuple[str, list[list[str]]]] = []
            for source in mine:
                name = _csv_name(department, source, mine)
                path = folder / f"{_safe(name)}.csv"
                data, n_rows, changes = _updated_csv(before / path.name, source,
                                                     _worklist(candidates, source), gone)
                old = before / path.name
                if old.is_file() and old.stat().st_size == len(data) and \
                        old.read_bytes() == data:
                    _link(old, path)
                else:
                    _atomic_bytes(path, data)
                written[f"worklist_{name}_csv"] = path
                sheets.append((_SHEETS.get(source.entity_type, source.entity_type)
                               + CHANGES_SUFFIX, changes[:EXCEL_MAX_ROWS]))
                log.info("worklist %s/%s: %d value(s) to correct, %d change(s) tonight",
                         department, source.entity_type, n_rows, len(changes) - 1)
            book = folder / f"{_safe(department)}.xlsx"
            _atomic_file(book, functools.partial(_write_book, sheets=sheets))
            written[f"worklist_{department}"] = book
    except _NeedWholeError as why:
        log.warning("worklists: the previous run's cannot be updated (%s); written whole", why)
        from linkage.io.run_tables import read_run_table

        conflicts = read_run_table(Path(previous), "conflicts")
        kept = conflicts.filter(pc.invert(pc.is_in(
            conflicts["entity_id"], value_set=pa.array(sorted(gone), pa.string()))))
        merged = pa.concat_tables([kept, added.select(kept.column_names).cast(kept.schema)])
        for stale in folder.iterdir():
            stale.unlink()
        return write_worklists(merged, sources, out_dir)
    return written


def _updated_csv(before: Path, source: SourceConfig, fresh: list[list[str]],
                 gone: frozenset[str]) -> tuple[bytes, int, list[list[str]]]:
    """(the complete worklist's CSV: the previous one's rows but those of entities in
    ``gone``, with ``fresh``'s rows merged in the order :func:`_worklist` sorts, its
    number of rows, the changes sheet's rows with its header). The kept rows' bytes are
    taken as they are, a line each (their columns read by Arrow for the order); a file
    with a line break inside a value is read and written again row by row instead."""
    header, new_rows = fresh[0], fresh[1:]
    encoding = _encoding(source)
    data = before.read_bytes() if before.is_file() else None
    lines = data.split(b"\r\n") if data is not None else None
    table = _read_columns(data, encoding, len(header)) if data is not None else None
    if data is None or lines is None or table is None or lines[-1] != b"" or \
            len(lines) != table.num_rows + 1:
        rows, changes = _updated_rows(before, source, fresh, gone)
        return _csv_bytes(rows, source)[0], len(rows) - 1, changes
    if [table.column(i)[0].as_py() for i in range(len(header))] != header:
        raise _NeedWholeError(f"{before.name} has another header")
    table, lines = table.slice(1), lines[1:-1]
    touched = pc.is_in(table.column(len(header) - 1), value_set=pa.array(sorted(gone),
                                                                       pa.string()))
    hit = np.asarray(touched.to_numpy(zero_copy_only=False), dtype=bool)
    kept_at, dropped_at = np.flatnonzero(~hit), np.flatnonzero(hit)
    kept = table.take(pa.array(kept_at))
    # each new row's line, as the writer encodes it
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    ends = []
    for row in new_rows:
        writer.writerow(row)
        ends.append(text.tell())
    written = text.getvalue()
    line_encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    new_lines = [written[a:b - 2].encode(line_encoding, errors="replace")
                 for a, b in zip([0, *ends][:len(ends)], ends, strict=True)]
    # the merged order: kept rows (in order already) and new rows, by severity, field, key
    keys = _order_columns(source, [kept.column(5), pa.array([r[5] for r in new_rows],
                                                            pa.string())],
                          [kept.column(1), pa.array([r[1] for r in new_rows], pa.string())],
                          [kept.column(0), pa.array([r[0] for r in new_rows], pa.string())])
    order = pc.sort_indices(keys, sort_keys=[("s", "ascending"), ("f", "ascending"),
                                             ("k", "ascending"), ("i", "ascending")])
    # every line of the result, kept and new, taken in the merged order at once
    line_objects = _objects(lines)
    every = np.empty(len(kept_at) + len(new_lines), dtype=object)
    every[:len(kept_at)] = line_objects[kept_at]
    every[len(kept_at):] = _objects(new_lines)
    pieces = every[np.asarray(order.to_numpy(), dtype=np.int64)]
    head = _csv_bytes([header], source)[0]
    out = head + b"\r\n".join(pieces.tolist()) + (b"\r\n" if len(pieces) else b"")
    dropped_text = b"\r\n".join(line_objects[dropped_at].tolist()).decode(
        encoding, errors="replace")
    dropped = list(csv.reader(io.StringIO(dropped_text, newline=""))) if len(dropped_at) \
        else []
    return out, len(pieces), _changes(header, new_rows, dropped, encoding)


def _read_columns(data: bytes, encoding: str, width: int) -> pa.Table | None:
    """A worklist CSV's rows (the header's too) as text columns ``0..width-1``, read by
    Arrow (None: not ``width`` columns wide)."""
    from pyarrow import csv as pacsv

    text = data.decode(encoding, errors="replace").encode("utf-8")
    names = [str(i) for i in range(width)]
    try:
        return pacsv.read_csv(
            pa.BufferReader(text),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return None


def _order_columns(source: SourceConfig, severity: list[pa.Array | pa.ChunkedArray],
                   column: list[pa.Array | pa.ChunkedArray],
                   key: list[pa.Array | pa.ChunkedArray]) -> pa.Table:
    """The columns :func:`_worklist` sorts by (severity rank, field, key) from rows as
    written (severity's word, the column's name, the key), with each row's position."""
    carried = dict(source.columns)
    names = {(c if isinstance(c, str) else "+".join(c)): f for f, c in carried.items()}
    if len(names) != len(carried):
        raise _NeedWholeError("two fields share a column name")
    words = {label: _SEVERITY_RANK.get(s, 9) for s, label in SEVERITY_LABELS.items()}
    for s, rank in _SEVERITY_RANK.items():
        words.setdefault(s, rank)
    sev, col, k = _joined(severity), _joined(column), _joined(key)
    rank = pa.array([*words.values(), 9], pa.int64()).take(pc.fill_null(
        pc.index_in(sev, value_set=pa.array(list(words), pa.string())), len(words)))
    field = pc.coalesce(pa.array(list(names.values()), pa.string()).take(
        pc.index_in(col, value_set=pa.array(list(names), pa.string()))), col)
    return pa.table({"s": rank, "f": field, "k": k, "i": pa.array(np.arange(len(k)))})


def _joined(parts: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Text columns one after the other, as one array."""
    chunks = [x for c in parts for x in (c.chunks if isinstance(c, pa.ChunkedArray) else [c])]
    return pa.chunked_array(chunks, pa.string()).combine_chunks()


def _changes(header: list[str], new_rows: list[list[str]], dropped: list[list[str]],
             encoding: str) -> list[list[str]]:
    """The changes sheet: the new rows not on the previous list, then the dropped rows
    not on the new one, compared as the file holds them (a character the encoding lacks
    written as ?)."""
    def held(row: Sequence[str]) -> str:
        text = "\x1f".join(row)
        return text.encode(encoding, errors="replace").decode(encoding)

    was, now = {held(r) for r in dropped}, {held(r) for r in new_rows}
    return [[CHANGE_HEADER, *header],
            *([ADDED, *r] for r in new_rows if held(r) not in was),
            *([GONE, *r] for r in dropped if held(r) not in now)]


def _updated_rows(before: Path, source: SourceConfig, fresh: list[list[str]],
                  gone: frozenset[str]) -> tuple[list[list[str]], list[list[str]]]:
    """:func:`_updated_csv` row by row (the rows with their header, the changes)."""
    header, new_rows = fresh[0], fresh[1:]
    old_rows = _read_csv(before, source, header) if before.is_file() else []
    kept = [r for r in old_rows if r[-1] not in gone]
    dropped = [r for r in old_rows if r[-1] in gone]
    rows = [header, *heapq.merge(kept, new_rows, key=_order_key(source))]
    return rows, _changes(header, new_rows, dropped, _encoding(source))


def _read_csv(path: Path, source: SourceConfig, header: list[str]) -> list[list[str]]:
    """A previous run's worklist CSV (written by :func:`_csv_bytes`), its header checked."""
    text = path.read_bytes().decode(_encoding(source), errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or rows[0] != header:
        raise _NeedWholeError(f"{path.name} has another header")
    if any(len(r) != len(header) for r in rows[1:]):
        raise _NeedWholeError(f"{path.name} has rows of another width")
    return rows[1:]


def _order_key(source: SourceConfig) -> Callable[[Sequence[str]], tuple[int, str, str]]:
    """The order :func:`_worklist` sorts its rows in (severity, field, key), from a row's
    text: its severity's word, its column's name and its key."""
    carried = dict(source.columns)
    fields = {(c if isinstance(c, str) else "+".join(c)): f for f, c in carried.items()}
    if len(fields) != len(carried):
        raise _NeedWholeError("two fields share a column name")
    severity = {label: _SEVERITY_RANK.get(s, 9) for s, label in SEVERITY_LABELS.items()}
    for s, rank in _SEVERITY_RANK.items():
        severity.setdefault(s, rank)

    def key(row: Sequence[str]) -> tuple[int, str, str]:
        return severity.get(row[5], 9), fields.get(row[1], row[1]), row[0]
    return key


def _encoding(source: SourceConfig) -> str:
    return source.encoding if source.resolved_format == "csv" else "utf-8-sig"


def complete_workbooks(run: Path, sources: Sequence[SourceConfig], out: Path) -> list[Path]:
    """Complete workbooks from a run's worklist CSVs (which are complete), written into
    ``out/worklists/`` for each department whose workbook in ``run`` carries an
    incremental run's changes; returns the paths written (``linkage compact``)."""
    written: list[Path] = []
    folder = Path(run) / "worklists"
    for department, mine in _departments(sources).items():
        book = folder / f"{_safe(department)}.xlsx"
        if not holds_changes(book):
            continue
        sheets: list[tuple[str, list[list[str]]]] = []
        for source in mine:
            path = folder / f"{_safe(_csv_name(department, source, mine))}.csv"
            text = path.read_bytes().decode(_encoding(source), errors="replace")
            rows = list(csv.reader(io.StringIO(text, newline="")))
            sheets.append((_SHEETS.get(source.entity_type, source.entity_type),
                           rows[:EXCEL_MAX_ROWS]))
        target = Path(out) / "worklists" / book.name
        target.unlink(missing_ok=True)  # a hard link to the run's file: never written into
        _atomic_file(target, functools.partial(_write_book, sheets=sheets))
        written.append(target)
    return written


def holds_changes(book: Path) -> bool:
    """Whether a department's workbook is an incremental run's (its changes only)."""
    try:
        with zipfile.ZipFile(book) as zf:
            workbook = zf.read("xl/workbook.xml").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        return False
    names = [html.unescape(m) for m in re.findall(r'<sheet name="([^"]*)"', workbook)]
    return any(n.endswith(CHANGES_SUFFIX) for n in names)


def _unchanged(before: Path, book: str, csvs: Mapping[str, bytes | None],
               sheets: Sequence[str]) -> bool:
    """Whether the previous run's worklist of a department is the one about to be
    written: each CSV the same bytes (and encoded without a lost character), the workbook
    there, with the same sheets in the same order. The workbook is what the rows make
    (the writer is deterministic), and the rows are what the CSVs hold."""
    try:
        if any(data is None or (before / f"{_safe(name)}.csv").read_bytes() != data
               for name, data in csvs.items()):
            return False
        with zipfile.ZipFile(before / book) as zf:
            workbook = zf.read("xl/workbook.xml").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        return False
    found = [html.unescape(m) for m in re.findall(r'<sheet name="([^"]*)"', workbook)]
    return found == list(sheets)


def _link(source: Path, target: Path) -> None:
    """``source`` hard-linked as ``target`` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        _atomic_file(target, lambda tmp: shutil.copyfile(source, tmp))


_SHEETS = {"person": "人员", "enterprise": "企业"}


def _csv_bytes(rows: list[list[str]], source: SourceConfig) -> tuple[bytes, bool]:
    """The rows as CSV in the department's encoding (UTF-8 with a BOM for sources that are
    no CSV, so spreadsheet programs read it; characters a GBK file cannot hold become ?),
    and whether every character was kept."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    encoding = _encoding(source)
    try:
        return text.getvalue().encode(encoding), True
    except UnicodeEncodeError:
        return text.getvalue().encode(encoding, errors="replace"), False


def _objects(items: Sequence[bytes]) -> npt.NDArray[np.object_]:
    """``items`` as a one-dimensional object array (taken by index arrays at once)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _safe(name: str) -> str:
    """A department name usable as a file name (path separators and NULs replaced)."""
    return "".join("_" if c in '/\\\x00:*?"<>|' else c for c in name).strip(". ") or "_"


def _write_book(tmp: Path, sheets: list[tuple[str, list[list[str]]]]) -> None:
    write_workbook(tmp, sheets)


def _atomic_bytes(path: Path, data: bytes) -> Path:
    return _atomic_file(path, lambda tmp: tmp.write_bytes(data))


def _atomic_file(path: Path, write: Callable[[Path], object]) -> Path:
    """``write`` fills a temporary file beside ``path``, which then replaces ``path``:
    a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
