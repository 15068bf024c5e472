"""Blocking keys as 64-bit hashes, so a master index can find a record's blocks with
``np.searchsorted`` on a memory-mapped sorted array, for one record or a whole batch.

A key is what an exact blocking pass groups records by (its key columns, cut to their
prefix / suffix, joined); :func:`pass_keys` builds it with the block stage's own code, so
the resolver's blocks are the run's. :func:`hash_strings` hashes a whole string column at
once from its Arrow buffers (no Python loop per value). The hash is this module's own
(a polynomial over the UTF-8 bytes, then the splitmix64 finaliser), so an index written by
one process reads the same in any other, whatever the library versions. A collision only
adds a candidate, which comparison then scores like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from operator import mul
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.match.block import BlockingPass, flagged, joined_key, record_key, refined_pass

__all__ = ["flagged_record", "flagged_rows", "hash_strings", "hash_text", "pass_keys", "record_key",
           "refined_pass", "resolvable", "self_cross"]

_P = np.uint64(0x100000001B3)
_MAX_LEN = 4096  # longer keys are hashed on their first 4096 bytes (addresses are ~60)
_POWERS: npt.NDArray[np.uint64] | None = None
_SMALL = 8  # arrays up to this length are hashed in plain Python
_MASK = (1 << 64) - 1
_LOOP_BYTES = 48  # longer values are hashed with NumPy (shorter: faster in Python)
_SLAB = 1 << 18  # values hashed at once by the column path


def resolvable(bp: BlockingPass) -> bool:
    """Whether the index serves this pass: exact passes (the others compare neighbours or
    shared grams across the whole table, which a point lookup cannot reproduce), except
    cross-column ones (``keys_right``: one record's keys against another's other columns,
    which the index does not hold yet). A cross pass over the same columns both ways
    (:func:`self_cross`) is served exactly: see :func:`flagged_record`."""
    return bp.kind == "exact" and (not bp.keys_right or self_cross(bp))


def self_cross(bp: BlockingPass) -> bool:
    """A cross pass whose right-hand keys are its keys (the preset's masked-ID pass): a
    record flagged by ``keys_where`` (every record, without one) pairs with every record
    of its block, an unflagged one only with the flagged ones. The index keeps a second
    key file of the flagged records for it (``keys_<pass>__flagged.arrow``) when some
    records are not flagged."""
    return bool(bp.keys_right) and bp.keys_right == bp.keys


def flagged_record(record: Mapping[str, Any], bp: BlockingPass) -> bool:
    """Whether one record stands in a :func:`self_cross` pass's blocks by its keys (as
    :func:`~linkage.match.block.flagged` has it: a missing flag counts as false)."""
    return not bp.keys_where or bool(record.get(bp.keys_where))


def flagged_rows(records: pa.Table, bp: BlockingPass) -> npt.NDArray[np.bool_]:
    """:func:`flagged_record` of every row of ``records``."""
    if not bp.keys_where:
        return np.ones(records.num_rows, dtype=bool)
    return flagged(records, bp.keys_where)


def pass_keys(records: pa.Table, bp: BlockingPass) -> pa.Array:
    """Each record's key for pass ``bp`` as one string (null when a part is missing),
    exactly as the block stage forms it."""
    key = joined_key(records, bp)
    if isinstance(key, pa.ChunkedArray):
        key = key.combine_chunks()
    return key


def hash_strings(values: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.uint64],
                                                              npt.NDArray[np.bool_]]:
    """A uint64 hash per value and whether the value is present (null hashes are 0)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) <= _SMALL:
        return _hash_few(values)
    if len(values) > _SLAB:
        # the column path holds four 8-byte arrays per byte of text: slabs keep that
        # bounded (ten million keys of 30 bytes would be 9.6 GB at once)
        parts = [hash_strings(values.slice(lo, _SLAB)) for lo in range(0, len(values), _SLAB)]
        return (np.concatenate([h for h, _ in parts]),
                np.concatenate([p for _, p in parts]))
    if not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.large_string())
    n = len(values)
    present = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    if n == 0:
        return np.zeros(0, dtype=np.uint64), present
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:
                                                                 values.offset + n + 1]
    data_buf = values.buffers()[2]
    data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
            else np.zeros(0, dtype=np.uint8))
    lengths = np.minimum(np.diff(offsets), _MAX_LEN)
    starts = offsets[:-1]
    total = int(lengths.sum())
    # the byte positions of every (cut) value, and each byte's place within its value
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    first = np.cumsum(lengths) - lengths
    place = np.arange(total, dtype=np.int64) - first[owner]
    byte = data[starts[owner] + place].astype(np.uint64)
    powers = _powers(int(lengths.max()) if n else 0)
    with np.errstate(over="ignore"):
        terms = (byte + np.uint64(1)) * powers[place]
        acc = np.zeros(n, dtype=np.uint64)
        _sum_runs(acc, terms, first, lengths)
        acc ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        out = _mix(acc)
    out[~present] = 0
    return out, present


def _hash_few(values: pa.Array) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """:func:`hash_strings` of a handful of values in plain Python (a resolver's query:
    a dozen NumPy calls would cost more than the arithmetic)."""
    texts = pc.cast(values, pa.string()).to_pylist() if not pa.types.is_string(values.type) \
        else values.to_pylist()
    out = np.zeros(len(texts), dtype=np.uint64)
    present = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if text is not None:
            out[i] = hash_text(text)
            present[i] = True
    return out, present


@lru_cache(maxsize=1 << 16)
def hash_text(text: str) -> int:
    """:func:`hash_strings` of one present value, as a Python int (remembered: a
    resolve hashes an entity id twice, and candidates share names and phones)."""
    data = text.encode("utf-8")[:_MAX_LEN]
    n = len(data)
    if n > _LOOP_BYTES:  # a dot product (wrapping, like the column path)
        with np.errstate(over="ignore"):
            acc = int(np.dot(np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
                             + np.uint64(1), _powers(n)))
    else:
        # sum((byte + 1) * P**j) = sum(byte * P**j) + sum(P**j): exact Python ints, cut
        # to 64 bits once (the same value as wrapping at every step)
        powers, sums = _powers_list()
        acc = (sum(map(mul, data, powers)) + sums[n]) & _MASK
    acc ^= (n * 0x9E3779B97F4A7C15) & _MASK
    return _mix_one(acc)


_POWERS_LIST: list[int] = []
_POWER_SUMS: list[int] = []


def _powers_list() -> tuple[list[int], list[int]]:
    """:func:`_powers` as Python ints (indexing a NumPy array per byte costs more), and
    ``sums[n]`` = the sum of the first n, wrapped."""
    if not _POWERS_LIST:
        powers = [int(p) for p in _powers(_LOOP_BYTES)]
        sums = [0]
        for p in powers:
            sums.append((sums[-1] + p) & _MASK)
        _POWER_SUMS.extend(sums)
        _POWERS_LIST.extend(powers)
    return _POWERS_LIST, _POWER_SUMS


def _mix_one(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _sum_runs(acc: npt.NDArray[np.uint64], terms: npt.NDArray[np.uint64],
              first: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> None:
    """``acc[i] = sum(terms of value i)`` (wrapping), by reduceat over non-empty values."""
    nonempty = lengths > 0
    if nonempty.any():
        acc[nonempty] = np.add.reduceat(terms, first[nonempty])


def _powers(length: int) -> npt.NDArray[np.uint64]:
    """``P**i`` (wrapping) for i < length, from one table computed once."""
    global _POWERS
    if _POWERS is None:
        table = np.ones(_MAX_LEN, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(1, _MAX_LEN):
                table[i] = table[i - 1] * _P
        _POWERS = table
    return _POWERS[:max(length, 1)]


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: spreads the polynomial's bits over the whole word."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def content_hash(columns: list[pa.Array | pa.ChunkedArray]) -> npt.NDArray[np.uint64]:
    """One uint64 per row over the given columns' values as text (null distinct from any
    text): what an incremental run compares to tell a department's unchanged record from
    a new version, without the index keeping the raw columns themselves."""
    n = len(columns[0]) if columns else 0
    acc = np.zeros(n, dtype=np.uint64)
    for column in columns:
        text = pc.fill_null(pc.cast(column, pa.string()), "\x00null")
        h, _ = hash_strings(text)
        with np.errstate(over="ignore"):
            acc = _mix(acc * _P + h)
    return acc
