"""The master index: what a run leaves behind so one record can be resolved against it in
milliseconds, and a new batch linked against it without re-reading any source.

Layout (``<run>/index/``, Arrow IPC files opened memory-mapped, ``manifest.json`` last, so
its presence means the index is complete)::

    manifest.json                 format, the pipeline configuration, per-type counts
    <type>/records.arrow          by record_id, every standardised column (a lookup reads
                                  the fields and the columns compared; an incremental run
                                  the touched entities' whole rows), the entity id and
                                  ``__content`` (a hash of the raw fields an incremental
                                  run compares a new version with)
    <type>/clusters.arrow         the Clusters rows (size, edges, density, ...) but the
                                  entity type and id, which records.arrow holds
    <type>/golden.arrow           golden records, sorted by the hash of the entity id,
                                  with where each one's conflicts end (``__conflicts``)
    <type>/conflicts.arrow        conflicts in the order of their golden records; their
                                  entity id and golden value are the golden record's, each
                                  candidate value's source, key and updated_at its
                                  record's (records.arrow), not stored again
    <type>/members.arrow          entity-id hash -> record id, sorted
    <type>/source_keys.arrow      hash of (source, key) -> record id, sorted: the record a
                                  department's row is a new version of
    <type>/keys_<pass>.arrow      blocking-key hash -> record id, sorted, per exact pass
    <type>/keys_<pass>__sub.arrow the same on keys + sub keys (for split blocks)
    <type>/keys_<pass>__flagged.arrow the same of the flagged records only, for a cross
                                  pass over its own keys with ``keys_where`` (masked IDs)
    <type>/tf_<comparison>.arrow  value hash -> count, for term-frequency comparisons
    <type>/model.json             the fitted scoring model
    <type>/part_NNNN/             after incremental runs: each night's changes, the files
                                  above linked from the previous index, never rewritten
                                  (:mod:`linkage.service.index_log`)

Lookups are ``np.searchsorted`` over the sorted hash columns (see
:mod:`linkage.service.keys`), one record or a whole batch at once. Every file stays
uncompressed, so a lookup reads the mapped pages it needs and nothing else; text with
many repeats is dictionary-encoded instead (:func:`~linkage.service.index_tables.compact`),
and record ids are 32-bit when they fit. What only an incremental run reads (the scored
pairs, the conflicts as a table) is read from the run folder itself
(:func:`~linkage.io.run_tables.read_run_table`), not kept twice.

This module opens and reads the index; :mod:`linkage.service.index_write` writes it and
:mod:`linkage.service.index_tables` says how its tables are stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import EntityConfig, PipelineConfig, pipeline_from_dict
from linkage.io.run_tables import read_run_table
from linkage.master.quality_counts import QualityCounts, quality_counts
from linkage.match.block import BlockingPass
from linkage.match.compare import read_columns
from linkage.match.score import FellegiSunter
from linkage.schemas import CONFLICTS
from linkage.service.index_files import (
    MasterIndexError,
    PassKeys,
    SortedKeys,
    expand,
    np_column,
    part_dir,
    refined,
)
from linkage.service.index_tables import (
    ENDS,
    HASH,
    plain,
    read_arrow,
)
from linkage.service.keys import (
    flagged_record,
    flagged_rows,
    hash_strings,
    hash_text,
    pass_keys,
    record_key,
    refined_pass,
    self_cross,
)
from linkage.service.rows import Rows, one_chunk, reader

if TYPE_CHECKING:  # the log's module builds on SortedKeys, defined here
    from linkage.service.index_log import EntityLayer, RecordLog

__all__ = [
    "FORMAT",
    "INDEX_DIR",
    "QUALITY_DAYS",
    "QUALITY_SUMS",
    "MasterIndex",
    "MasterIndexError",
    "PassKeys",
    "SortedKeys",
    "TypeIndex",
    "config_from",
    "expand",
    "part_dir",
    "source_key_hashes",
]

INDEX_DIR = "index"

#: department quality as counts (:mod:`linkage.master.quality_counts`), which an
#: incremental run updates
QUALITY_SUMS, QUALITY_DAYS = "quality_sums.arrow", "quality_days.arrow"

FORMAT = "linkage.master_index/3"
#: the run's record columns records.arrow leaves out (clusters.arrow holds the size; one
#: type's folder needs no type column)
NOT_STORED = frozenset({"entity_type", "cluster_size"})
SOURCE_KEYS = "source_keys.arrow"
#: formats this version opens (an earlier one's records.arrow lacks columns an
#: incremental run reads, and it has no source_keys.arrow)
FORMATS = (FORMAT,)


def config_from(data: Mapping[str, Any]) -> PipelineConfig:
    base = Path(str(data.get("base_dir", ".")))
    return pipeline_from_dict({k: v for k, v in data.items() if k != "base_dir"},
                              base_dir=base, origin="the run's saved configuration")


def source_key_hashes(table: pa.Table) -> npt.NDArray[np.uint64]:
    """Each record's hash of its source and key (what names a department's row)."""
    if not table.num_rows:
        return np.zeros(0, dtype=np.uint64)
    joined = pc.binary_join_element_wise(pc.cast(table.column("source"), pa.string()),
                                         pc.cast(table.column("source_key"), pa.string()),
                                         "\x00")
    return hash_strings(joined)[0]


def _usable(keys: SortedKeys, h: npt.NDArray[np.uint64], present: npt.NDArray[np.bool_],
            cap: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each hash's run in ``keys``, empty when the key is missing or the block, with the
    query in it, would exceed ``cap`` (the run skips such blocks)."""
    lo, hi = keys.ranges(h)
    drop = ~present | ((hi - lo + 1) > cap)
    lo[drop] = 0
    hi[drop] = 0
    return lo, hi


@dataclass
class TypeIndex:
    """One entity type of a master index, memory-mapped: its base files and, after
    incremental runs, their parts (:mod:`linkage.service.index_log`), read together as
    the files compacting them would write."""

    entity_type: str
    section: EntityConfig
    model: FellegiSunter
    #: the base's records and each part's stacked (a part's row of a record id wins);
    #: rows of records a part replaced or retired stay, ``positions`` skips them
    records: pa.Table
    #: live record ids, sorted
    record_ids: npt.NDArray[np.int64]
    members: SortedKeys
    source_keys: SortedKeys
    keys: dict[str, PassKeys]
    tf: dict[str, tuple[SortedKeys, int]]
    max_record_id: int
    folder: Path
    #: how many parts the index holds
    parts: int = 0
    #: given parts: the stacked row of each live record id and each layer's first row
    log: RecordLog | None = None
    #: the base's golden records and conflicts, then each part's (searched newest first)
    layers: list[EntityLayer] = field(default_factory=list)
    #: given parts: the base's records and each part's (``records`` stacks them)
    record_layers: list[pa.Table] = field(default_factory=list)

    @classmethod
    def open(cls, folder: Path, etype: str, section: EntityConfig,
             entry: Mapping[str, Any]) -> TypeIndex:
        from linkage.service.index_log import open_logged

        n_parts = int(entry.get("parts", 0))
        for n in range(1, n_parts + 1):
            if not part_dir(folder, n).is_dir():
                raise MasterIndexError(f"{folder}: the manifest lists part {n} of the "
                                       f"index, which is missing; rebuild the index with "
                                       f"`linkage index {folder.parent.parent}`")
        records = read_arrow(folder / "records.arrow")
        golden = read_arrow(folder / "golden.arrow")
        conflicts = read_arrow(folder / "conflicts.arrow")
        keys: dict[str, PassKeys] = {}
        for bp in section.blocking:
            if bp.name not in entry["passes"]:
                continue
            sub = folder / f"keys_{bp.name}__sub.arrow"
            flag = folder / f"keys_{bp.name}__flagged.arrow"
            if self_cross(bp) and bp.keys_where and not flag.is_file():
                raise MasterIndexError(f"{folder}: pass {bp.name!r} has no key file of its "
                                       f"flagged records (an index from before they were "
                                       f"kept); rebuild it with `linkage index RUN`")
            keys[bp.name] = PassKeys(
                bp, SortedKeys.open(folder / f"keys_{bp.name}.arrow", "record_id"),
                SortedKeys.open(sub, "record_id") if sub.is_file() else None,
                SortedKeys.open(flag, "record_id") if flag.is_file() else None)
        tf = {name: (SortedKeys.open(folder / f"tf_{name}.arrow", "count"), int(total))
              for name, total in entry["tf_totals"].items()}
        ti = cls(
            entity_type=etype, section=section,
            model=FellegiSunter.load(folder / "model.json"),
            records=records, record_ids=np_column(records.column("record_id")),
            members=SortedKeys.open(folder / "members.arrow", "record_id"),
            source_keys=SortedKeys.open(folder / SOURCE_KEYS, "record_id"),
            keys=keys, tf=tf, max_record_id=int(entry["max_record_id"]), folder=folder,
            parts=n_parts)
        ti.layers = [ti._layer(golden, conflicts)]
        if n_parts:
            open_logged(ti, n_parts)
        return ti

    def _layer(self, golden: pa.Table, conflicts: pa.Table, gone: pa.Table | None = None
               ) -> EntityLayer:
        """One file set of golden records and conflicts (see :class:`EntityLayer`)."""
        from linkage.service.index_log import EntityLayer

        layer = EntityLayer(
            golden=golden, golden_hashes=np_column(golden.column(HASH)), conflict_table=conflicts,
            conflict_hashes=(np_column(conflicts.column(HASH)) if HASH in conflicts.column_names
                             else None),
            conflict_ends=(np.asarray(np_column(golden.column(ENDS)), dtype=np.int64)
                           if ENDS in golden.column_names else None),
            record_reader=self._record_reader, fields=tuple(self.section.fields))
        if gone is not None:
            layer.gone_hashes = np_column(gone.column(HASH))
            layer.gone_ids = one_chunk(gone.column("entity_id"))
        return layer

    # the base's golden records and conflicts (its layer; parts add layers after it)
    @property
    def golden(self) -> pa.Table:
        return self.layers[0].golden

    @property
    def golden_hashes(self) -> npt.NDArray[np.uint64]:
        return self.layers[0].golden_hashes

    @property
    def conflict_table(self) -> pa.Table:
        return self.layers[0].conflict_table

    @property
    def conflict_hashes(self) -> npt.NDArray[np.uint64] | None:
        """None: the base's conflicts are in golden order (``ENDS``)."""
        return self.layers[0].conflict_hashes

    @property
    def conflict_ends(self) -> npt.NDArray[np.int64] | None:
        return self.layers[0].conflict_ends

    @property
    def run_dir(self) -> Path:
        """The run folder the index belongs to (``<run>/index/<type>``)."""
        return self.folder.parent.parent

    def pairs(self) -> pa.Table:
        """The run's scored candidate pairs of this type (from the run folder)."""
        pairs = read_run_table(self.run_dir, "pairs")
        if "entity_type" in pairs.column_names:
            pairs = pairs.filter(pc.equal(pairs.column("entity_type"), self.entity_type))
            pairs = pairs.drop_columns(["entity_type"])
        # a run of several types writes one table: the other types' factor columns go
        mine = {f"bf_{c.name}" for c in self.section.comparisons}
        return pairs.drop_columns([c for c in pairs.column_names
                                   if c.startswith("bf_") and c not in mine])

    def full_records(self) -> pa.Table:
        """Every standardised column of this type's records, from the run folder, in
        the index's row order (an incremental run's carry-over reads them)."""
        records = read_run_table(self.run_dir, "records")
        if "entity_type" in records.column_names:
            records = records.filter(pc.equal(records.column("entity_type"), self.entity_type))
        ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
        if len(ids) > 1 and not bool((ids[1:] >= ids[:-1]).all()):
            records = records.sort_by("record_id")
            ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
        if not np.array_equal(ids, self.record_ids):
            raise MasterIndexError(f"{self.run_dir}: records.parquet does not hold the "
                                   f"index's {self.entity_type} records; rebuild the index "
                                   f"with `linkage index {self.run_dir}`")
        return records

    def full_golden(self) -> pa.Table:
        """This type's golden records as the run folder has them (by entity id)."""
        return read_run_table(self.run_dir, f"golden_{self.entity_type}")

    def live(self, columns: list[str] | None = None) -> pa.Table:
        """The live records (``columns`` of them), in record-id order: ``records`` itself
        without parts, else its live rows taken (whole-column readers use this)."""
        table = self.records if columns is None else self.records.select(columns)
        if self.log is None:
            return table
        return table.take(pa.array(self.log.rows))

    @cached_property
    def clusters(self) -> pa.Table:
        """The Clusters rows of this type (entity type and id joined back on)."""
        stored = read_arrow(self.folder / "clusters.arrow")
        entity_ids = self.records.column("entity_id")
        if self.log is not None:
            stored = pa.concat_tables([stored, *(
                read_arrow(part_dir(self.folder, n) / "clusters.arrow")
                for n in range(1, self.parts + 1))]).take(pa.array(self.log.rows))
            entity_ids = entity_ids.take(pa.array(self.log.rows))
        n = stored.num_rows
        etype = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                               pa.array([self.entity_type])).cast(pa.string())
        columns = {"record_id": stored.column("record_id"), "entity_type": etype,
                   "entity_id": entity_ids}
        columns.update({c: stored.column(c) for c in stored.column_names if c != "record_id"})
        return pa.table(columns)

    @cached_property
    def conflicts(self) -> pa.Table:
        """Every conflict of this type as the run folder has them."""
        conflicts = read_run_table(self.run_dir, "conflicts")
        if conflicts.num_rows and "entity_type" in conflicts.column_names:
            conflicts = conflicts.filter(pc.equal(conflicts.column("entity_type"),
                                                  self.entity_type))
        return conflicts if conflicts.num_rows else CONFLICTS.empty_table()

    def quality_counts(self) -> QualityCounts:
        """The run's department quality counts (taken over the master when an index
        written before they were kept has none)."""
        sums, days = self.folder / QUALITY_SUMS, self.folder / QUALITY_DAYS
        if sums.is_file() and days.is_file():
            return QualityCounts(read_arrow(sums), read_arrow(days))
        return quality_counts(self.full_records(), self.clusters, self.full_golden(),
                              fields=list(self.section.fields))

    def positions(self, record_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row positions of ``record_ids`` in ``records`` (-1 when absent)."""
        ranks = self.ranks(record_ids)
        if self.log is None:
            return ranks
        return np.where(ranks >= 0, self.log.rows[np.maximum(ranks, 0)], -1)

    def ranks(self, record_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Rows of ``record_ids`` among the live records in record-id order (the run
        folder's records table, :meth:`live`), -1 when absent; without parts, the same
        as :meth:`positions`."""
        pos = np.searchsorted(self.record_ids, record_ids).astype(np.int64)
        pos = np.minimum(pos, max(len(self.record_ids) - 1, 0))
        found = (self.record_ids[pos] == record_ids) if len(self.record_ids) else \
            np.zeros(len(record_ids), dtype=bool)
        return np.where(found, pos, -1)

    def rows_of_keys(self, table: pa.Table) -> npt.NDArray[np.int64]:
        """The row of the master record each of ``table``'s rows (source, source_key)
        names, -1 where none (hashed, looked up, then checked: a collision is no hit)."""
        h = source_key_hashes(table)
        lo, hi = self.source_keys.ranges(h)
        owner, pos = expand(lo, hi)
        rows = self.positions(np.asarray(self.source_keys.values[pos], dtype=np.int64))
        at = np.full(table.num_rows, -1, dtype=np.int64)
        if not len(rows):
            return at
        same = np.ones(len(rows), dtype=bool)
        for name in ("source", "source_key"):
            mine = pc.cast(table.column(name), pa.string()).take(pa.array(owner))
            theirs = pc.cast(self.records.column(name).take(pa.array(rows)), pa.string())
            same &= np.asarray(pc.fill_null(pc.equal(mine, theirs), False)
                               .to_numpy(zero_copy_only=False), dtype=bool)
        at[owner[same]] = rows[same]
        return at

    def candidates(self, queries: pa.Table) -> tuple[npt.NDArray[np.int64],
                                                     npt.NDArray[np.int64]]:
        """(query row, master record id) of every candidate pair the run's exact blocking
        passes would form between each standardised query record and the master: the
        blocks that share the query's key, skipped like the run skips them when the
        query would push them over ``max_block_size`` (split by sub keys first)."""
        found_q: list[npt.NDArray[np.int64]] = []
        found_r: list[npt.NDArray[np.int64]] = []
        for pk in self.keys.values():
            bp, keys, sub = pk.bp, pk.whole, pk.sub
            h, present = hash_strings(pass_keys(queries, bp))
            if self_cross(bp):
                parts = pk.cross_parts(flagged_rows(queries, bp), h, present)
                self._gather(parts, bp, queries, found_q, found_r)
                continue
            lo, hi = _usable(keys, h, present, bp.max_block_size)
            parts = [(np.arange(len(h), dtype=np.int64), keys, lo, hi)]
            all_lo, all_hi = keys.ranges(h)
            over = np.flatnonzero(present & ((all_hi - all_lo + 1) > bp.max_block_size))
            if len(over) and sub is not None:
                hs, ps = hash_strings(pass_keys(queries.take(pa.array(over)), refined_pass(bp)))
                slo, shi = _usable(sub, hs, ps, bp.max_block_size)
                parts.append((over, sub, slo, shi))
            self._gather(parts, bp, queries, found_q, found_r)
        if not found_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        q = np.concatenate(found_q)
        r = np.concatenate(found_r)
        width = np.int64(self.max_record_id + 2)
        packed = np.unique(q * width + r)
        return packed // width, packed % width

    def _gather(self, parts: list[tuple[npt.NDArray[np.int64], SortedKeys, npt.NDArray[np.int64],
                                        npt.NDArray[np.int64]]],
                bp: BlockingPass, queries: pa.Table, found_q: list[npt.NDArray[np.int64]],
                found_r: list[npt.NDArray[np.int64]]) -> None:
        """The (query row, record id) pairs of a pass's lookups (query rows, key file,
        [lo, hi) ranges), without same-source ones for a ``link_only`` pass."""
        for rows, table, a, b in parts:
            owner, pos = expand(a, b)
            q_rows, rids = rows[owner], table.values[pos]
            if bp.link_only and len(rids):
                q_src = np.asarray(queries.column("source").to_pylist(), dtype=object)
                r_src = np.asarray(self.records.column("source").take(
                    pa.array(self.positions(rids))).to_pylist(), dtype=object)
                keep = q_src[q_rows] != r_src
                q_rows, rids = q_rows[keep], rids[keep]
            found_q.append(q_rows)
            found_r.append(rids)

    def record_candidates(self, record: Mapping[str, Any]) -> npt.NDArray[np.int64]:
        """:meth:`candidates` of one standardised record given as a mapping (its columns
        as :func:`~linkage.standardisers.standardise_record` gives them, with ``source``):
        the sorted record ids of its candidates, each pass's key hashed in plain Python
        and looked up by binary search (no whole column is read)."""
        found: list[npt.NDArray[np.int64]] = []
        for pk in self.keys.values():
            bp, keys, sub = pk.bp, pk.whole, pk.sub
            key = record_key(record, bp)
            if key is None:
                continue
            h = hash_text(key)
            if self_cross(bp):
                ids = pk.cross_ids(flagged_record(record, bp), h)
            else:
                lo, hi = keys.run(h)
                ids = keys.values[lo:hi]
                if hi - lo + 1 > bp.max_block_size:
                    ids = keys.values[0:0]
                    sub_key = record_key(record, refined(bp)) if sub is not None else None
                    if sub is not None and sub_key is not None:
                        slo, shi = sub.run(hash_text(sub_key))
                        if shi - slo + 1 <= bp.max_block_size:
                            ids = sub.values[slo:shi]
            if bp.link_only and len(ids):
                src = self.records.column("source").take(pa.array(self.positions(ids)))
                ids = ids[np.asarray([v != record.get("source") for v in src.to_pylist()],
                                     dtype=bool)]
            found.append(ids)
        # a dozen ids: a set costs half of np.unique's calls
        return np.array(sorted({i for ids in found for i in ids.tolist()}), dtype=np.int64)

    def term_frequencies(self, values: pa.Array, name: str, *,
                         query: bool) -> npt.NDArray[np.float32]:
        """Share of records holding each of ``values`` among the master's (and, for the
        query's own values, the query, which a full run would also count), NaN for null."""
        keys, total = self.tf[name]
        h, present = hash_strings(values)
        counts = keys.count(h).astype(np.float64) + (1.0 if query else 0.0)
        share = counts / max(total + (1 if query else 0), 1)
        share[~present] = np.nan
        return np.asarray(share, dtype=np.float32)

    def entity_rows(self, entity_ids: pa.Array) -> list[tuple[
            EntityLayer, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """Where the golden records of ``entity_ids`` are: per layer, newest first, the
        positions in ``entity_ids`` it holds and their golden rows there (found by hash
        and checked). An id a later part retired, or that no layer holds, is in none."""
        want = entity_ids.cast(pa.string())
        h = hash_strings(want)[0]
        todo = np.ones(len(want), dtype=bool)
        out = []
        for layer in reversed(self.layers):
            rows = np.flatnonzero(todo)
            if not len(rows):
                break
            lo = np.searchsorted(layer.golden_hashes, h[rows], side="left").astype(np.int64)
            hi = np.searchsorted(layer.golden_hashes, h[rows], side="right").astype(np.int64)
            owner, pos = expand(lo, hi)
            if len(pos):
                names = layer.golden.column("entity_id").take(pa.array(pos))
                same = np.asarray(pc.fill_null(pc.equal(
                    names, want.take(pa.array(rows[owner]))), False)
                    .to_numpy(zero_copy_only=False), dtype=bool)
                out.append((layer, rows[owner[same]], pos[same]))
                todo[rows[owner[same]]] = False
            if layer.gone_ids is not None and len(layer.gone_ids):
                gone = np.asarray(pc.is_in(want, value_set=layer.gone_ids.cast(pa.string()))
                                  .to_numpy(zero_copy_only=False), dtype=bool)
                todo &= ~gone
        return out

    def golden_table(self, entity_ids: pa.Array) -> pa.Table:
        """The golden records of ``entity_ids`` (those the index holds), plain, without
        the index's own columns (:meth:`entity_rows`)."""
        shown = [c for c in self.layers[0].golden.column_names if c not in (HASH, ENDS)]
        found = [plain(layer.golden.select(shown).take(pa.array(rows)))
                 for layer, _, rows in self.entity_rows(entity_ids)]
        if not found:
            return plain(self.layers[0].golden.select(shown).slice(0, 0))
        return pa.concat_tables(found, promote_options="permissive")

    def golden_row(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's golden record as JSON values (None when the id is unknown)."""
        found = self._entity(entity_id)
        return found[0].golden_row(found[1]) if found is not None and found[1] is not None \
            else None

    def conflicts_of(self, entity_id: str) -> list[dict[str, Any]]:
        """The entity's open conflicts, as JSON values."""
        found = self._entity(entity_id)
        return found[0].conflicts_of(entity_id, found[1]) if found is not None else []

    def _entity(self, entity_id: str) -> tuple[EntityLayer, int | None] | None:
        """The newest layer holding the entity, and its golden row there (None: not
        found, or retired by a later part; a base whose conflicts are not in golden
        order answers for every entity, as it did before parts)."""
        for layer in reversed(self.layers):
            i = layer.find(entity_id)
            if i is not None or layer is self.layers[0]:
                return layer, i
            if layer.retires(entity_id):
                return None
        return None

    def candidate_rows(self, record_ids: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
        """The records of ``record_ids`` (present ones), with the columns comparing them
        reads and their source, key and entity id."""
        positions = self.positions(record_ids)
        positions = positions[positions >= 0]
        if self.log is None:
            return self._candidate_rows[0].rows(positions.tolist())
        rows = self._candidate_rows
        return [rows[j].row(i) for j, i in map(self.log.layer, positions.tolist())]

    @cached_property
    def _candidate_rows(self) -> list[Rows]:
        cols = list(dict.fromkeys([*read_columns(self.records.column_names,
                                                 self.section.comparisons),
                                   "source", "source_key", "entity_id"]))
        return [Rows(table.select(cols)) for table in self._record_layers]

    @property
    def _record_layers(self) -> list[pa.Table]:
        return self.record_layers or [self.records]

    def _record_reader(self, name: str) -> Callable[[int], Any] | None:
        """A reader of column ``name`` of the record with a given id (None when records
        have no such column)."""
        if name not in self.records.column_names:
            return None
        readers = [reader(one_chunk(t.column(name)), json=True) for t in self._record_layers]
        ids, log = self.record_ids, self.log
        if log is None:
            only = readers[0]
            return lambda rid: only(int(ids.searchsorted(rid)))

        def read(rid: int) -> Any:
            j, i = log.layer(int(log.rows[int(ids.searchsorted(rid))]))
            return readers[j](i)
        return read

    def member_ids(self, entity_id: str) -> npt.NDArray[np.int64]:
        """Record ids of the entity's members, ascending."""
        h = hash_strings(pa.array([entity_id]))[0]
        lo, hi = self.members.ranges(h)
        ids = np.sort(np.asarray(self.members.values[int(lo[0]):int(hi[0])], dtype=np.int64))
        if not len(ids):
            return ids
        rows = self.records.select(["entity_id"]).take(pa.array(self.positions(ids)))
        same = np.asarray(pc.equal(rows.column("entity_id"), entity_id).to_numpy(
            zero_copy_only=False), dtype=bool)
        return np.asarray(ids[same])


@dataclass
class MasterIndex:
    """A run's master index, opened memory-mapped; opening reads no source file."""

    run_dir: Path
    config: PipelineConfig
    types: dict[str, TypeIndex]

    @classmethod
    def open(cls, run_dir: str | Path) -> MasterIndex:
        run = Path(run_dir)
        folder = run / INDEX_DIR
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise MasterIndexError(f"{run}: no master index (index/manifest.json); build one with "
                              f"`linkage index {run}`")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") not in FORMATS:
            raise MasterIndexError(f"{run}: index format {manifest.get('format')!r} is not "
                              f"{FORMAT!r}; rebuild it with `linkage index {run}`")
        config = config_from(manifest["config"])
        types = {}
        for etype, entry in manifest["types"].items():
            section = config.entity(etype)
            assert section is not None
            types[etype] = TypeIndex.open(folder / etype, etype, section, entry)
        return cls(run, config, types)
