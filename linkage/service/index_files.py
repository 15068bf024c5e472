"""The master index's files as sorted lookups: a key file (hash -> record id or count,
sorted by hash: :class:`SortedKeys`), the key files of one blocking pass
(:class:`PassKeys`), the folder of an incremental run's part, and the error an unusable
index raises. :mod:`linkage.service.index` opens them; :mod:`linkage.service.index_log`
reads a base file and its parts as one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.errors import LinkageError
from linkage.match.block import BlockingPass
from linkage.service.index_tables import HASH, read_arrow
from linkage.service.keys import refined_pass, self_cross

__all__ = ["MasterIndexError", "PassKeys", "SortedKeys", "expand", "key_files", "np_column",
           "part_dir", "refined"]

_LAST = (1 << 64) - 1


class MasterIndexError(LinkageError):
    """The run folder has no usable master index."""


@dataclass(frozen=True)
class SortedKeys:
    """A sorted hash column and the value each hash maps to (record ids, counts)."""

    hashes: npt.NDArray[np.uint64]
    values: npt.NDArray[np.int64]

    @classmethod
    def open(cls, path: Path, value: str) -> SortedKeys:
        table = read_arrow(path)
        return cls(np_column(table.column(HASH)), np_column(table.column(value)))

    def ranges(self, h: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64],
                                                         npt.NDArray[np.int64]]:
        """[start, end) of each hash's run."""
        lo = np.searchsorted(self.hashes, h, side="left").astype(np.int64)
        hi = np.searchsorted(self.hashes, h, side="right").astype(np.int64)
        return lo, hi

    def run(self, h: int) -> tuple[int, int]:
        """[start, end) of one hash's run, by one binary search for two values (the end
        of h's run is the start of h + 1's)."""
        if h >= _LAST:
            return int(self.hashes.searchsorted(np.uint64(h))), len(self.hashes)
        lo, hi = self.hashes.searchsorted(np.array((h, h + 1), dtype=np.uint64)).tolist()
        return lo, hi

    def count(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        lo, hi = self.ranges(h)
        found = hi > lo
        out = np.zeros(len(h), dtype=np.int64)
        out[found] = self.values[lo[found]]
        return out


def part_dir(folder: Path, n: int) -> Path:
    """The folder of part ``n`` (from 1) of a type's index folder."""
    return folder / f"part_{n:04d}"


def key_files(bp: BlockingPass) -> list[tuple[str, str, BlockingPass]]:
    """The key files the index keeps of an exact pass, as (its :class:`PassKeys` field,
    its file's stem, the pass whose keys fill it): every record's keys; keys and sub keys
    for a pass that splits large blocks; the flagged records' keys (of the pass itself)
    for a cross pass over its own keys with ``keys_where``."""
    out = [("whole", f"keys_{bp.name}", bp)]
    if bp.sub_keys:
        out.append(("sub", f"keys_{bp.name}__sub", refined_pass(bp)))
    if self_cross(bp) and bp.keys_where:
        out.append(("flagged", f"keys_{bp.name}__flagged", bp))
    return out


@dataclass(frozen=True)
class PassKeys:
    """The key files of one pass the index serves: every record's key (``whole``), keys
    and sub keys (``sub``, a pass that splits large blocks) and, for a cross pass over
    its own keys with ``keys_where``, the flagged records' keys (``flagged``)."""

    bp: BlockingPass
    whole: SortedKeys
    sub: SortedKeys | None = None
    flagged: SortedKeys | None = None

    def files(self) -> list[tuple[str, str, SortedKeys]]:
        """The key files this pass has, as (field, file stem, keys)."""
        return [(name, stem, keys) for name, stem, _ in key_files(self.bp)
                if (keys := getattr(self, name)) is not None]

    def cross_parts(self, flag: npt.NDArray[np.bool_], h: npt.NDArray[np.uint64],
                    present: npt.NDArray[np.bool_]) -> list[tuple[
                        npt.NDArray[np.int64], SortedKeys, npt.NDArray[np.int64],
                        npt.NDArray[np.int64]]]:
        """A :func:`~linkage.service.keys.self_cross` pass's lookups, as (query rows, key
        file, [lo, hi) ranges): a flagged query meets its whole block, an unflagged one
        only the block's flagged records. The block the run would form with the query
        holds each flagged record twice (by its keys and by its right-hand keys), so it is
        capped at records + flagged records + the query once or twice; without a flagged
        record it is one-sided and pairs nothing (neither counted nor capped)."""
        n_lo, n_hi = self.whole.ranges(h)
        f_lo, f_hi = (n_lo, n_hi) if self.flagged is None else self.flagged.ranges(h)
        size = (n_hi - n_lo) + (f_hi - f_lo) + np.where(flag, 2, 1)
        ok = present & (size <= self.bp.max_block_size)
        mine = np.flatnonzero(ok & flag)
        theirs = np.flatnonzero(ok & ~flag)
        return [(mine, self.whole, n_lo[mine], n_hi[mine]),
                (theirs, self.whole if self.flagged is None else self.flagged, f_lo[theirs],
                 f_hi[theirs])]

    def cross_ids(self, flag: bool, h: int) -> npt.NDArray[Any]:
        """:meth:`cross_parts` of one query: the record ids its key's block gives it."""
        lo, hi = self.whole.run(h)
        f_lo, f_hi = (lo, hi) if self.flagged is None else self.flagged.run(h)
        if (hi - lo) + (f_hi - f_lo) + (2 if flag else 1) > self.bp.max_block_size:
            return self.whole.values[0:0]
        if flag or self.flagged is None:
            return self.whole.values[lo:hi]
        return self.flagged.values[f_lo:f_hi]


@lru_cache(maxsize=256)
def refined(bp: BlockingPass) -> BlockingPass:
    """:func:`refined_pass`, made once per pass (a dataclass with checks is not free)."""
    return refined_pass(bp)


def np_column(column: pa.ChunkedArray | pa.Array) -> Any:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.to_numpy(zero_copy_only=True) if arr.null_count == 0 else np.asarray(
        arr.to_numpy(zero_copy_only=False))


def expand(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For ranges [lo, hi): (which range, position) of every element, in order."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    pos = np.repeat(lo, counts) + (np.arange(int(counts.sum()), dtype=np.int64)
                                   - np.repeat(first, counts))
    return owner, pos
