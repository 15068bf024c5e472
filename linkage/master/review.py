"""Clerical review: the pairs the model is least sure of go to a person, and their
decisions come back as must-link / cannot-link overrides that clustering honours.

The queue holds candidate pairs whose match weight lies within ``band_bits`` of the link
threshold, closest first, with both records' fields side by side (ID numbers and phones
masked) and an empty ``decision`` column. A reviewer fills in match / non_match and the
pipeline file names the filled file (``[person.review] decisions = "review.csv"``): each
later run applies it, since it names records by department and key, not by run-local ids.
A decided pair that blocking did not produce is added, so a must-link always holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.match.labels import resolve
from linkage.privacy import mask

log = logging.getLogger(__name__)

#: standardisers whose values are personal identifiers (masked in the queue)
MASKED_STANDARDISERS = frozenset({"id_number", "phone"})


@dataclass(frozen=True, kw_only=True)
class ReviewConfig:
    """``[<type>.review]``: ``decisions``, a filled-in review file (CSV or .xlsx) applied
    as overrides on every run; ``queue_size`` pairs within ``band_bits`` of the link
    threshold go to ``review_<type>.csv`` (0: no queue); ``train``: the decided matches
    also refine m before scoring."""

    decisions: Path | None = None
    queue_size: int = 200
    band_bits: float = 4.0
    train: bool = False

    def __post_init__(self) -> None:
        if self.queue_size < 0 or self.band_bits <= 0:
            raise ValueError("queue_size must be >= 0 and band_bits > 0")


def review_queue(
    records: pa.Table,
    scored: pa.Table,
    *,
    threshold_weight: float,
    fields: Sequence[str],
    masked: Sequence[str] = (),
    size: int = 200,
    band_bits: float = 4.0,
) -> pa.Table:
    """Up to ``size`` pairs closest to the threshold, with both sides' values and an empty
    ``decision`` column. Pairs an override already settles are left out."""
    weight = np.asarray(pc.fill_null(scored.column("match_weight"), np.nan).to_numpy(),
                        dtype=np.float64)
    distance = np.abs(weight - threshold_weight)
    near = np.isfinite(distance) & (distance <= band_bits)
    for flag in ("must_link", "cannot_link"):
        if flag in scored.column_names:
            near &= ~np.asarray(pc.fill_null(scored.column(flag), False).to_numpy(
                zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(near)
    rows = rows[np.lexsort((rows, distance[rows]))][:size]
    picked = scored.take(pa.array(rows, pa.int64()))
    ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    columns: dict[str, pa.Array] = {}
    sides = {}
    for side in ("l", "r"):
        wanted = np.asarray(picked.column(f"id_{side}").to_numpy(), dtype=np.int64)
        sides[side] = pa.array(order[np.searchsorted(ids[order], wanted)], pa.int64())
    for side in ("l", "r"):
        for col in ("source", "source_key"):
            columns[f"{col}_{side}"] = pc.cast(records.column(col).take(sides[side]),
                                               pa.string())
    columns["match_probability"] = picked.column("match_probability")
    columns["match_weight"] = picked.column("match_weight")
    for name in fields:
        if name not in records.column_names:
            continue
        for side in ("l", "r"):
            values = pc.cast(records.column(name).take(sides[side]), pa.string())
            if name in masked:
                values = pa.array([None if v is None else mask(v) for v in values.to_pylist()],
                                  pa.string())
            columns[f"{name}_{side}"] = values
    columns["decision"] = pa.array([""] * picked.num_rows, pa.string())
    return pa.table(columns)


def write_review(queue: pa.Table, path: Path) -> Path:
    """The queue as CSV (UTF-8 with BOM, which spreadsheet programs read as Unicode) or,
    for a ``.xlsx`` path, as a workbook."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "review"
        sheet.append(queue.column_names)
        for row in queue.to_pylist():
            sheet.append([row[c] for c in queue.column_names])
        book.save(path)
        return path
    import pyarrow.csv as pacsv

    with path.open("wb") as out:
        out.write("\ufeff".encode())
        pacsv.write_csv(queue, out)
    return path


def apply_decisions(records: pa.Table, scored: pa.Table, decisions: pa.Table) -> pa.Table:
    """``scored`` with each decided pair's ``must_link`` (match) or ``cannot_link``
    (non_match) set; decided pairs that are no candidates are appended (probability 1 or
    0). ``decisions`` is :func:`linkage.match.labels.read_pair_labels` output."""
    id_l, id_r, is_match, unknown = resolve(records, decisions)
    if unknown:
        log.warning("review: %d decision(s) name records this run does not have; skipped",
                    unknown)
    n = scored.num_rows
    must = _flag(scored, "must_link")
    cannot = _flag(scored, "cannot_link")
    left = np.asarray(scored.column("id_l").to_numpy(), dtype=np.int64)
    right = np.asarray(scored.column("id_r").to_numpy(), dtype=np.int64)
    width = int(max(left.max(initial=0), right.max(initial=0), id_r.max(initial=0))) + 1
    code = left * width + right
    order = np.argsort(code, kind="stable")
    wanted = id_l * width + id_r
    at = np.minimum(np.searchsorted(code[order], wanted), max(n - 1, 0))
    found = (code[order][at] == wanted) if n else np.zeros(len(wanted), dtype=bool)
    rows = order[at[found]]
    must[rows[is_match[found]]] = True
    cannot[rows[is_match[found]]] = False
    cannot[rows[~is_match[found]]] = True
    must[rows[~is_match[found]]] = False
    out = scored
    for name, values in (("must_link", must), ("cannot_link", cannot)):
        column = pa.array(values, pa.bool_())
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, column)
        else:
            out = out.append_column(name, column)
    extra_l, extra_r, extra_m = id_l[~found], id_r[~found], is_match[~found]
    if len(extra_l):
        extra = {name: pa.nulls(len(extra_l), out.schema.field(name).type)
                 for name in out.column_names}
        extra["id_l"] = pa.array(extra_l, pa.int64())
        extra["id_r"] = pa.array(extra_r, pa.int64())
        extra["match_probability"] = pa.array(np.where(extra_m, 1.0, 0.0))
        extra["match_weight"] = pa.array(np.where(extra_m, np.inf, -np.inf))
        extra["must_link"] = pa.array(extra_m, pa.bool_())
        extra["cannot_link"] = pa.array(~extra_m, pa.bool_())
        added = pa.table({name: extra[name].cast(out.schema.field(name).type)
                          for name in out.column_names})
        out = pa.concat_tables([out, added])
    log.info("review: %d decision(s) applied (%d match, %d non-match; %d pair(s) added)",
             len(is_match), int(is_match.sum()), int((~is_match).sum()), len(extra_l))
    return out


def _flag(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return np.array(pc.fill_null(table.column(name), False).to_numpy(zero_copy_only=False),
                    dtype=bool)
