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
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import SourceConfig
from linkage.io.labels import KIND_LABELS, SEVERITY_LABELS
from linkage.io.report import MASKED_FIELDS
from linkage.io.xlsx import write_workbook
from linkage.master.conflict_kinds import classify
from linkage.privacy import mask

log = logging.getLogger(__name__)

__all__ = ["worklist_rows", "write_worklists"]

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
    severe first (then by field and key). The selection is whole-column Arrow work; Python
    touches only the rows that go into the worklist."""
    # a source without a key column has its rows keyed by file and row number
    header = [source.key or NO_KEY_HEADER, *HEADERS]
    carried = dict(source.columns)
    mine = conflicts.filter(pc.and_(pc.and_(
        pc.equal(conflicts["entity_type"], source.entity_type),
        pc.invert(pc.is_in(conflicts["kind"], value_set=pa.array(sorted(_SKIP_KINDS))))),
        pc.is_in(conflicts["field"], value_set=pa.array(sorted(carried), pa.string()))))
    if mine.num_rows == 0:
        return [header]
    lists = mine["candidates"].combine_chunks()
    parent = pc.list_parent_indices(lists)
    flat = pc.list_flatten(lists)
    rows = pa.table({
        "parent": parent,
        **{name: flat.field(name) for name in ("value", "raw_value", "source", "source_key")},
        **{name: mine[name].combine_chunks().take(parent)
           for name in ("field", "kind", "severity", "golden_value", "evidence", "entity_id")},
    })
    rows = rows.filter(pc.equal(rows["source"], source.department))
    rows = rows.filter(_to_correct(rows))
    best: dict[tuple[str, str], tuple[int, int, list[str]]] = {}
    for row in rows.to_pylist():
        fld, golden, kind = row["field"], row["golden_value"], row["kind"]
        evidence = row["evidence"] or ""
        if kind in _EXPLAINED:
            # the entity's conflict names what one record did: say it of this record only
            # when its own value is explained the same way, with its own evidence
            mine = classify(fld, source.entity_type, row["value"] or "", golden or "")
            if mine is None or mine[0] != kind:
                continue
            evidence = mine[1]
        column = carried[fld]
        column_name = column if isinstance(column, str) else "+".join(column)
        hide = fld in MASKED_FIELDS
        written = row["raw_value"] if row["raw_value"] is not None else row["value"]
        key = (row["source_key"] or "", fld)
        rank = _KIND_RANK.get(kind, len(_KIND_RANK))
        if key in best and best[key][1] <= rank:
            continue  # one row per value: the most specific kind
        best[key] = (_SEVERITY_RANK.get(row["severity"], 9), rank,
                     [row["source_key"] or "", column_name, _show(written, hide),
                      _show(golden, hide), KIND_LABELS.get(kind, kind),
                      SEVERITY_LABELS.get(row["severity"], row["severity"]), evidence,
                      row["entity_id"]])
    found = sorted(best.items(), key=lambda t: (t[1][0], t[0][1], t[0][0]))
    return [header, *(r for _, (_, _, r) in found)]


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


def _show(value: object, hide: bool) -> str:
    if value is None:
        return ""
    return mask(value) if hide else str(value)


def write_worklists(conflicts: pa.Table, sources: Sequence[SourceConfig],
                    out_dir: str | Path) -> dict[str, Path]:
    """Write ``<out_dir>/worklists/``: an xlsx per department, a CSV per source in its own
    encoding. Returns name -> path (names ``worklist_<department>`` and
    ``worklist_<department>_<type>_csv``)."""
    folder = Path(out_dir) / "worklists"
    folder.mkdir(parents=True, exist_ok=True)
    by_department: dict[str, list[SourceConfig]] = {}
    for source in sources:
        by_department.setdefault(source.department, []).append(source)
    written: dict[str, Path] = {}
    for department, mine in by_department.items():
        sheets: list[tuple[str, list[list[str]]]] = []
        for source in mine:
            rows = worklist_rows(conflicts, source)
            sheets.append((_SHEETS.get(source.entity_type, source.entity_type),
                           rows[:EXCEL_MAX_ROWS]))
            if len(rows) > EXCEL_MAX_ROWS:
                log.warning("worklist %s/%s: %d rows, more than a sheet holds; the xlsx keeps "
                            "the first %d (most severe first), the CSV all of them",
                            department, source.entity_type, len(rows) - 1, EXCEL_MAX_ROWS - 1)
            name = department if len(mine) == 1 else f"{department}_{source.entity_type}"
            written[f"worklist_{name}_csv"] = _atomic_bytes(
                folder / f"{_safe(name)}.csv", _csv_bytes(rows, source))
            log.info("worklist %s/%s: %d value(s) to correct", department, source.entity_type,
                     len(rows) - 1)
        path = folder / f"{_safe(department)}.xlsx"
        buffer = io.BytesIO()
        write_workbook(buffer, sheets)
        written[f"worklist_{department}"] = _atomic_bytes(path, buffer.getvalue())
    return written


_SHEETS = {"person": "人员", "enterprise": "企业"}


def _csv_bytes(rows: list[list[str]], source: SourceConfig) -> bytes:
    """The rows as CSV in the department's encoding (UTF-8 with a BOM for sources that are
    no CSV, so spreadsheet programs read it; characters a GBK file cannot hold become ?)."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    encoding = source.encoding if source.resolved_format == "csv" else "utf-8-sig"
    return text.getvalue().encode(encoding, errors="replace")


def _safe(name: str) -> str:
    """A department name usable as a file name (path separators and NULs replaced)."""
    return "".join("_" if c in '/\\\x00:*?"<>|' else c for c in name).strip(". ") or "_"


def _atomic_bytes(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
