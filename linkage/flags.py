"""The ``flags`` column of a RecordTable: one list of ``"field:reason"`` strings per record.

Flags are built from per-check string columns (null where the check passed) with column
operations, never a Python list per row: the reader, the standardise stage and the
pipeline each add theirs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def collect_flags(parts: list[pa.Array], n: int) -> pa.Array:
    """Per row, the list of non-null flag strings across fields (empty list when clean)."""
    if not parts:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)),
                                        pa.array([], pa.string()))
    valid = np.column_stack([p.is_valid().to_numpy(zero_copy_only=False) for p in parts])
    rows, cols = np.nonzero(valid)  # row-major: each row's flags in field order
    flat = pa.concat_arrays(parts).take(pa.array(cols * n + rows, type=pa.int64()))
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def concat_flags(a: pa.ListArray, b: pa.ListArray) -> pa.ListArray:
    """Row-wise concatenation of two list arrays of equal length (a's items first)."""
    off_a = a.offsets.to_numpy()
    off_b = b.offsets.to_numpy()
    len_a, len_b = np.diff(off_a), np.diff(off_b)
    offsets = np.concatenate([[0], np.cumsum(len_a + len_b)]).astype(np.int32)
    # Position of every output item in concat(a.values, b.values).
    row_a = np.repeat(np.arange(len(a)), len_a)
    row_b = np.repeat(np.arange(len(b)), len_b)
    dest_a = offsets[row_a] + (np.arange(off_a[0], off_a[-1]) - off_a[row_a])
    dest_b = offsets[row_b] + len_a[row_b] + (np.arange(off_b[0], off_b[-1]) - off_b[row_b])
    order = np.empty(offsets[-1], dtype=np.int64)
    order[dest_a] = np.arange(len(dest_a))
    order[dest_b] = len(dest_a) + np.arange(len(dest_b))
    values = pa.concat_arrays([a.values.slice(off_a[0], off_a[-1] - off_a[0]),
                               b.values.slice(off_b[0], off_b[-1] - off_b[0])])
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(order)))
