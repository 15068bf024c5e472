"""The master index as a log: an incremental run links the previous index's files into
its own (never writing into them) and adds one part, ``<type>/part_NNNN/``, holding only
what the night changed. At a million persons the whole index is 1.3 GB; a 1% batch
changes a few percent of its rows, spread over every file, so rewriting it cost an
incremental run more than everything else it does.

A part holds (files absent when empty)::

    records.arrow, clusters.arrow   rows of the new and regrouped records (a record id in
                                    a later part wins over the base and earlier parts)
    retired.arrow                   record ids that left the master
    golden.arrow, conflicts.arrow   the touched entities' golden records and conflicts,
                                    laid out as the base's (``__conflicts`` ends)
    gone.arrow                      the touched entities' previous ids (their rows in
                                    the base and earlier parts no longer count)
    members.arrow, keys_<p>.arrow   entries of the part's records (members: of every
                                    record it holds; keys: of the added records)
    members__dead.arrow, keys_<p>__dead.arrow
                                    positions of the base file's entries this part ends

:class:`LoggedKeys` reads a key file and its parts as the one sorted file compacting them
would write (live entries only, so block sizes count live records), :class:`RecordLog`
maps record ids to rows of the base and parts stacked, and :class:`EntityLayer` is one
file set of golden records and conflicts, looked up newest first. ``linkage compact``
(or an incremental run past :data:`MAX_INDEX_PARTS`) writes the index whole again.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.service.index_files import MasterIndexError, PassKeys, SortedKeys, part_dir
from linkage.service.index_tables import (
    CANDIDATE_COLUMNS,
    CONFLICT_COLUMNS,
    ENDS,
    FROM_RECORD,
    HASH,
    read_arrow,
)
from linkage.service.keys import hash_text
from linkage.service.rows import Rows, one_chunk, reader

if TYPE_CHECKING:
    from linkage.service.index import TypeIndex

__all__ = ["DEAD", "GONE", "MAX_INDEX_PARTS", "RETIRED", "EntityLayer", "LoggedKeys", "Merge",
           "RecordLog", "live_rows",
           "logged_keys", "open_logged"]

#: parts an index may hold before an incremental run writes it whole again
MAX_INDEX_PARTS = 8

RETIRED, GONE, DEAD = "retired.arrow", "gone.arrow", "__dead.arrow"


class Merge:
    """A sorted base column less some of its positions (``dead``), with sorted additions
    placed after the base's equal hashes: positions of that merged column mapped back to
    the base or the additions, with binary searches over the (small) changes only."""

    def __init__(self, base_h: npt.NDArray[np.uint64], dead: npt.NDArray[np.int64],
                 add_h: npt.NDArray[np.uint64]) -> None:
        self.base_h, self.add_h = base_h, add_h
        self.dead_h = base_h[dead]
        # live base entries before each dead one: a live index -> base index by search
        self.adj = dead - np.arange(len(dead), dtype=np.int64)
        before = (np.searchsorted(base_h, add_h, side="right")
                  - np.searchsorted(self.dead_h, add_h, side="right"))
        self.ins = before.astype(np.int64) + np.arange(len(add_h), dtype=np.int64)
        self.n = len(base_h) - len(dead) + len(add_h)

    def searchsorted(self, h: Any, side: str = "left") -> Any:
        s = cast(Any, side)
        return (np.searchsorted(self.base_h, h, side=s) - np.searchsorted(self.dead_h, h, side=s)
                + np.searchsorted(self.add_h, h, side=s))

    def locate(self, p: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.bool_],
                                                        npt.NDArray[np.int64],
                                                        npt.NDArray[np.int64]]:
        """(is an addition, index among the additions, index in the base) of positions."""
        k = np.searchsorted(self.ins, p, side="left").astype(np.int64)
        is_add = np.zeros(len(p), dtype=bool)
        if len(self.ins):
            is_add = self.ins[np.minimum(k, len(self.ins) - 1)] == p
        q = p - k
        return is_add, k, q + np.searchsorted(self.adj, q, side="right")


class _View:
    """One column of a :class:`Merge` (hashes or values), indexed like the array the
    compacted file would hold: an int, a slice, an index array; ``searchsorted`` and
    ``len`` as on the array; anything else (``np.asarray``) gets the whole column."""

    def __init__(self, merge: Merge, base: npt.NDArray[Any], adds: npt.NDArray[Any]) -> None:
        self.merge, self.base, self.adds = merge, base, adds
        self.dtype = np.result_type(base.dtype, adds.dtype)

    def __len__(self) -> int:
        return self.merge.n

    def take(self, p: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        is_add, k, b = self.merge.locate(np.asarray(p, dtype=np.int64))
        out = np.empty(len(p), dtype=self.dtype)
        out[~is_add] = self.base[b[~is_add]]
        out[is_add] = self.adds[k[is_add]]
        return out

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.merge.n)
            if step == 1:  # a block: most often a run of base entries, given as a slice
                run = self._base_run(start, stop)
                if run is not None:
                    return self.base[run[0]:run[1]]
            return self.take(np.arange(start, stop, step, dtype=np.int64))
        if isinstance(key, int | np.integer):
            return self.take(np.array([int(key)], dtype=np.int64))[0]
        arr = np.asarray(key)
        if arr.dtype == bool:
            arr = np.flatnonzero(arr)
        return self.take(arr.astype(np.int64))

    def _base_run(self, start: int, stop: int) -> tuple[int, int] | None:
        """The base's [a, b) when positions [start, stop) are consecutive base entries
        (no addition, no dead entry among them), else None."""
        if stop <= start:
            return 0, 0
        m = self.merge
        k = int(m.ins.searchsorted(start, side="left"))
        if k < len(m.ins) and int(m.ins[k]) < stop:
            return None
        first = start - k + int(m.adj.searchsorted(start - k, side="right"))
        last = stop - 1 - k + int(m.adj.searchsorted(stop - 1 - k, side="right"))
        return (first, last + 1) if last - first == stop - 1 - start else None

    def searchsorted(self, v: Any, side: str = "left") -> Any:
        return self.merge.searchsorted(v, side)

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        out = self.take(np.arange(self.merge.n, dtype=np.int64))
        return out if dtype is None else out.astype(dtype)


def logged_keys(base: SortedKeys, dead: npt.NDArray[np.int64],
                add_h: npt.NDArray[np.uint64], add_v: npt.NDArray[np.int64]) -> SortedKeys:
    """A :class:`~linkage.service.index.SortedKeys` reading ``base`` less its ``dead``
    positions plus the additions (sorted by hash) as the one compacted file."""
    merge = Merge(base.hashes, dead, add_h)
    return LoggedKeys(cast(Any, _View(merge, base.hashes, add_h)),
                      cast(Any, _View(merge, base.values, add_v)))


class LoggedKeys(SortedKeys):
    """A key file with its parts (see :func:`logged_keys`): ``hashes`` and ``values`` are
    views, ``ranges`` and ``count`` answer from the base and the changes alone."""

    def ranges(self, h: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64],
                                                         npt.NDArray[np.int64]]:
        merge = cast(_View, self.hashes).merge
        return (np.asarray(merge.searchsorted(h, "left"), dtype=np.int64),
                np.asarray(merge.searchsorted(h, "right"), dtype=np.int64))


@dataclass
class RecordLog:
    """Where each live record's row is in the base and parts' records stacked: ``rows``
    parallel to the live record ids (sorted), ``offsets`` the first row of each layer."""

    rows: npt.NDArray[np.int64]
    offsets: list[int]

    def layer(self, row: int) -> tuple[int, int]:
        """(layer, row within it) of a stacked row."""
        j = bisect.bisect_right(self.offsets, row) - 1
        return j, row - self.offsets[j]


def live_rows(ids: Sequence[npt.NDArray[np.int64]], retired: Sequence[npt.NDArray[np.int64]]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(live record ids sorted, their rows in the layers stacked) of the base's ids and
    each part's (``ids[j]``, sorted; ``retired[j]`` the ids part ``j`` retired): a row
    counts unless a later part holds or retires its id."""
    offsets = np.cumsum([0, *(len(i) for i in ids)]).astype(np.int64)
    later = np.zeros(0, dtype=np.int64)
    part_ids, part_rows = [], []
    for j in range(len(ids) - 1, 0, -1):
        keep = np.flatnonzero(~np.isin(ids[j], later))
        part_ids.append(np.asarray(ids[j], dtype=np.int64)[keep])
        part_rows.append(keep + offsets[j])
        later = np.concatenate([later, ids[j], retired[j]])
    keep0 = np.flatnonzero(~np.isin(ids[0], later)) if len(later) else \
        np.arange(len(ids[0]), dtype=np.int64)
    base_ids = np.asarray(ids[0], dtype=np.int64)[keep0]
    if not part_ids:
        return base_ids, keep0.astype(np.int64)
    p_ids, p_rows = np.concatenate(part_ids), np.concatenate(part_rows)
    order = np.argsort(p_ids, kind="stable")
    p_ids, p_rows = p_ids[order], p_rows[order]
    at = np.searchsorted(base_ids, p_ids)
    return (np.insert(base_ids, at, p_ids),
            np.insert(keep0.astype(np.int64), at, p_rows).astype(np.int64))


RecordReader = Callable[[str], Callable[[int], Any] | None]


@dataclass
class EntityLayer:
    """One file set of golden records (sorted by entity hash) and their conflicts: the
    base's, or a part's with the entity ids it retired (``gone``)."""

    golden: pa.Table
    golden_hashes: npt.NDArray[np.uint64]
    conflict_table: pa.Table
    conflict_hashes: npt.NDArray[np.uint64] | None  # None: in golden order (``ENDS``)
    conflict_ends: npt.NDArray[np.int64] | None
    #: a column reader by record id of the index's records (a candidate's source, ...)
    record_reader: RecordReader
    fields: tuple[str, ...]
    gone_hashes: npt.NDArray[np.uint64] = field(
        default_factory=lambda: np.zeros(0, np.uint64))
    gone_ids: pa.Array | None = None

    def find(self, entity_id: str) -> int | None:
        """The entity's golden row here (None when this layer does not hold it)."""
        rows = self._golden_rows
        for i in _entity_range(self.golden_hashes, entity_id):
            if rows.value(i, "entity_id") == entity_id:
                return i
        return None

    def retires(self, entity_id: str) -> bool:
        """Whether this layer ends the entity's rows in the layers before it."""
        if self.gone_ids is None:
            return False
        r = _entity_range(self.gone_hashes, entity_id)
        return any(self.gone_ids[i].as_py() == entity_id for i in r)

    def golden_row(self, i: int) -> dict[str, Any]:
        return self._golden_rows.row(i)

    def conflicts_of(self, entity_id: str, i: int | None) -> list[dict[str, Any]]:
        """The entity's conflicts here (``i``: its golden row, None when it has none)."""
        rows = self._conflict_rows
        if self.conflict_hashes is not None:
            return [rows.row(k) for k in _entity_range(self.conflict_hashes, entity_id)
                    if rows.value(k, "entity_id") == entity_id]
        if i is None:
            return []
        assert self.conflict_ends is not None
        golden = self._golden_rows
        ends = self.conflict_ends
        found = []
        for k in range(int(ends[i - 1]) if i else 0, int(ends[i])):
            row = rows.row(k)
            row["entity_id"] = entity_id
            if "golden_value" not in row:
                row["golden_value"] = golden.value(i, row["field"])
            found.append({**{n: row[n] for n in CONFLICT_COLUMNS if n in row}, **row})
        return found

    @cached_property
    def _golden_rows(self) -> Rows:
        return Rows(self.golden, json=True, skip=(HASH, ENDS))

    @cached_property
    def _conflict_rows(self) -> Rows:
        candidates = one_chunk(self.conflict_table.column("candidates"))
        kind = candidates.type.value_type
        if kind.get_field_index("source") >= 0:  # stored whole
            return Rows(self.conflict_table, json=True, skip=HASH)
        return Rows(self.conflict_table, json=True, skip=HASH,
                    readers={"candidates": self._candidates_reader(candidates)})

    def _candidates_reader(self, candidates: pa.ListArray) -> Callable[[int], Any]:
        """A conflict's candidates as JSON values, each one's source, key and updated_at
        read from its record (by record id), and its value too when the index left it
        out (``__value`` null: the record's value of the field)."""
        struct = candidates.values
        stored = {struct.type.field(k).name: reader(struct.field(k), json=True)
                  for k in range(struct.type.num_fields)}
        mine = {name: got for name in FROM_RECORD
                if (got := self.record_reader(name)) is not None}
        record_id = stored["record_id"]
        own_value = stored.get("__value")
        field_of = reader(one_chunk(self.conflict_table.column("field")), json=True)
        fields = {name: got for name in self.fields
                  if (got := self.record_reader(name)) is not None}
        starts = memoryview(candidates.offsets.buffers()[1]).cast("i")
        first = candidates.offsets.offset
        names = [(name, stored.get(name), mine.get(name)) for name in CANDIDATE_COLUMNS]

        def read(i: int) -> list[dict[str, Any]]:
            found = []
            of_field = fields.get(field_of(i)) if own_value is not None else None
            for k in range(starts[first + i], starts[first + i + 1]):
                rid = record_id(k)
                candidate = {name: own(k) if own is not None else
                             theirs(rid) if theirs is not None else None
                             for name, own, theirs in names}
                if own_value is not None:
                    value = own_value(k)
                    candidate["value"] = value if value is not None or of_field is None \
                        else of_field(rid)
                found.append(candidate)
            return found
        return read


def _entity_range(hashes: npt.NDArray[np.uint64], entity_id: str) -> range:
    h = np.uint64(hash_text(entity_id))
    return range(int(hashes.searchsorted(h, side="left")),
                 int(hashes.searchsorted(h, side="right")))


def open_logged(ti: TypeIndex, n_parts: int) -> None:
    """Read the ``n_parts`` parts of ``ti``'s folder into it (its base files opened):
    records stacked with where each live record id's row is, members and key files as
    :class:`LoggedKeys`, each part's golden records and conflicts as a layer."""
    parts = [part_dir(ti.folder, n) for n in range(1, n_parts + 1)]
    for part in parts:
        missing = [name for name in _needed(ti) if not (part / name).is_file()]
        if missing:
            raise MasterIndexError(f"{part}: part of the index without {', '.join(missing)}; "
                                   f"rebuild the index with `linkage index {ti.run_dir}`")
    tables = [ti.records, *(read_arrow(p / "records.arrow") for p in parts)]
    ids = [ti.record_ids, *(_ids(t, "record_id") for t in tables[1:])]
    retired = [np.zeros(0, np.int64), *(_ids(read_arrow(p / RETIRED), "record_id")
                                       for p in parts)]
    record_ids, rows = live_rows(ids, retired)
    offsets = np.cumsum([0, *(t.num_rows for t in tables)]).tolist()
    ti.records = pa.concat_tables(tables)
    ti.record_layers = tables
    ti.record_ids = record_ids
    ti.log = RecordLog(rows, [int(o) for o in offsets])
    # entries a part's file ends in the parts before it: of ids later parts retire
    # (keys: a record's keys never change), or also hold again (members)
    gone_later: list[npt.NDArray[np.int64]] = []
    held_later: list[npt.NDArray[np.int64]] = []
    acc_gone, acc_held = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for j in range(n_parts, 0, -1):
        gone_later.insert(0, acc_gone)
        held_later.insert(0, acc_held)
        acc_gone = np.concatenate([acc_gone, retired[j]])
        acc_held = np.concatenate([acc_held, retired[j], ids[j]])
    ti.members = _logged(ti.members, parts, "members", held_later)
    # (a record's department and key never change under its id, as its blocking keys)
    ti.source_keys = _logged(ti.source_keys, parts, "source_keys", gone_later)
    for name, pk in list(ti.keys.items()):
        logged = {field_name: _logged(keys, parts, stem, gone_later)
                  for field_name, stem, keys in pk.files()}
        ti.keys[name] = PassKeys(pk.bp, logged["whole"], logged.get("sub"),
                                 logged.get("flagged"))
    for part in parts:
        ti.layers.append(ti._layer(read_arrow(part / "golden.arrow"),
                                   read_arrow(part / "conflicts.arrow"),
                                   read_arrow(part / GONE)))


def _needed(ti: TypeIndex) -> list[str]:
    """The files every part of ``ti`` holds."""
    names = ["records.arrow", "clusters.arrow", RETIRED, "golden.arrow", "conflicts.arrow",
             GONE, "members.arrow", f"members{DEAD}", "source_keys.arrow", f"source_keys{DEAD}"]
    for pk in ti.keys.values():
        names += [f"{stem}{suffix}" for _, stem, _ in pk.files() for suffix in (".arrow", DEAD)]
    return names


def _ids(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    return np.asarray(one_chunk(table.column(name)).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def _logged(base: SortedKeys, parts: list[Path], stem: str,
            later: list[npt.NDArray[np.int64]]) -> SortedKeys:
    """Key file ``stem`` of the base and parts as one (see :func:`logged_keys`): the base
    less the positions the parts ended, plus each part's entries whose record id no
    later part ends (``later[j]``)."""
    dead, add_h, add_v = [], [], []
    for part, drop in zip(parts, later, strict=True):
        dead.append(_ids(read_arrow(part / f"{stem}{DEAD}"), "position"))
        table = read_arrow(part / f"{stem}.arrow")
        h = np.asarray(one_chunk(table.column(HASH)).to_numpy(), dtype=np.uint64)
        v = _ids(table, "record_id")
        keep = ~np.isin(v, drop) if len(drop) else np.ones(len(v), dtype=bool)
        add_h.append(h[keep])
        add_v.append(v[keep])
    hs, vs = np.concatenate(add_h), np.concatenate(add_v)
    order = np.lexsort((vs, hs))
    return logged_keys(base, np.unique(np.concatenate(dead)), hs[order], vs[order])
