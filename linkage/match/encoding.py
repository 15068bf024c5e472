"""Dictionary codes of record columns: each distinct value once, each row an int32 code.

Blocking and comparison both hash the same standardised columns (ID number, name, phone,
address) of the same records. :class:`ColumnCodes` computes a column's codes on first use
and hands the same arrays to every later user, so a run hashes each column once; a stage
used alone encodes for itself with :func:`encode_column`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

#: row positions and value codes (int32: a billion rows is beyond one machine's reach)
Positions = npt.NDArray[np.int32]

#: share of a column's values that may have another byte width than the common one for
#: the fixed-width encoding (their bytes are copied around; see _encode_fixed_width)
_ODD_SHARE = 0.01
#: narrowest common width worth it: Arrow hashes short strings as fast as fixed-size
#: binary (synth 1M, CPU: 11-byte phones 0.19 s both ways, 10-byte dates 0.03 s as
#: strings vs 0.04 s; 18-character IDs 0.20 s vs 0.24-0.27 s as strings)
_FIXED_MIN_WIDTH = 16


class ColumnCodes:
    """:func:`encode_column` of some columns of one record table, each computed once (on
    first use, safely from several threads) and kept until this object is dropped: pass
    one to :func:`linkage.match.block.block` and :func:`linkage.match.compare.compare` for the same
    records, then let it go. ``columns`` names the columns worth keeping (the compared
    fields); each costs its distinct values and 4 bytes a row while kept.
    """

    def __init__(self, records: pa.Table, columns: Iterable[str]) -> None:
        self.records = records
        self.columns = frozenset(columns)
        self._codes: dict[str, tuple[pa.Array, Positions]] = {}
        self._lock = threading.Lock()

    def serves(self, records: pa.Table, column: str) -> bool:
        """Whether this holds (or will hold) ``column`` of ``records``: the very table, not
        an equal one, and a column it was made for."""
        return records is self.records and column in self.columns

    def get(self, column: str) -> tuple[pa.Array, Positions]:
        """Distinct values and row codes of ``column`` (see :func:`encode_column`)."""
        if column not in self.columns:
            raise KeyError(f"ColumnCodes keeps {sorted(self.columns)}, not {column!r}")
        with self._lock:
            found = self._codes.get(column)
        if found is not None:
            return found
        encoded = encode_column(self.records.column(column))
        encoded[1].setflags(write=False)  # shared by every stage: nobody may write into it
        with self._lock:
            return self._codes.setdefault(column, encoded)

    def __contains__(self, column: object) -> bool:
        with self._lock:
            return column in self._codes


def encode_column(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, Positions]:
    """Distinct non-blank string values (an Arrow array) and each row's int32 code into
    them (-1 for null/blank).

    Works chunk by chunk (the chunks of one encoding share its dictionary), so a large
    column is never copied whole just to be encoded."""
    col = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    fixed = _encode_fixed_width(col)
    if fixed is not None:
        return fixed
    encoded = pc.dictionary_encode(col)
    if encoded.num_chunks == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int32)
    dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
    parts = [np.asarray(pc.fill_null(pc.cast(chunk.indices, pa.int32()), -1)
                        .to_numpy(zero_copy_only=False), dtype=np.int32)
             for chunk in encoded.chunks]
    codes = np.concatenate(parts) if len(parts) > 1 else parts[0]
    blank = pc.index(dictionary, "").as_py()
    if blank >= 0:  # a blank string is a missing value
        codes = np.where(codes == blank, np.int32(-1), codes)  # (zero-copy codes are read-only)
    return dictionary, codes


def _encode_fixed_width(col: pa.ChunkedArray) -> tuple[pa.Array, Positions] | None:
    """:func:`encode_column` of a string column whose non-blank values nearly all have
    one byte width of at least ``_FIXED_MIN_WIDTH`` (18-character ID numbers, credit
    codes; at most ``_ODD_SHARE`` of them another), or None for any other column. The
    common width's bytes are hashed as fixed-size binary values, read in place (cheaper
    than hashing strings that long), the few others as strings, after them (values of
    two widths are never equal). Codes are in first-seen order within each of the two
    groups, and the blank value the string path keeps in its dictionary is left out."""
    if not pa.types.is_string(col.type):
        return None
    layouts = []
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
            chunk.offset:chunk.offset + len(chunk) + 1]
        lengths = np.diff(offsets)
        present = lengths > 0
        if chunk.null_count and (present & ~np.asarray(chunk.is_valid())).any():
            return None  # a null slot holding bytes: leave it to the string path
        layouts.append((chunk, offsets, lengths, present))
    sizes = np.concatenate([lengths[present] for _, _, lengths, present in layouts]
                           or [np.zeros(0, dtype=np.int32)])
    if len(sizes) == 0:
        return None
    width = int(np.bincount(sizes).argmax())
    if width < _FIXED_MIN_WIDTH or np.count_nonzero(sizes != width) > _ODD_SHARE * len(sizes):
        return None
    pieces: list[pa.Array] = []
    odd_values: list[pa.Array] = []
    for chunk, offsets, lengths, present in layouts:
        odd = np.flatnonzero(present & (lengths != width))
        n_fixed = int(np.count_nonzero(present)) - len(odd)
        data_buf = chunk.buffers()[2]
        if n_fixed and len(odd) == 0:
            start, stop = int(offsets[0]), int(offsets[-1])
            pieces.append(pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(width), n_fixed, [None, data_buf.slice(start, stop - start)]))
        elif n_fixed:  # the common width's bytes between the odd values'
            data = np.frombuffer(data_buf, dtype=np.uint8)
            bounds = np.concatenate([offsets[:1], np.column_stack(
                [offsets[odd], offsets[odd + 1]]).reshape(-1), offsets[-1:]]).tolist()
            kept = np.concatenate([data[bounds[k]:bounds[k + 1]]
                                   for k in range(0, len(bounds), 2)])
            pieces.append(pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(width), n_fixed, [None, pa.py_buffer(kept)]))
        if len(odd):
            odd_values.append(chunk.take(pa.array(odd)))
    n_rows = sum(len(layout[0]) for layout in layouts)
    codes = np.full(n_rows, -1, dtype=np.int32)
    fixed_rows = np.concatenate([present & (lengths == width)
                                 for _, _, lengths, present in layouts])
    uniques = pa.array([], pa.string())
    if pieces:
        encoded = pc.dictionary_encode(pa.chunked_array(pieces, type=pa.binary(width)))
        dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
        n_values = len(dictionary)
        values_buf = dictionary.buffers()[1].slice(dictionary.offset * width, n_values * width)
        offsets_out = pa.py_buffer(np.arange(n_values + 1, dtype=np.int32) * np.int32(width))
        uniques = pa.Array.from_buffers(pa.string(), n_values, [None, offsets_out, values_buf])
        codes[fixed_rows] = np.concatenate(
            [np.asarray(chunk.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
             for chunk in encoded.chunks])
    if odd_values:
        odd_encoded = pc.dictionary_encode(pa.concat_arrays(odd_values))
        odd_rows = np.concatenate([present & (lengths != width)
                                   for _, _, lengths, present in layouts])
        codes[odd_rows] = len(uniques) + np.asarray(
            odd_encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
        uniques = pa.concat_arrays([uniques, odd_encoded.dictionary])
    return uniques, codes


__all__ = ["ColumnCodes", "Positions", "encode_column"]
