"""Department quality scorecard on the four dimensions (correctness, timeliness, completeness,
consistency): per source and field.

completeness   share of the source's records that have the field (null for a source that
               does not carry the field at all: not collecting it is no gap in its data)
validity       share of present values whose status is valid (``ok*``)
agreement      share of present values equal to the entity's golden value
correctness    share of present values that are valid *and* equal the golden value
consistency    per record, share of the other departments' values for the same entity that
               equal it; averaged over records that have another department to compare with
superseded     share of present values that differ from the golden value while the golden
               value is strictly newer (the department kept an old value)
timeliness     1 - superseded
median_age_days  median of (as_of - updated_at) over the source's records
overall        mean of correctness, timeliness, completeness and consistency (those defined)

Rows with ``field == "*"`` summarise a department over its fields (means of the field rows),
rows with ``source == "*"`` pool every department; ``scope`` says which kind a row is.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.golden import entity_codes
from linkage.master.groups import as_string, combine, updated_days, value_codes
from linkage.runtime.threads import field_workers
from linkage.schemas import SOURCE_QUALITY, require_fields
from linkage.standardisers.stage import carried_rows

log = logging.getLogger(__name__)

__all__ = ["DIMENSIONS", "METRICS", "QUALITY_EXTRA", "against_golden", "field_state",
           "nanmean", "other_sources", "quality_row", "source_quality"]

DIMENSIONS = ("correctness", "timeliness", "completeness", "consistency")
ALL = "*"

QUALITY_EXTRA = pa.schema(
    [
        ("agreement", pa.float64()),
        ("correctness", pa.float64()),
        ("superseded", pa.float64()),
        ("overall", pa.float64()),
        ("scope", pa.string()),
    ]
)
METRICS = ("completeness", "validity", "consistency", "timeliness", "agreement",
            "correctness", "superseded")


def source_quality(
    records: pa.Table,
    clusters: pa.Table,
    golden: pa.Table,
    *,
    fields: Sequence[str],
    as_of: datetime.date | None = None,
) -> pa.Table:
    """SourceQuality rows (plus ``QUALITY_EXTRA`` columns), sorted by source and field."""
    require_fields(records, ("record_id", "source", "source_key", *fields), what="quality")
    n = records.num_rows
    ent, ids, types = entity_codes(records, clusters)
    etype = types[0].as_py() if len(types) else None
    src_enc = pc.dictionary_encode(as_string(records["source"]))
    src_names = [s if s is not None else "" for s in src_enc.dictionary.to_pylist()]
    src = np.asarray(pc.fill_null(src_enc.indices, len(src_names)).to_numpy(
        zero_copy_only=False), dtype=np.int64)
    if (src == len(src_names)).any():
        src_names.append("")
    n_src = len(src_names)
    days = updated_days(records)
    dated = days > -(10**6)
    if as_of is None:
        as_of_days = int(days[dated].max()) if dated.any() else 0
    else:
        as_of_days = (as_of - datetime.date(1970, 1, 1)).days
    age = (as_of_days - days).astype(np.float64)
    median_age = np.full(n_src, np.nan)
    for s in range(n_src):
        sel = dated & (src == s)
        if sel.any():
            median_age[s] = float(np.median(age[sel]))
    pooled_age = float(np.median(age[dated])) if dated.any() else np.nan

    gpos = pc.index_in(ids, value_set=as_string(golden["entity_id"])) if golden.num_rows else None
    ent_src = combine(ent, src)  # the same for every field

    def measure(f: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per source and pooled, the means of field ``f``'s per-record measures."""
        value, present, valid = field_state(records, f)
        agree, newer_golden = against_golden(records, golden, gpos, f, ent, days)
        same_other, n_other = other_sources(ent, src, value, present, ent_src)
        superseded = present & ~agree & newer_golden
        per_record = {
            # only the departments that collect the field: no penalty for one they never keep
            "completeness": (carried_rows(records, f), present.astype(np.float64)),
            "validity": (present, valid.astype(np.float64)),
            "agreement": (present, agree.astype(np.float64)),
            "correctness": (present, (valid & agree).astype(np.float64)),
            "consistency": (present & (n_other > 0),
                            np.divide(same_other, np.maximum(n_other, 1))),
            "superseded": (present, superseded.astype(np.float64)),
        }
        by_source = {k: _group_mean(src, sel, x, n_src) for k, (sel, x) in per_record.items()}
        pooled = {k: _group_mean(np.zeros(n, np.int64), sel, x, 1)
                  for k, (sel, x) in per_record.items()}
        return by_source, pooled

    # The fields are independent and their work is NumPy and Arrow kernels that release
    # the GIL: side by side, the rows made in field order.
    with ThreadPoolExecutor(max_workers=field_workers(len(fields))) as pool:
        measured = list(pool.map(measure, fields))
    rows: list[dict[str, object]] = []
    for f, (by_source, pooled) in zip(fields, measured, strict=True):
        counts = np.bincount(src, minlength=n_src)
        for s in range(n_src):
            rows.append(quality_row(src_names[s], etype, f, int(counts[s]),
                                    {k: v[s] for k, v in by_source.items()}, median_age[s],
                                    "field"))
        rows.append(quality_row(ALL, etype, f, n, {k: v[0] for k, v in pooled.items()},
                                pooled_age, "all_sources"))
    counts = np.bincount(src, minlength=n_src)
    table = quality_table_of(rows, etype, [
        *[(src_names[s], int(counts[s]), median_age[s], "source") for s in range(n_src)],
        (ALL, n, pooled_age, "overall"),
    ])
    log.info("quality: %d department(s) x %d field(s) scored", n_src, len(fields))
    return table


def quality_table_of(rows: list[dict[str, object]], etype: str | None,
                     summaries: list[tuple[str, int, float, str]]) -> pa.Table:
    """The per-field ``rows`` with, for each (department or ALL, records, median age,
    scope) of ``summaries``, the row of the means of its fields, sorted by department and
    field: the tail both the in-memory and the counted quality tables share."""
    for name, count, age_s, scope in summaries:
        mine = [r for r in rows if r["source"] == name and r["scope"] in ("field", "all_sources")]
        means = {k: nanmean([r[k] for r in mine]) for k in METRICS}
        rows.append(quality_row(name, etype, ALL, count, means, age_s, scope))
    schema = pa.schema(list(SOURCE_QUALITY) + list(QUALITY_EXTRA))
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.take(pc.sort_indices(table, sort_keys=[("source", "ascending"),
                                                        ("field", "ascending")]))


def quality_row(source: str, etype: str | None, field: str, n: int, m: dict[str, float],
                age: float, scope: str) -> dict[str, object]:
    timeliness = None if _nan(m["superseded"]) else 1.0 - m["superseded"]
    row: dict[str, object] = {
        "source": source, "entity_type": etype, "field": field, "n_records": n,
        **{k: (None if _nan(v) else float(v)) for k, v in m.items()},
        "timeliness": timeliness,
        "median_age_days": None if _nan(age) else float(age),
        "scope": scope,
    }
    dims = [row[d] for d in DIMENSIONS]
    defined = [float(d) for d in dims if isinstance(d, float)]
    row["overall"] = sum(defined) / len(defined) if defined else None
    return row


def field_state(records: pa.Table, f: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each record's value code of field ``f`` (-1 when missing), whether it has a value,
    and whether that value is valid (its standardiser's ``__status`` starts with "ok";
    a field without a status is valid when present)."""
    value = value_codes(records[f])
    present = value >= 0
    status = f"{f}__status"
    if status not in records.column_names:
        return value, present, present.copy()
    ok = pc.fill_null(pc.starts_with(as_string(records[status]), "ok"), False)
    return value, present, present & np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def against_golden(
    records: pa.Table, golden: pa.Table, gpos: pa.Array | None, f: str, ent: np.ndarray,
    days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per record: equals the golden value; the golden value is strictly newer than it."""
    n = records.num_rows
    if gpos is None or f not in golden.column_names:
        return np.zeros(n, bool), np.zeros(n, bool)
    pos = np.asarray(pc.fill_null(gpos, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    row = pos[ent]
    has = row >= 0
    take = pa.array(np.maximum(row, 0), pa.int64())
    # names: the golden value shown is a spelling as written; records hold folded values
    shown = f"{f}__canonical" if f"{f}__canonical" in golden.column_names else f
    gval = as_string(golden[shown]).take(take)
    eq = pc.fill_null(pc.equal(as_string(records[f]), gval), False)
    agree = np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool) & has
    newer = np.zeros(n, dtype=bool)
    upd = f"{f}__updated_at"
    if upd in golden.column_names:
        gdays = pc.fill_null(pc.cast(golden[upd].combine_chunks().take(take), pa.int32()),
                             -(10**7))
        g = np.asarray(gdays.to_numpy(zero_copy_only=False), dtype=np.int64)
        newer = has & (g > days) & (days > -(10**6))
    return agree, newer


def other_sources(ent: np.ndarray, src: np.ndarray, value: np.ndarray,
                   present: np.ndarray, ent_src: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per record: how many other-department values of its entity equal it, and how many
    other-department values there are. ``ent_src``: ``combine(ent, src)``, when the
    caller has it (it does not depend on the field)."""
    n = len(ent)
    p = present.astype(np.int64)
    e_count = np.bincount(ent, weights=p).astype(np.int64)
    if ent_src is None:
        ent_src = combine(ent, src)
    es = _sums_by(ent_src, p)
    ent_value = combine(ent, value)
    ev = _sums_by(ent_value, p)
    # (entity, value) is already one dense code: adding the few departments stays compact
    evs = _sums_by(combine(ent_value, src), p)
    n_other = e_count[ent] - es
    same_other = ev - evs
    zero = np.zeros(n, dtype=np.int64)
    return np.where(present, same_other, zero), np.where(present, n_other, zero)


def _sums_by(inverse: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per row: the sum of ``weight`` over rows with the same code (``inverse``: dense
    codes, one per distinct key)."""
    if not len(inverse):
        return np.zeros(0, dtype=np.int64)
    sums: np.ndarray = np.bincount(inverse, weights=weight).astype(np.int64)
    return np.asarray(sums[inverse], dtype=np.int64)


def _group_mean(group: np.ndarray, sel: np.ndarray, x: np.ndarray, n_groups: int) -> np.ndarray:
    num = np.bincount(group[sel], weights=x[sel], minlength=n_groups)
    den = np.bincount(group[sel], minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _nan(x: object) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def nanmean(values: Sequence[object]) -> float:
    good = [float(v) for v in values if isinstance(v, float | int) and not _nan(v)]
    return float(np.mean(good)) if good else float("nan")
