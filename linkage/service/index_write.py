"""Writing the master index (:mod:`linkage.service.index`): every run writes it beside
its outputs (:func:`write_index`), ``linkage index`` builds it from an existing run folder
(:func:`build_index`), and an incremental run merges the previous one with what changed
(:class:`IndexUpdate`) instead of hashing every record's keys again. Kept apart from the
reader, which a resolver or the HTTP service opens without any of this."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import EntityConfig, PipelineConfig, to_dict
from linkage.io.outputs import write_json
from linkage.io.run_tables import read_run_table
from linkage.master.quality_counts import QualityCounts, quality_counts
from linkage.match.block import BlockingPass
from linkage.match.compare import read_columns
from linkage.match.score import FellegiSunter
from linkage.schemas import CONFLICTS
from linkage.service.index import (
    FORMAT,
    INDEX_DIR,
    NOT_STORED,
    QUALITY_DAYS,
    QUALITY_SUMS,
    SOURCE_KEYS,
    MasterIndexError,
    SortedKeys,
    TypeIndex,
    config_from,
    source_key_hashes,
)
from linkage.service.index_build import (
    content_columns,
    content_of,
    fresh_folder,
    spill_beside,
    unpacked,
    unpacked_schema,
    updated_tf,
    write_keys,
    write_tf,
)
from linkage.service.index_files import key_files
from linkage.service.index_log import MAX_INDEX_PARTS
from linkage.service.index_tables import (
    CONTENT,
    ENDS,
    HASH,
    by_entity_hash,
    compact,
    conflicts_by_golden,
    id_type,
    mapped,
    write_arrow,
)
from linkage.service.keys import (
    flagged_rows,
    hash_strings,
    pass_keys,
    resolvable,
)

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

log = logging.getLogger(__name__)

__all__ = ["IndexUpdate", "build_index", "content_columns", "write_index", "write_type_index"]

_KEY_SLAB = 1 << 18  # records whose blocking keys are formed at once


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
    #: the touched entities' previous ids and their ids now: only their golden records
    #: and conflicts are laid out again (None: both tables are written whole)
    entities: tuple[pa.Array, pa.Array] | None = None
    #: the rows the index gains: of the regrouped records (standardised, with entity id
    #: and cluster size; the added records' with their raw fields), their Clusters rows,
    #: the touched entities' golden records and conflicts now. Given them all, the index
    #: is written as a part on the previous one (:mod:`linkage.service.index_parts`)
    #: from these alone
    records: pa.Table | None = None
    clusters: pa.Table | None = None
    golden: pa.Table | None = None
    conflicts: pa.Table | None = None


def write_index(result: PipelineResult, run_dir: str | Path, *,
                updates: Mapping[str, IndexUpdate] | None = None) -> Path:
    """Write the master index of a finished run into ``<run_dir>/index``. ``updates``
    (from an incremental run) lets each type's index be merged from the previous one."""
    from linkage.service.index_parts import NotLoggedError, compact_index, loggable, write_part

    out = Path(run_dir) / INDEX_DIR
    tmp = fresh_folder(out)
    counts: dict[str, Any] = {}
    with spill_beside(tmp) as spill:
        for etype, entity in result.entities.items():
            section = result.config.entity(etype)
            assert section is not None
            update = (updates or {}).get(etype)
            if update is not None and loggable(update, section):
                try:  # the previous index linked, the night's changes as a part
                    counts[etype] = write_part(tmp / etype, section, entity.model, update,
                                               spill)
                    continue
                except NotLoggedError as exc:
                    log.info("index: %s written whole (%s)", etype, exc)
                    shutil.rmtree(tmp / etype, ignore_errors=True)
            records = _of_type(result.records, etype, spill)
            counts[etype] = write_type_index(tmp / etype, section, records, entity.clusters,
                                             entity.scored, entity.golden, entity.conflicts,
                                             entity.model, update=update)
    path = _finish(tmp, out, result.config, counts)
    if any(int(c.get("parts", 0)) > MAX_INDEX_PARTS for c in counts.values()):
        compact_index(run_dir)
    return path


def build_index(run_dir: str | Path) -> Path:
    """Write the master index of an existing run folder from its outputs (records.parquet,
    pairs.parquet, golden_<type>.parquet, conflicts.parquet, model_<type>.json and the
    configuration saved in run.json)."""
    run = Path(run_dir)
    summary_path = run / "run.json"
    if not summary_path.is_file():
        raise MasterIndexError(f"{run}: no run.json (is it a complete run folder?)")
    config = config_from(json.loads(summary_path.read_text(encoding="utf-8"))["config"])
    records_all = read_run_table(run, "records")
    pairs_all = read_run_table(run, "pairs")
    conflicts_all = read_run_table(run, "conflicts")
    out = run / INDEX_DIR
    tmp = fresh_folder(out)
    counts: dict[str, Any] = {}
    with spill_beside(tmp) as spill:
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
    with spill_beside(folder) as spill:
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
    write_arrow(_lookup_records(records, section, update), folder / "records.arrow", spill)
    clusters = _by_record_id(clusters, spill)
    # read only whole, by an incremental run: compressed
    write_arrow(clusters.drop_columns([c for c in ("entity_type", "entity_id")
                                      if c in clusters.column_names]),
                folder / "clusters.arrow", spill, compression="zstd")
    ids = records.column("record_id").combine_chunks()
    rid = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)
    # golden records and conflicts: given an update, the previous index's with the
    # touched entities' rows replaced (merged in hash order); else laid out whole
    merged = _merged_golden(update, golden, conflicts, records, spill) if update else None
    if merged is None:
        golden = by_entity_hash(golden, spill)
        conflicts, ends = conflicts_by_golden(conflicts, golden, records, spill)
        if ends is not None:
            golden = golden.append_column(ENDS, pa.array(ends, id_type(ends)))
    else:
        golden, conflicts = merged
    write_arrow(compact(golden, keep=("entity_id",), narrow=True), folder / "golden.arrow")
    write_arrow(conflicts, folder / "conflicts.arrow")
    if update is None:
        write_keys(hash_strings(records.column("entity_id"))[0],
                    np.ones(len(ids), dtype=bool), ids, folder / "members.arrow")
    else:
        base = update.base
        regrouped = records.take(pa.array(np.searchsorted(rid, update.regrouped)))
        _write_merged(base.members, *hash_strings(regrouped.column("entity_id")),
                      regrouped.column("record_id"), folder / "members.arrow",
                      drop=np.concatenate([update.removed, update.regrouped]))
    if update is None:
        write_keys(source_key_hashes(records), np.ones(len(ids), dtype=bool), ids,
                    folder / SOURCE_KEYS)
    else:
        _write_merged(update.base.source_keys, source_key_hashes(update.added),
                      np.ones(update.added.num_rows, dtype=bool),
                      update.added.column("record_id"), folder / SOURCE_KEYS,
                      drop=update.removed)
    passes = []
    for bp in section.blocking:
        if not resolvable(bp):
            # expected (the shipped presets have cross-column passes): said, not warned
            log.info("index: blocking pass %r is not served by the resolver (%s)", bp.name,
                     "cross-column keys" if bp.keys_right else f"a {bp.kind} pass; only "
                     "exact ones are")
            continue
        whole_keys = None
        for part, stem, variant in key_files(bp):
            name = f"{stem}.arrow"
            if update is None or bp.name not in update.base.keys:
                if part == "flagged" and whole_keys is not None:  # the same keys, fewer
                    h, present = whole_keys[0], whole_keys[1] & flagged_rows(records, bp)
                else:
                    h, present = _hashed_keys(records, variant)
                if part == "whole":
                    whole_keys = (h, present)
                write_keys(h, present, ids, folder / name)
                continue
            old = getattr(update.base.keys[bp.name], part)
            assert old is not None
            h, present = hash_strings(pass_keys(update.added, variant))
            if part == "flagged":
                present &= flagged_rows(update.added, bp)
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
            values, counts, tf[comp.name] = updated_tf(update, comp.field, comp.name)
        write_tf(values, counts, folder / f"tf_{comp.name}.arrow")
    quality = update.quality if update is not None else None
    if quality is None:
        quality = quality_counts(records, clusters, golden, fields=list(section.fields))
    write_arrow(quality.sums, folder / QUALITY_SUMS)
    write_arrow(quality.days, folder / QUALITY_DAYS)
    model.save(folder / "model.json")
    max_id = int(rid.max()) if len(rid) else -1
    return {"records": records.num_rows, "entities": golden.num_rows, "passes": passes,
            "tf_totals": tf, "max_record_id": max_id}


def _merged_golden(update: IndexUpdate, golden: pa.Table, conflicts: pa.Table,
                   records: pa.Table, spill: Path) -> tuple[pa.Table, pa.Table] | None:
    """golden.arrow's and conflicts.arrow's tables from the previous index's: its rows
    but the touched entities', and the touched entities' rows now, laid out as
    :func:`conflicts_by_golden` lays out the whole (None when the two layouts differ,
    e.g. one keeps the golden values and the other does not: then written whole)."""
    base = update.base
    if update.entities is None or base.parts or base.conflict_ends is None or ENDS not in \
            base.golden.column_names:
        return None
    old_ids, new_ids = update.entities
    g_new = by_entity_hash(golden.filter(pc.is_in(golden.column("entity_id"),
                                                  value_set=new_ids)), spill)
    c_new, ends_new = conflicts_by_golden(
        conflicts.filter(pc.is_in(conflicts.column("entity_id"), value_set=new_ids)),
        g_new, records, spill)
    c_old = base.conflict_table
    if not c_new.num_rows:  # no conflicts among the touched entities now
        c_new, ends_new = c_old.slice(0, 0), np.zeros(g_new.num_rows, dtype=np.int64)
    if ends_new is None or unpacked_schema(c_new.schema) != unpacked_schema(c_old.schema):
        return None
    g_old = base.golden
    keep = np.flatnonzero(~np.asarray(pc.is_in(g_old.column("entity_id"), value_set=old_ids)
                                      .to_numpy(zero_copy_only=False), dtype=bool))
    ends_old = np.asarray(base.conflict_ends, dtype=np.int64)
    starts_old = np.concatenate([[0], ends_old[:-1]]).astype(np.int64)
    starts_new = np.concatenate([[0], ends_new[:-1]]).astype(np.int64)
    # merge the kept old rows and the new rows by hash (the new after equal old ones)
    h_old = base.golden_hashes[keep]
    h_new = np.asarray(g_new.column(HASH).to_numpy(), dtype=np.uint64)
    at = np.searchsorted(h_old, h_new, side="right") + np.arange(len(h_new))
    is_new = np.zeros(len(h_old) + len(h_new), dtype=bool)
    is_new[at] = True
    src = np.empty(len(is_new), dtype=np.int64)  # row in concat(old kept, new)
    src[~is_new] = np.arange(len(h_old))
    src[is_new] = len(h_old) + np.arange(len(h_new))
    starts = np.concatenate([starts_old[keep], starts_new + c_old.num_rows])[src]
    counts = np.concatenate([(ends_old - starts_old)[keep], ends_new - starts_new])[src]
    ends = np.cumsum(counts).astype(np.int64)
    rows = np.repeat(starts - (ends - counts), counts) + np.arange(int(ends[-1]) if len(ends)
                                                                     else 0)
    shown = g_new.column_names
    if not set(shown) <= set(g_old.column_names):
        return None
    merged_golden = pa.concat_tables([
        unpacked(g_old.select(shown).take(pa.array(keep)), g_new.schema),
        unpacked(g_new, g_new.schema)]).take(pa.array(src))
    merged_golden = merged_golden.append_column(ENDS, pa.array(ends, id_type(ends)))
    schema = unpacked_schema(c_new.schema)
    both = pa.concat_tables([unpacked(c_old, schema), unpacked(c_new, schema)])
    merged_conflicts = compact(mapped(both, rows, spill), keep=(HASH,), narrow=True)
    return merged_golden, merged_conflicts


def _lookup_records(records: pa.Table, section: EntityConfig,
                    update: IndexUpdate | None = None) -> pa.Table:
    """A type's records as the index keeps them (see the layout above), compacted,
    with the content hash appended (given ``update``, hashed only for the records the
    previous index does not hold: a record's raw values never change under its id)."""
    compared = read_columns(records.column_names, section.comparisons)
    # every standardised column: an incremental run takes its touched entities' rows
    # from here (mapped) instead of reading the run folder's records whole
    slim = records.select([c for c in records.column_names if c not in NOT_STORED])
    content = content_of(records, section, update)
    slim = slim.append_column(CONTENT, pa.array(content, pa.uint64()))
    # entity ids and keys stay plain (matched with compute kernels), and so do the
    # compared columns: a lookup takes its candidates' rows of them in one call, which
    # decoding dictionaries would more than double
    return compact(slim, keep=("entity_id", "source_key", *compared))


def _by_record_id(table: pa.Table, spill: Path) -> pa.Table:
    """``table`` in record-id order (left as it is when it already is)."""
    ids = np.asarray(table.column("record_id").to_numpy(), dtype=np.int64)
    if len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all()):
        return table
    return mapped(table, np.argsort(ids, kind="stable"), spill)


def _of_type(records: pa.Table, etype: str, spill: Path) -> pa.Table:
    """The records of one entity type, in their order."""
    is_type = pc.equal(records.column("entity_type"), etype)
    rows = np.flatnonzero(np.asarray(is_type.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rows) == records.num_rows:
        return records
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return records.slice(int(rows[0]), len(rows))
    return mapped(records, rows, spill)


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
    write_arrow(pa.table({HASH: pa.array(np.insert(old_h, at, new_h), pa.uint64()),
                          "record_id": pa.array(merged, id_type(merged))}), path)


def _finish(tmp: Path, out: Path, config: PipelineConfig, counts: Mapping[str, Any]) -> Path:
    write_json({"format": FORMAT, "types": counts, "config": to_dict(config)},
               tmp / "manifest.json")
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    log.info("index: written to %s (%s)", out, ", ".join(
        f"{t}: {c['records']} records" for t, c in counts.items()))
    return out
