"""Per-group arithmetic over NumPy codes: the shared vocabulary of the master-data stages.

Clustering, entity ids, golden records, conflicts, quality and evaluation all work the same
way: turn a column into integer codes (one per distinct value, -1 for null), combine codes
into one code per distinct combination, and count or pick per group with ``bincount`` and
sorts instead of Python objects per record. These helpers live here, below all of those
stages, so that none of them has to import another to reach them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "as_bools",
    "as_ints",
    "as_string",
    "combine",
    "dense",
    "distinct_per_group",
    "entity_of",
    "group_codes",
    "is_present",
    "one_chunk",
    "record_rank",
    "text_column",
    "updated_days",
    "value_codes",
]


def one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def as_string(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = one_chunk(column)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def text_column(table: pa.Table, name: str) -> pa.Array:
    """Column ``name`` as one string array; all null when the table has no such column
    (a field no source carries)."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    return as_string(table[name])


def entity_of(records: pa.Table, clusters: pa.Table) -> pa.Array:
    """The entity id of each record (null when the record has no cluster row)."""
    at = pc.index_in(records["record_id"], value_set=clusters["record_id"].combine_chunks())
    return as_string(clusters["entity_id"]).take(at)


def as_ints(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(one_chunk(column).to_numpy(zero_copy_only=False), dtype=np.int64)


def as_bools(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(one_chunk(column).to_numpy(zero_copy_only=False), dtype=bool)


def is_present(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return as_bools(pc.is_valid(column)).astype(np.int64)


def value_codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dictionary code per row (-1 for null)."""
    encoded = pc.dictionary_encode(as_string(column))
    return np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def group_codes(records: pa.Table, group: Sequence[str]) -> np.ndarray:
    """One code per distinct combination of the group's values (nulls are values here)."""
    if len(group) == 1:
        return value_codes(records[group[0]])
    return combine(*[value_codes(records[f]) for f in group])


def updated_days(records: pa.Table) -> np.ndarray:
    """``updated_at`` as days since 1970; unknown dates are far in the past."""
    if "updated_at" not in records.column_names:
        return np.full(records.num_rows, -(10**7), dtype=np.int64)
    days = pc.cast(one_chunk(records["updated_at"]), pa.int32())
    return np.asarray(pc.fill_null(days, -(10**7)).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def record_rank(records: pa.Table) -> np.ndarray:
    """Rank of each record by (source, source_key): the order-free final tie-break."""
    keys = pa.table({"source": as_string(records["source"]),
                     "source_key": as_string(records["source_key"])})
    order = pc.sort_indices(keys, sort_keys=[("source", "ascending"),
                                             ("source_key", "ascending")])
    rank = np.empty(records.num_rows, dtype=np.int64)
    rank[order.to_numpy()] = np.arange(records.num_rows)
    return rank


def dense(code: np.ndarray) -> np.ndarray:
    """Renumber non-negative int codes to 0..k-1: equal codes stay equal.

    Compact codes keep their order (a bincount, O(n)); wide ones are hashed by Arrow
    (O(n), numbered in order of first appearance)."""
    code = np.asarray(code, dtype=np.int64)
    if not len(code):
        return code
    top = int(code.max())
    if top < 8 * len(code) + 1024:
        seen = np.bincount(code, minlength=top + 1) > 0
        return np.asarray((np.cumsum(seen) - 1)[code], dtype=np.int64)
    indices = pc.dictionary_encode(pa.array(code, pa.int64())).indices
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def combine(*columns: np.ndarray) -> np.ndarray:
    """One dense code per distinct combination of integer columns (any sign, e.g. -1 nulls)."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        c = np.asarray(column, dtype=np.int64)
        if not len(c):
            return c
        lo = int(c.min())
        span = int(c.max()) - lo + 1
        if (int(code.max()) + 1) * span >= 2**62:
            code = dense(code)
        code = code * span + (c - lo)
    return dense(code)


def distinct_per_group(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct ``value`` per ``group`` (0..n_groups-1)."""
    if not len(group):
        return np.zeros(n_groups, dtype=np.int64)
    pair = combine(group, value)
    owner = np.zeros(int(pair.max()) + 1, dtype=np.int64)
    owner[pair] = group
    return np.bincount(owner, minlength=n_groups)
