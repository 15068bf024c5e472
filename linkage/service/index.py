"""The master index: what a run leaves behind so one record can be resolved against it in
milliseconds, and a new batch linked against it without re-reading any source.

Layout (``<run>/index/``, Arrow IPC files opened memory-mapped, ``manifest.json`` last, so
its presence means the index is complete)::

    manifest.json                 format, the pipeline configuration, per-type counts
    <type>/records.arrow          by record_id, the columns a lookup reads: source, key,
                                  updated_at, the fields and the columns compared, the
                                  entity id and ``__content`` (a hash of the raw fields an
                                  incremental run compares a new version with)
    <type>/clusters.arrow         the Clusters rows (size, edges, density, ...) but the
                                  entity type and id, which records.arrow holds
    <type>/golden.arrow           golden records, sorted by the hash of the entity id,
                                  with where each one's conflicts end (``__conflicts``)
    <type>/conflicts.arrow        conflicts in the order of their golden records; their
                                  entity id and golden value are the golden record's, each
                                  candidate value's source, key and updated_at its
                                  record's (records.arrow), not stored again
    <type>/members.arrow          entity-id hash -> record id, sorted
    <type>/keys_<pass>.arrow      blocking-key hash -> record id, sorted, per exact pass
    <type>/keys_<pass>__sub.arrow the same on keys + sub keys (for split blocks)
    <type>/tf_<comparison>.arrow  value hash -> count, for term-frequency comparisons
    <type>/model.json             the fitted scoring model

Lookups are ``np.searchsorted`` over the sorted hash columns (see
:mod:`linkage.service.keys`), one record or a whole batch at once. Every file stays
uncompressed, so a lookup reads the mapped pages it needs and nothing else; text with
many repeats is dictionary-encoded instead (:func:`compact`), and record ids are 32-bit
when they fit. What only an incremental run reads (every standardised column of a
record, the scored pairs, the conflicts as a table) is read from the run folder itself
(:func:`~linkage.io.run_tables.read_run_table`), not kept twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from linkage.config import EntityConfig, PipelineConfig, pipeline_from_dict, to_dict
from linkage.errors import LinkageError
from linkage.io.outputs import write_json
from linkage.io.run_tables import read_run_table
from linkage.master.quality_counts import QualityCounts, quality_counts
from linkage.match.block import BlockingPass
from linkage.match.compare import read_columns
from linkage.match.score import FellegiSunter
from linkage.schemas import CONFLICTS
from linkage.service.keys import (
    content_hash,
    hash_strings,
    hash_text,
    pass_keys,
    record_key,
    refined_pass,
    resolvable,
)
from linkage.service.rows import Rows, jsonable, one_chunk, reader

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

log = logging.getLogger(__name__)

__all__ = [
    "INDEX_DIR",
    "MasterIndex",
    "MasterIndexError",
    "TypeIndex",
    "build_index",
    "jsonable",
    "write_index",
    "write_type_index",
]

INDEX_DIR = "index"
#: department quality as counts (:mod:`linkage.master.quality_counts`), which an
#: incremental run updates
QUALITY_SUMS, QUALITY_DAYS = "quality_sums.arrow", "quality_days.arrow"
FORMAT = "linkage.master_index/2"
_HASH = "__hash"
#: a hash of each record's raw field values and updated_at (:func:`content_columns`)
CONTENT = "__content"
#: a conflict candidate's columns that are its record's, taken from records.arrow
_FROM_RECORD = ("source", "source_key", "updated_at")
#: golden.arrow's column of where each entity's conflicts end in conflicts.arrow
_ENDS = "__conflicts"
#: a conflict's columns, and a conflict candidate's, in the conflicts table's order
_CONFLICT = tuple(CONFLICTS.names)
_CANDIDATE = tuple(f.name for f in CONFLICTS.field("candidates").type.value_type)
_KEY_SLAB = 1 << 18  # records whose blocking keys are formed at once


class MasterIndexError(LinkageError):
    """The run folder has no usable master index."""


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexUpdate:
    """How one entity type of a new run differs from the master index it updated, so its
    index is written by merging (only changed records' keys are hashed).

    ``removed``: record ids that left the master; ``added``: the new standardised records;
    ``regrouped``: record ids whose entity may have changed (the touched entities' kept
    records and the added ones); ``quality``: the department quality counts, updated."""

    base: TypeIndex
    removed: npt.NDArray[np.int64]
    added: pa.Table
    regrouped: npt.NDArray[np.int64]
    quality: QualityCounts | None = None


def write_index(result: PipelineResult, run_dir: str | Path, *,
                updates: Mapping[str, IndexUpdate] | None = None) -> Path:
    """Write the master index of a finished run into ``<run_dir>/index``. ``updates``
    (from an incremental run) lets each type's index be merged from the previous one."""
    out = Path(run_dir) / INDEX_DIR
    tmp = _fresh(out)
    counts: dict[str, Any] = {}
    with _spill_beside(tmp) as spill:
        for etype, entity in result.entities.items():
            section = result.config.entity(etype)
            assert section is not None
            records = _of_type(result.records, etype, spill)
            counts[etype] = write_type_index(tmp / etype, section, records, entity.clusters,
                                             entity.scored, entity.golden, entity.conflicts,
                                             entity.model,
                                             update=(updates or {}).get(etype))
    return _finish(tmp, out, result.config, counts)


@contextlib.contextmanager
def _spill_beside(folder: Path) -> Iterator[Path]:
    """A scratch folder beside ``folder`` for :func:`_mapped`, removed afterwards."""
    spill = folder.with_name(f"{folder.name}.spill")
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir()
    try:
        yield spill
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def build_index(run_dir: str | Path) -> Path:
    """Write the master index of an existing run folder from its outputs (records.parquet,
    pairs.parquet, golden_<type>.parquet, conflicts.parquet, model_<type>.json and the
    configuration saved in run.json)."""
    run = Path(run_dir)
    summary_path = run / "run.json"
    if not summary_path.is_file():
        raise MasterIndexError(f"{run}: no run.json (is it a complete run folder?)")
    config = _config_from(json.loads(summary_path.read_text(encoding="utf-8"))["config"])
    records_all = read_run_table(run, "records")
    pairs_all = read_run_table(run, "pairs")
    conflicts_all = read_run_table(run, "conflicts")
    out = run / INDEX_DIR
    tmp = _fresh(out)
    counts: dict[str, Any] = {}
    with _spill_beside(tmp) as spill:
        for etype in config.entity_types:
            section = config.entity(etype)
            assert section is not None
            records = _of_type(records_all, etype, spill)
            clusters = records.select(["record_id", "entity_type", "entity_id", "cluster_size"])
            pairs = pairs_all.filter(pc.equal(pairs_all.column("entity_type"), etype))
            conflicts = (conflicts_all.filter(pc.equal(conflicts_all.column("entity_type"),
                                                       etype))
                         if conflicts_all.num_rows else CONFLICTS.empty_table())
            golden = read_run_table(run, f"golden_{etype}")
            model = FellegiSunter.load(run / f"model_{etype}.json")
            counts[etype] = write_type_index(tmp / etype, section, records, clusters, pairs,
                                             golden, conflicts, model)
    return _finish(tmp, out, config, counts)


def write_type_index(
    folder: Path, section: EntityConfig, records: pa.Table, clusters: pa.Table,
    pairs: pa.Table, golden: pa.Table, conflicts: pa.Table, model: FellegiSunter,
    *, update: IndexUpdate | None = None,
) -> dict[str, Any]:
    """One entity type's part of the index; returns its manifest entry."""
    folder.mkdir(parents=True, exist_ok=True)
    with _spill_beside(folder) as spill:
        return _write_type_index(folder, spill, section, records, clusters, pairs, golden,
                                 conflicts, model, update)


def _write_type_index(
    folder: Path, spill: Path, section: EntityConfig, records: pa.Table, clusters: pa.Table,
    pairs: pa.Table, golden: pa.Table, conflicts: pa.Table, model: FellegiSunter,
    update: IndexUpdate | None,
) -> dict[str, Any]:
    records = _by_record_id(records, spill)
    if update is not None and tuple(update.base.section.blocking) != tuple(section.blocking):
        update = None  # other passes: every key is new
    _write(_lookup_records(records, section), folder / "records.arrow", spill)
    clusters = _by_record_id(clusters, spill)
    # read only whole, by an incremental run: compressed
    _write(clusters.drop_columns([c for c in ("entity_type", "entity_id")
                                  if c in clusters.column_names]),
           folder / "clusters.arrow", spill, compression="zstd")
    ids = records.column("record_id").combine_chunks()
    rid = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)
    # golden records and conflicts are written whole (a batch touches entities all over
    # the hash order; merging saved little once they are compacted anyway)
    golden = _by_entity_hash(golden, spill)
    conflicts, ends = _conflicts_by_golden(conflicts, golden, records, spill)
    if ends is not None:
        golden = golden.append_column(_ENDS, pa.array(ends, _id_type(ends)))
    _write(compact(golden, keep=("entity_id",), narrow=True), folder / "golden.arrow")
    _write(conflicts, folder / "conflicts.arrow")
    if update is None:
        _write_keys(hash_strings(records.column("entity_id"))[0],
                    np.ones(len(ids), dtype=bool), ids, folder / "members.arrow")
    else:
        base = update.base
        regrouped = records.take(pa.array(np.searchsorted(rid, update.regrouped)))
        _write_merged(base.members, *hash_strings(regrouped.column("entity_id")),
                      regrouped.column("record_id"), folder / "members.arrow",
                      drop=np.concatenate([update.removed, update.regrouped]))
    passes = []
    for bp in section.blocking:
        if not resolvable(bp):
            # expected (the shipped presets have cross-column passes): said, not warned
            log.info("index: blocking pass %r is not served by the resolver (%s)", bp.name,
                     "cross-column keys" if bp.keys_right else f"a {bp.kind} pass; only "
                     "exact ones are")
            continue
        variants = [(bp, f"keys_{bp.name}.arrow")]
        if bp.sub_keys:
            variants.append((refined_pass(bp), f"keys_{bp.name}__sub.arrow"))
        for i, (variant, name) in enumerate(variants):
            if update is None or bp.name not in update.base.keys:
                h, present = _hashed_keys(records, variant)
                _write_keys(h, present, ids, folder / name)
                continue
            _, whole, sub = update.base.keys[bp.name]
            old = whole if i == 0 else sub
            assert old is not None
            h, present = hash_strings(pass_keys(update.added, variant))
            _write_merged(old, h, present, update.added.column("record_id"),
                          folder / name, drop=update.removed)
        passes.append(bp.name)
    tf: dict[str, int] = {}
    for comp in section.comparisons:
        if not comp.term_frequency:
            continue
        if update is None:
            h, present = hash_strings(records.column(comp.field))
            values, counts = np.unique(h[present], return_counts=True)
            tf[comp.name] = int(present.sum())
        else:
            old_tf, total = update.base.tf[comp.name]
            values, counts, change = _merge_counts(old_tf, *_tf_delta(update, comp.field))
            tf[comp.name] = total + change
        _write(pa.table({_HASH: pa.array(values, pa.uint64()),
                         "count": pa.array(counts.astype(np.int64))}),
               folder / f"tf_{comp.name}.arrow")
    quality = update.quality if update is not None else None
    if quality is None:
        quality = quality_counts(records, clusters, golden, fields=list(section.fields))
    _write(quality.sums, folder / QUALITY_SUMS)
    _write(quality.days, folder / QUALITY_DAYS)
    model.save(folder / "model.json")
    max_id = int(rid.max()) if len(rid) else -1
    return {"records": records.num_rows, "entities": golden.num_rows, "passes": passes,
            "tf_totals": tf, "max_record_id": max_id}


def content_columns(table: pa.Table, fields: list[str], *, raw: bool) -> list[pa.ChunkedArray]:
    """The values a record's content hash is taken over: each field as the department
    gave it (``<field>__raw`` of a standardised record, ``raw``; the field itself of a
    source row) and updated_at; a column the table lacks counts as null."""
    names = [f"{f}__raw" if raw else f for f in fields] + ["updated_at"]
    n = table.num_rows
    return [table.column(c) if c in table.column_names
            else pa.chunked_array([pa.nulls(n, pa.string())]) for c in names]


def _lookup_records(records: pa.Table, section: EntityConfig) -> pa.Table:
    """The columns of a type's records a lookup reads (see the layout above), compacted,
    with the content hash appended."""
    compared = read_columns(records.column_names, section.comparisons)
    wanted = {"record_id", "source", "source_key", "updated_at", "entity_id",
              *section.fields, *compared}
    slim = records.select([c for c in records.column_names if c in wanted])
    content = content_hash(content_columns(records, list(section.fields), raw=True))
    slim = slim.append_column(CONTENT, pa.array(content, pa.uint64()))
    # entity ids and keys stay plain (matched with compute kernels), and so do the
    # compared columns: a lookup takes its candidates' rows of them in one call, which
    # decoding dictionaries would more than double
    return compact(slim, keep=("entity_id", "source_key", *compared))


def _conflicts_by_golden(conflicts: pa.Table, golden: pa.Table, records: pa.Table,
                         spill: Path) -> tuple[pa.Table, npt.NDArray[np.int64] | None]:
    """Conflicts for conflicts.arrow: in the order of ``golden`` (sorted by entity hash),
    without the entity id and (when every one is the golden record's) the golden value,
    and the end of each golden record's conflicts. Conflicts of an entity without a
    golden record (none in a run's tables) keep the layout of entity hashes instead."""
    at = pc.index_in(conflicts.column("entity_id"), value_set=golden.column("entity_id"))
    if at.null_count:
        return _compact_conflicts(_by_entity_hash(conflicts, spill), records), None
    rows = np.asarray(at.to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ends = np.cumsum(np.bincount(rows, minlength=golden.num_rows)).astype(np.int64)
    table = _mapped(conflicts, order, spill)
    rows = rows[order]
    drop = ["entity_id", *(["golden_value"] if _golden_values_hold(table, golden, rows)
                           else [])]
    return _compact_conflicts(table.drop_columns(drop), records), ends


def _golden_values_hold(conflicts: pa.Table, golden: pa.Table,
                        rows: npt.NDArray[np.int64]) -> bool:
    """Whether each conflict's golden value is its golden record's value of its field."""
    if "golden_value" not in conflicts.column_names:
        return False
    fields = np.asarray(conflicts.column("field").to_numpy(zero_copy_only=False), dtype=object)
    given = conflicts.column("golden_value")
    for name in np.unique(fields).tolist():
        if name not in golden.column_names:
            return False
        mask = fields == name
        mine = pc.fill_null(pc.cast(given.filter(pa.array(mask)), pa.string()), "\x00null")
        theirs = pc.fill_null(pc.cast(golden.column(name).take(pa.array(rows[mask])),
                                      pa.string()), "\x00null")
        if not pc.all(pc.equal(mine, theirs)).as_py():
            return False
    return True


def _compact_conflicts(conflicts: pa.Table, records: pa.Table) -> pa.Table:
    """Conflicts compacted, their candidates without the columns that are their records'
    (:data:`_FROM_RECORD`) when every candidate's are, and with each value that is its
    record's value of the field left out (as ``__value``, null for those)."""
    candidates = conflicts.column("candidates").combine_chunks()
    values = candidates.values if len(candidates) else None
    pos = (_record_positions(values, records)
           if values is not None and not candidates.null_count else None)
    if values is None or pos is None:
        return compact(conflicts, keep=(_HASH,), narrow=True)
    children = {values.type.field(k).name: values.field(k)
                for k in range(values.type.num_fields)
                if values.type.field(k).name not in _FROM_RECORD}
    own = _own_values(children.get("value"), conflicts, candidates, records, pos)
    if own is not None:
        children = {("__value" if n == "value" else n): (own if n == "value" else c)
                    for n, c in children.items()}
    slim = pa.StructArray.from_arrays(list(children.values()), names=list(children))
    candidates = pa.ListArray.from_arrays(candidates.offsets, slim)
    conflicts = conflicts.set_column(conflicts.column_names.index("candidates"),
                                     "candidates", candidates)
    return compact(conflicts, keep=(_HASH,), narrow=True)


def _record_positions(values: pa.StructArray, records: pa.Table
                      ) -> npt.NDArray[np.int64] | None:
    """Each candidate's row in ``records`` when every candidate's source, key and
    updated_at are those of its record (None otherwise)."""
    names = [values.type.field(k).name for k in range(values.type.num_fields)]
    if "record_id" not in names or not all(c in names for c in _FROM_RECORD) \
            or values.null_count or values.offset:
        return None
    rid = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    cand = values.field("record_id")
    if cand.null_count or not len(rid):
        return None
    wanted = np.asarray(cand.to_numpy(), dtype=np.int64)
    pos = np.minimum(np.searchsorted(rid, wanted), len(rid) - 1)
    if not bool((rid[pos] == wanted).all()):
        return None
    taken = pa.array(pos)
    for name in _FROM_RECORD:
        mine = values.field(name)
        theirs = records.column(name).take(taken).combine_chunks().cast(mine.type)
        if not mine.equals(theirs):
            return None
    return pos


def _own_values(value: pa.Array | None, conflicts: pa.Table, candidates: pa.ListArray,
                records: pa.Table, pos: npt.NDArray[np.int64]) -> pa.Array | None:
    """The candidates' values with those equal to their record's value of the conflict's
    field made null (None when some other value is null itself, or a field is not in
    ``records``)."""
    if value is None or not pa.types.is_string(value.type):
        return None
    parent = np.asarray(pc.list_parent_indices(candidates).to_numpy(), dtype=np.int64)
    fields = np.asarray(conflicts.column("field").combine_chunks().take(pa.array(parent))
                        .to_numpy(zero_copy_only=False), dtype=object)
    same = np.zeros(len(value), dtype=bool)
    for name in np.unique(fields).tolist():
        if name not in records.column_names:
            return None
        mask = fields == name
        mine = pc.fill_null(value.filter(pa.array(mask)), "\x00null")
        theirs = pc.fill_null(pc.cast(records.column(name).take(pa.array(pos[mask])),
                                      pa.string()), "\x00null")
        same[mask] = np.asarray(pc.equal(mine, theirs).to_numpy(zero_copy_only=False),
                                dtype=bool)
    if bool((~same & ~np.asarray(value.is_valid().to_numpy(zero_copy_only=False),
                                  dtype=bool)).any()):
        return None
    return pc.if_else(pa.array(same), pa.nulls(len(value), pa.string()), value)


def compact(table: pa.Table, *, keep: tuple[str, ...] = (), narrow: bool = False
            ) -> pa.Table:
    """``table`` with each string column (also inside lists and structs) that repeats
    its values enough dictionary-encoded, and (``narrow``) 64-bit integers that fit in
    32 bits narrowed, but the columns ``keep``. The values read back are the same; only
    the bytes on disk change (a table only ever read row by row, as JSON, is narrowed)."""
    for i, name in enumerate(table.column_names):
        if name in keep:
            continue
        column = table.column(i)
        packed = _compact_array(column.combine_chunks(), narrow)
        if packed.type != column.type:
            table = table.set_column(i, name, packed)
    return table


def _compact_array(arr: pa.Array, narrow: bool) -> pa.Array:
    kind = arr.type
    if narrow and pa.types.is_int64(kind) and len(arr):
        low, high = pc.min_max(arr).values()
        fits = low.as_py() is None or (low.as_py() >= -(1 << 31) and high.as_py() < 1 << 31)
        return arr.cast(pa.int32()) if fits else arr
    if pa.types.is_string(kind):
        encoded = pc.dictionary_encode(arr)
        size = len(encoded.dictionary)
        index = pa.int8() if size < 1 << 7 else pa.int16() if size < 1 << 15 else pa.int32()
        encoded = encoded.cast(pa.dictionary(index, pa.string()))
        return encoded if encoded.nbytes < 0.75 * arr.nbytes else arr
    if pa.types.is_list(kind) and arr.offset == 0:
        assert isinstance(arr, pa.ListArray)
        inner = _compact_array(arr.values, narrow)
        if inner.type == arr.values.type:
            return arr
        return pa.ListArray.from_arrays(arr.offsets, inner,
                                        mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_struct(kind) and arr.offset == 0 and not arr.null_count:
        assert isinstance(arr, pa.StructArray)
        children = [_compact_array(arr.field(k), narrow) for k in range(kind.num_fields)]
        if all(c.type == arr.field(k).type for k, c in enumerate(children)):
            return arr
        return pa.StructArray.from_arrays(
            children, fields=[pa.field(kind.field(k).name, c.type)
                              for k, c in enumerate(children)])
    return arr


def plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary-encoded columns decoded (as a run's tables have them)."""
    if not any(pa.types.is_dictionary(f.type) for f in table.schema):
        return table
    return table.cast(pa.schema([pa.field(f.name, f.type.value_type) if
                                 pa.types.is_dictionary(f.type) else f for f in table.schema]))


def _id_type(values: npt.NDArray[np.int64]) -> pa.DataType:
    """int32 for record ids that fit (half the bytes of a key file's id column)."""
    return pa.int32() if not len(values) or int(values.max()) < 1 << 31 else pa.int64()


def _by_record_id(table: pa.Table, spill: Path) -> pa.Table:
    """``table`` in record-id order (left as it is when it already is)."""
    ids = np.asarray(table.column("record_id").to_numpy(), dtype=np.int64)
    if len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all()):
        return table
    return _mapped(table, np.argsort(ids, kind="stable"), spill)


def _of_type(records: pa.Table, etype: str, spill: Path) -> pa.Table:
    """The records of one entity type, in their order."""
    is_type = pc.equal(records.column("entity_type"), etype)
    rows = np.flatnonzero(np.asarray(is_type.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rows) == records.num_rows:
        return records
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return records.slice(int(rows[0]), len(rows))
    return _mapped(records, rows, spill)


def _mapped(table: pa.Table, rows: npt.NDArray[np.int64] | None, spill: Path) -> pa.Table:
    """``table``'s ``rows`` (all, when None) with each column as one chunk, built one
    column at a time into a file of ``spill`` and read back memory-mapped: a large run's
    index is written with one column in the process's own memory, not the whole table
    (the mapped pages are the page cache's, which the kernel can drop)."""
    columns = []
    taken = None if rows is None else pa.array(rows, pa.int64())
    for i, name in enumerate(table.column_names):
        column = table.column(name)
        if taken is not None:
            column = column.take(taken)
        elif column.num_chunks == 1:
            columns.append(column)
            continue
        single = pa.table({name: column.combine_chunks()})
        path = spill / f"{len(list(spill.iterdir()))}-{i}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, single.schema) as writer:
            writer.write_table(single)
        del single, column
        columns.append(_read(path).column(0))
    return pa.table(columns, schema=table.schema)


def _hashed_keys(records: pa.Table, bp: BlockingPass) -> tuple[npt.NDArray[np.uint64],
                                                               npt.NDArray[np.bool_]]:
    """:func:`hash_strings` of every record's key for ``bp``, formed a slab of records at
    a time (a pass's keys of ten million records are gigabytes of text)."""
    parts = [hash_strings(pass_keys(records.slice(lo, _KEY_SLAB), bp))
             for lo in range(0, records.num_rows, _KEY_SLAB)]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, bool)
    return np.concatenate([h for h, _ in parts]), np.concatenate([p for _, p in parts])


def _write_merged(old: SortedKeys, h: npt.NDArray[np.uint64], present: npt.NDArray[np.bool_],
                  ids: pa.Array | pa.ChunkedArray, path: Path, *,
                  drop: npt.NDArray[np.int64]) -> None:
    """A sorted (hash, record id) file: ``old``'s rows but those of ``drop``, and the
    given new ones, merged in hash order."""
    keep = ~np.isin(old.values, drop)
    flat = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    new_ids = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.int64)[present]
    new_h = h[present]
    order = np.argsort(new_h, kind="stable")
    new_h, new_ids = new_h[order], new_ids[order]
    old_h, old_ids = old.hashes[keep], old.values[keep]
    at = np.searchsorted(old_h, new_h, side="right")
    merged = np.insert(old_ids.astype(np.int64), at, new_ids)
    _write(pa.table({_HASH: pa.array(np.insert(old_h, at, new_h), pa.uint64()),
                     "record_id": pa.array(merged, _id_type(merged))}), path)


def _tf_delta(update: IndexUpdate, field: str) -> tuple[npt.NDArray[np.uint64],
                                                          npt.NDArray[np.int64]]:
    """Value hashes whose counts change, and by how much (+1 added, -1 removed)."""
    removed = plain(update.base.records.select([field]).take(
        pa.array(update.base.positions(update.removed)))).column(field)
    h_add, p_add = hash_strings(update.added.column(field))
    h_rem, p_rem = hash_strings(removed)
    return (np.concatenate([h_add[p_add], h_rem[p_rem]]),
            np.concatenate([np.ones(int(p_add.sum()), dtype=np.int64),
                            -np.ones(int(p_rem.sum()), dtype=np.int64)]))


def _merge_counts(old: SortedKeys, h: npt.NDArray[np.uint64],
                  delta: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.uint64],
                                                         npt.NDArray[np.int64], int]:
    """``old``'s counts changed by ``delta`` per hash; values whose count drops to 0 go."""
    hashes = np.concatenate([old.hashes, h])
    counts = np.concatenate([old.values, delta])
    values, inverse = np.unique(hashes, return_inverse=True)
    total = np.bincount(inverse, weights=counts, minlength=len(values)).astype(np.int64)
    alive = total > 0
    return values[alive], total[alive], int(delta.sum())


def _fresh(out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _finish(tmp: Path, out: Path, config: PipelineConfig, counts: Mapping[str, Any]) -> Path:
    write_json({"format": FORMAT, "types": counts, "config": to_dict(config)},
               tmp / "manifest.json")
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    log.info("index: written to %s (%s)", out, ", ".join(
        f"{t}: {c['records']} records" for t, c in counts.items()))
    return out


def _config_from(data: Mapping[str, Any]) -> PipelineConfig:
    base = Path(str(data.get("base_dir", ".")))
    return pipeline_from_dict({k: v for k, v in data.items() if k != "base_dir"},
                              base_dir=base, origin="the run's saved configuration")


def _write(table: pa.Table, path: Path, spill: Path | None = None, *,
           compression: str | None = None) -> None:
    """One record batch (the resolver reads each column as one array, without a copy);
    given ``spill``, a table of many chunks is made one through it (:func:`_mapped`)."""
    if spill is not None and any(c.num_chunks > 1 for c in table.columns):
        table = _mapped(table, None, spill)
    options = ipc.IpcWriteOptions(compression=compression)
    with pa.OSFile(str(path), "wb") as sink, \
            ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table.combine_chunks())


def _write_keys(h: npt.NDArray[np.uint64], present: npt.NDArray[np.bool_],
                ids: pa.Array, path: Path) -> None:
    rid = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)[present]
    hv = h[present]
    order = np.argsort(hv, kind="stable")
    _write(pa.table({_HASH: pa.array(hv[order], pa.uint64()),
                     "record_id": pa.array(rid[order], _id_type(rid))}), path)


def _by_entity_hash(table: pa.Table, spill: Path) -> pa.Table:
    h, _ = hash_strings(table.column("entity_id")) if table.num_rows else (
        np.zeros(0, np.uint64), None)
    order = np.argsort(h, kind="stable")
    return _mapped(table.append_column(_HASH, pa.array(h, pa.uint64())), order, spill)


# --- reading --------------------------------------------------------------------------------


def _read(path: Path) -> pa.Table:
    """A memory-mapped Arrow IPC file (its buffers are the file's pages, read on use)."""
    source = pa.memory_map(str(path), "r")
    return ipc.open_file(source).read_all()


@dataclass(frozen=True)
class SortedKeys:
    """A sorted hash column and the value each hash maps to (record ids, counts)."""

    hashes: npt.NDArray[np.uint64]
    values: npt.NDArray[np.int64]

    @classmethod
    def open(cls, path: Path, value: str) -> SortedKeys:
        table = _read(path)
        return cls(_np(table.column(_HASH)), _np(table.column(value)))

    def ranges(self, h: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64],
                                                         npt.NDArray[np.int64]]:
        """[start, end) of each hash's run."""
        lo = np.searchsorted(self.hashes, h, side="left").astype(np.int64)
        hi = np.searchsorted(self.hashes, h, side="right").astype(np.int64)
        return lo, hi

    def count(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        lo, hi = self.ranges(h)
        found = hi > lo
        out = np.zeros(len(h), dtype=np.int64)
        out[found] = self.values[lo[found]]
        return out


def _np(column: pa.ChunkedArray | pa.Array) -> Any:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.to_numpy(zero_copy_only=True) if arr.null_count == 0 else np.asarray(
        arr.to_numpy(zero_copy_only=False))


def _usable(keys: SortedKeys, h: npt.NDArray[np.uint64], present: npt.NDArray[np.bool_],
            cap: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each hash's run in ``keys``, empty when the key is missing or the block, with the
    query in it, would exceed ``cap`` (the run skips such blocks)."""
    lo, hi = keys.ranges(h)
    drop = ~present | ((hi - lo + 1) > cap)
    lo[drop] = 0
    hi[drop] = 0
    return lo, hi


def expand(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For ranges [lo, hi): (which range, position) of every element, in order."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    pos = np.repeat(lo, counts) + (np.arange(int(counts.sum()), dtype=np.int64)
                                   - np.repeat(first, counts))
    return owner, pos


@dataclass
class TypeIndex:
    """One entity type of a master index, memory-mapped."""

    entity_type: str
    section: EntityConfig
    model: FellegiSunter
    records: pa.Table
    record_ids: npt.NDArray[np.int64]
    golden: pa.Table
    golden_hashes: npt.NDArray[np.uint64]
    conflict_table: pa.Table
    conflict_hashes: npt.NDArray[np.uint64] | None  # None: in golden order (``_ENDS``)
    conflict_ends: npt.NDArray[np.int64] | None
    members: SortedKeys
    keys: dict[str, tuple[BlockingPass, SortedKeys, SortedKeys | None]]
    tf: dict[str, tuple[SortedKeys, int]]
    max_record_id: int
    folder: Path

    @classmethod
    def open(cls, folder: Path, etype: str, section: EntityConfig,
             entry: Mapping[str, Any]) -> TypeIndex:
        records = _read(folder / "records.arrow")
        golden = _read(folder / "golden.arrow")
        conflicts = _read(folder / "conflicts.arrow")
        keys: dict[str, tuple[BlockingPass, SortedKeys, SortedKeys | None]] = {}
        for bp in section.blocking:
            if bp.name not in entry["passes"]:
                continue
            sub = folder / f"keys_{bp.name}__sub.arrow"
            keys[bp.name] = (bp, SortedKeys.open(folder / f"keys_{bp.name}.arrow", "record_id"),
                             SortedKeys.open(sub, "record_id") if sub.is_file() else None)
        tf = {name: (SortedKeys.open(folder / f"tf_{name}.arrow", "count"), int(total))
              for name, total in entry["tf_totals"].items()}
        return cls(
            entity_type=etype, section=section,
            model=FellegiSunter.load(folder / "model.json"),
            records=records, record_ids=_np(records.column("record_id")),
            golden=golden, golden_hashes=_np(golden.column(_HASH)),
            conflict_table=conflicts,
            conflict_hashes=(_np(conflicts.column(_HASH)) if _HASH in conflicts.column_names
                             else None),
            conflict_ends=(np.asarray(_np(golden.column(_ENDS)), dtype=np.int64)
                           if _ENDS in golden.column_names else None),
            members=SortedKeys.open(folder / "members.arrow", "record_id"),
            keys=keys, tf=tf, max_record_id=int(entry["max_record_id"]), folder=folder)

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

    @cached_property
    def clusters(self) -> pa.Table:
        """The Clusters rows of this type (entity type and id joined back on)."""
        stored = _read(self.folder / "clusters.arrow")
        n = stored.num_rows
        etype = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                               pa.array([self.entity_type])).cast(pa.string())
        columns = {"record_id": stored.column("record_id"), "entity_type": etype,
                   "entity_id": self.records.column("entity_id")}
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
            return QualityCounts(_read(sums), _read(days))
        return quality_counts(self.full_records(), self.clusters, self.full_golden(),
                              fields=list(self.section.fields))

    def positions(self, record_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Row positions of ``record_ids`` in ``records`` (-1 when absent)."""
        pos = np.searchsorted(self.record_ids, record_ids).astype(np.int64)
        pos = np.minimum(pos, max(len(self.record_ids) - 1, 0))
        found = (self.record_ids[pos] == record_ids) if len(self.record_ids) else \
            np.zeros(len(record_ids), dtype=bool)
        return np.where(found, pos, -1)

    def candidates(self, queries: pa.Table) -> tuple[npt.NDArray[np.int64],
                                                     npt.NDArray[np.int64]]:
        """(query row, master record id) of every candidate pair the run's exact blocking
        passes would form between each standardised query record and the master: the
        blocks that share the query's key, skipped like the run skips them when the
        query would push them over ``max_block_size`` (split by sub keys first)."""
        found_q: list[npt.NDArray[np.int64]] = []
        found_r: list[npt.NDArray[np.int64]] = []
        for bp, keys, sub in self.keys.values():
            h, present = hash_strings(pass_keys(queries, bp))
            lo, hi = _usable(keys, h, present, bp.max_block_size)
            parts = [(np.arange(len(h), dtype=np.int64), keys, lo, hi)]
            all_lo, all_hi = keys.ranges(h)
            over = np.flatnonzero(present & ((all_hi - all_lo + 1) > bp.max_block_size))
            if len(over) and sub is not None:
                hs, ps = hash_strings(pass_keys(queries.take(pa.array(over)), refined_pass(bp)))
                slo, shi = _usable(sub, hs, ps, bp.max_block_size)
                parts.append((over, sub, slo, shi))
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
        if not found_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        q = np.concatenate(found_q)
        r = np.concatenate(found_r)
        width = np.int64(self.max_record_id + 2)
        packed = np.unique(q * width + r)
        return packed // width, packed % width

    def record_candidates(self, record: Mapping[str, Any]) -> npt.NDArray[np.int64]:
        """:meth:`candidates` of one standardised record given as a mapping (its columns
        as :func:`~linkage.standardisers.standardise_record` gives them, with ``source``):
        the sorted record ids of its candidates, each pass's key hashed in plain Python
        and looked up with two binary searches (no whole column is read)."""
        found: list[npt.NDArray[np.int64]] = []
        for bp, keys, sub in self.keys.values():
            key = record_key(record, bp)
            if key is None:
                continue
            h = np.uint64(hash_text(key))
            lo = int(keys.hashes.searchsorted(h, side="left"))
            hi = int(keys.hashes.searchsorted(h, side="right"))
            ids = keys.values[lo:hi]
            if hi - lo + 1 > bp.max_block_size:
                ids = keys.values[0:0]
                sub_key = record_key(record, refined_pass(bp)) if sub is not None else None
                if sub is not None and sub_key is not None:
                    hs = np.uint64(hash_text(sub_key))
                    slo = int(sub.hashes.searchsorted(hs, side="left"))
                    shi = int(sub.hashes.searchsorted(hs, side="right"))
                    if shi - slo + 1 <= bp.max_block_size:
                        ids = sub.values[slo:shi]
            if bp.link_only and len(ids):
                src = self.records.column("source").take(pa.array(self.positions(ids)))
                ids = ids[np.asarray([v != record.get("source") for v in src.to_pylist()],
                                     dtype=bool)]
            found.append(ids)
        if not found:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate(found)).astype(np.int64)

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

    def golden_row(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's golden record as JSON values (None when the id is unknown)."""
        rows = self._golden_rows
        for i in self._entity_range(self.golden_hashes, entity_id):
            if rows.value(i, "entity_id") == entity_id:
                return rows.row(i)
        return None

    def conflicts_of(self, entity_id: str) -> list[dict[str, Any]]:
        """The entity's open conflicts, as JSON values."""
        rows = self._conflict_rows
        if self.conflict_hashes is not None:
            return [rows.row(i) for i in self._entity_range(self.conflict_hashes, entity_id)
                    if rows.value(i, "entity_id") == entity_id]
        assert self.conflict_ends is not None
        golden = self._golden_rows
        for i in self._entity_range(self.golden_hashes, entity_id):
            if golden.value(i, "entity_id") != entity_id:
                continue
            ends = self.conflict_ends
            found = []
            for k in range(int(ends[i - 1]) if i else 0, int(ends[i])):
                row = rows.row(k)
                row["entity_id"] = entity_id
                if "golden_value" not in row:
                    row["golden_value"] = golden.value(i, row["field"])
                found.append({**{n: row[n] for n in _CONFLICT if n in row}, **row})
            return found
        return []

    def candidate_rows(self, record_ids: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
        """The records of ``record_ids`` (present ones), with the columns comparing them
        reads and their source, key and entity id."""
        positions = self.positions(record_ids)
        return self._candidate_rows.rows(positions[positions >= 0].tolist())

    @staticmethod
    def _entity_range(hashes: npt.NDArray[np.uint64], entity_id: str) -> range:
        h = np.uint64(hash_text(entity_id))
        return range(int(hashes.searchsorted(h, side="left")),
                     int(hashes.searchsorted(h, side="right")))

    @cached_property
    def _golden_rows(self) -> Rows:
        return Rows(self.golden, json=True, skip=(_HASH, _ENDS))

    @cached_property
    def _conflict_rows(self) -> Rows:
        candidates = one_chunk(self.conflict_table.column("candidates"))
        kind = candidates.type.value_type
        if kind.get_field_index("source") >= 0:  # stored whole
            return Rows(self.conflict_table, json=True, skip=_HASH)
        return Rows(self.conflict_table, json=True, skip=_HASH,
                    readers={"candidates": self._candidates_reader(candidates)})

    def _candidates_reader(self, candidates: pa.ListArray) -> Callable[[int], Any]:
        """A conflict's candidates as JSON values, each one's source, key and updated_at
        read from its record (found by record id in records.arrow), and its value too
        when the index left it out (``__value`` null: the record's value of the field)."""
        struct = candidates.values
        stored = {struct.type.field(k).name: reader(struct.field(k), json=True)
                  for k in range(struct.type.num_fields)}
        mine = {name: reader(one_chunk(self.records.column(name)), json=True)
                for name in _FROM_RECORD}
        record_id = stored["record_id"]
        own_value = stored.get("__value")
        field = reader(one_chunk(self.conflict_table.column("field")), json=True)
        fields = {name: reader(one_chunk(self.records.column(name)), json=True)
                  for name in self.section.fields if name in self.records.column_names}
        ids = self.record_ids
        starts = memoryview(candidates.offsets.buffers()[1]).cast("i")
        first = candidates.offsets.offset
        names = [(name, stored.get(name), mine.get(name)) for name in _CANDIDATE]

        def read(i: int) -> list[dict[str, Any]]:
            found = []
            of_field = fields.get(field(i)) if own_value is not None else None
            for k in range(starts[first + i], starts[first + i + 1]):
                at = int(ids.searchsorted(record_id(k)))
                candidate = {name: own(k) if own is not None else
                             theirs(at) if theirs is not None else None
                             for name, own, theirs in names}
                if own_value is not None:
                    value = own_value(k)
                    candidate["value"] = value if value is not None or of_field is None \
                        else of_field(at)
                found.append(candidate)
            return found
        return read

    @cached_property
    def _candidate_rows(self) -> Rows:
        cols = read_columns(self.records.column_names, self.section.comparisons)
        return Rows(self.records.select(list(dict.fromkeys(
            [*cols, "source", "source_key", "entity_id"]))))

    def member_ids(self, entity_id: str) -> npt.NDArray[np.int64]:
        """Record ids of the entity's members."""
        h = hash_strings(pa.array([entity_id]))[0]
        lo, hi = self.members.ranges(h)
        ids = self.members.values[int(lo[0]):int(hi[0])]
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
        if manifest.get("format") != FORMAT:
            raise MasterIndexError(f"{run}: index format {manifest.get('format')!r} is not "
                              f"{FORMAT!r}; rebuild it with `linkage index {run}`")
        config = _config_from(manifest["config"])
        types = {}
        for etype, entry in manifest["types"].items():
            section = config.entity(etype)
            assert section is not None
            types[etype] = TypeIndex.open(folder / etype, etype, section, entry)
        return cls(run, config, types)
