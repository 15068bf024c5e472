"""Department quality kept as counts, so an incremental run updates it from the entities it
touched instead of scoring every department's records again.

:func:`~linkage.master.quality.source_quality` gives shares over all of a department's
records. Each share is a sum over records divided by a count of records, and a record's
part depends only on its own entity (its golden record, the other departments' values of
that entity). So the sums per department and field (:func:`quality_counts`) are updated
by taking away those of the touched entities as they were and adding those they became
(:func:`updated_counts`), and the scorecard is read off the sums (:func:`quality_table`).
The median age of a department's records is kept as its count of records per day.

Every figure is a ratio of whole numbers but consistency (a sum of fractions), which an
update can move in its last bits against a run that scores everything at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.golden import entity_codes
from linkage.master.groups import as_string, updated_days
from linkage.master.quality import (
    ALL,
    against_golden,
    field_state,
    other_sources,
    quality_row,
    quality_table_of,
)
from linkage.standardisers.base import MISSING

log = logging.getLogger(__name__)

__all__ = ["QualityCounts", "quality_counts", "quality_table", "updated_counts"]

#: per department and field: records whose field was read (the department carries the
#: field when one is), present values, valid ones, ones equal to the golden value, valid
#: and equal, superseded ones, and consistency's records and sum of shares
_SUMS = ("read", "present", "valid", "agree", "correct", "superseded", "cons_n", "cons_sum")
#: the field of a department's record count
_RECORDS = "*records"
_UNDATED = -(10**6)


@dataclass(frozen=True)
class QualityCounts:
    """``sums``: source, field, metric, value (float64), with source ``*`` for
    consistency's pooled sum; ``days``: source, day (days since 1970 of ``updated_at``),
    n; records without a date are not in ``days``."""

    sums: pa.Table
    days: pa.Table


SUMS_SCHEMA = pa.schema([("source", pa.string()), ("field", pa.string()),
                         ("metric", pa.string()), ("value", pa.float64())])
DAYS_SCHEMA = pa.schema([("source", pa.string()), ("day", pa.int64()), ("n", pa.int64())])


def quality_counts(records: pa.Table, clusters: pa.Table, golden: pa.Table, *,
                   fields: Sequence[str]) -> QualityCounts:
    """The sums behind :func:`source_quality` of these records (whole entities: a
    record's part reads its entity's other records)."""
    n = records.num_rows
    src_enc = pc.dictionary_encode(as_string(records["source"]))
    names = [s if s is not None else "" for s in src_enc.dictionary.to_pylist()]
    src = np.asarray(pc.fill_null(src_enc.indices, len(names)).to_numpy(
        zero_copy_only=False), dtype=np.int64)
    if (src == len(names)).any():
        names.append("")
    n_src = len(names)
    out_source: list[str] = []
    out_field: list[str] = []
    out_metric: list[str] = []
    out_value: list[float] = []

    def put(field: str, metric: str, per_source: np.ndarray) -> None:
        out_source.extend(names)
        out_field.extend([field] * n_src)
        out_metric.extend([metric] * n_src)
        out_value.extend(np.asarray(per_source, dtype=np.float64).tolist())

    def total(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = mask.astype(np.float64) if weights is None else np.where(mask, weights, 0.0)
        return np.bincount(src, weights=w, minlength=n_src)

    put(_RECORDS, "n", np.bincount(src, minlength=n_src))
    days = updated_days(records)
    if n:
        ent, ids, _ = entity_codes(records, clusters)
        gpos = pc.index_in(ids, value_set=as_string(golden["entity_id"])) \
            if golden.num_rows else None
        for f in fields:
            value, present, valid = field_state(records, f)
            agree, newer = against_golden(records, golden, gpos, f, ent, days)
            agree = agree & present
            same_other, n_other = other_sources(ent, src, value, present)
            compared = present & (n_other > 0)
            put(f, "read", total(_read(records, f)))
            put(f, "present", total(present))
            put(f, "valid", total(valid))
            put(f, "agree", total(agree))
            put(f, "correct", total(valid & agree))
            put(f, "superseded", total(present & ~agree & newer))
            put(f, "cons_n", total(compared))
            shares = np.divide(same_other, np.maximum(n_other, 1))
            put(f, "cons_sum", total(compared, shares))
            # pooled, summed in record order as source_quality sums it (to the last bit)
            out_source.append(ALL)
            out_field.append(f)
            out_metric.append("cons_sum")
            out_value.append(float(np.bincount(np.zeros(int(compared.sum()), np.int64),
                                               weights=shares[compared], minlength=1)[0]))
    dated = days > _UNDATED
    pairs = pa.table({"source": pa.array(names, pa.string()).take(pa.array(src[dated])),
                      "day": pa.array(days[dated], pa.int64())})
    per_day = pairs.group_by(["source", "day"]).aggregate([("day", "count")]) \
        .rename_columns(["source", "day", "n"])
    sums = pa.table({"source": out_source, "field": out_field, "metric": out_metric,
                     "value": pa.array(out_value, pa.float64())}, schema=SUMS_SCHEMA)
    return QualityCounts(sums, per_day.select(["source", "day", "n"]).cast(DAYS_SCHEMA))


def _read(records: pa.Table, field: str) -> np.ndarray:
    """Per record: a value was read for the field (blank or not), as
    :func:`~linkage.standardisers.stage.carried_rows` counts it before asking whether
    any record of the department has one."""
    raw = f"{field}__raw" if f"{field}__raw" in records.column_names else field
    if raw not in records.column_names:
        return np.zeros(records.num_rows, dtype=bool)
    read = pc.is_valid(records[raw])
    status = f"{field}__status"
    if raw == field and status in records.column_names:
        read = pc.or_(read, pc.fill_null(pc.not_equal(records[status], MISSING), False))
    return np.asarray(read.to_numpy(zero_copy_only=False), dtype=bool)


def updated_counts(previous: QualityCounts, *, removed: QualityCounts,
                   added: QualityCounts) -> QualityCounts:
    """``previous`` less the ``removed`` records' sums plus the ``added`` ones'."""
    def combine(parts: list[pa.Table], keys: list[str], value: str) -> pa.Table:
        table = pa.concat_tables(parts)
        summed = table.group_by(keys, use_threads=False).aggregate([(value, "sum")])
        return summed.rename_columns([*keys, value])

    minus = removed.sums.set_column(3, "value", pc.negate(removed.sums["value"]))
    sums = combine([previous.sums, minus, added.sums], ["source", "field", "metric"], "value")
    minus_days = removed.days.set_column(2, "n", pc.negate(removed.days["n"]))
    days = combine([previous.days, minus_days, added.days], ["source", "day"], "n")
    days = days.filter(pc.greater(days["n"], 0))
    return QualityCounts(sums.select(SUMS_SCHEMA.names).cast(SUMS_SCHEMA),
                         days.select(DAYS_SCHEMA.names).cast(DAYS_SCHEMA))


def quality_table(counts: QualityCounts, *, fields: Sequence[str],
                  entity_type: str | None) -> pa.Table:
    """The SourceQuality rows (plus ``QUALITY_EXTRA``) :func:`source_quality` gives the
    records the counts were taken over, sorted by source and field."""
    value: dict[tuple[str, str, str], float] = {}
    for s, f, m, v in zip(counts.sums["source"].to_pylist(), counts.sums["field"].to_pylist(),
                          counts.sums["metric"].to_pylist(), counts.sums["value"].to_pylist(),
                          strict=True):
        value[(s, f, m)] = v
    sources = sorted(s for (s, f, _), v in value.items() if f == _RECORDS and round(v) > 0)
    n_of = {s: round(value[(s, _RECORDS, "n")]) for s in sources}
    n_all = sum(n_of.values())
    median_age, pooled_age = _median_ages(counts.days, sources)

    def get(s: str, f: str, m: str) -> float:
        return value.get((s, f, m), 0.0)

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else float("nan")

    rows: list[dict[str, object]] = []
    for f in fields:
        pooled = dict.fromkeys(_SUMS, 0.0)
        carried_n = carried_present = 0.0
        for s in sources:
            got = {m: get(s, f, m) for m in _SUMS}
            carried = got["read"] > 0
            present = got["present"]
            rows.append(quality_row(s, entity_type, f, n_of[s], {
                "completeness": ratio(present, n_of[s]) if carried else float("nan"),
                "validity": ratio(got["valid"], present),
                "agreement": ratio(got["agree"], present),
                "correctness": ratio(got["correct"], present),
                "consistency": ratio(got["cons_sum"], got["cons_n"]),
                "superseded": ratio(got["superseded"], present)}, median_age[s], "field"))
            for m in _SUMS:
                pooled[m] += got[m]
            if carried:
                carried_n += n_of[s]
                carried_present += present
        present = pooled["present"]
        rows.append(quality_row(ALL, entity_type, f, n_all, {
            "completeness": ratio(carried_present, carried_n),
            "validity": ratio(pooled["valid"], present),
            "agreement": ratio(pooled["agree"], present),
            "correctness": ratio(pooled["correct"], present),
            "consistency": ratio(value.get((ALL, f, "cons_sum"), pooled["cons_sum"]),
                                 pooled["cons_n"]),
            "superseded": ratio(pooled["superseded"], present)}, pooled_age, "all_sources"))
    return quality_table_of(rows, entity_type, [
        *[(s, n_of[s], median_age[s], "source") for s in sources],
        (ALL, n_all, pooled_age, "overall"),
    ])


def _median_ages(days: pa.Table, sources: Sequence[str]) -> tuple[dict[str, float], float]:
    """Per department and pooled: the median of (as_of - updated_at) in days, as_of the
    newest date of all."""
    src = np.asarray(days["source"].to_pylist(), dtype=object)
    day = np.asarray(days["day"].to_numpy(zero_copy_only=False), dtype=np.int64)
    n = np.asarray(days["n"].to_numpy(zero_copy_only=False), dtype=np.int64)
    if not len(day):
        return dict.fromkeys(sources, float("nan")), float("nan")
    age = (int(day.max()) - day).astype(np.float64)
    ages = {s: float(np.median(np.repeat(age[src == s], n[src == s])))
            if (src == s).any() else float("nan") for s in sources}
    return ages, float(np.median(np.repeat(age, n)))
