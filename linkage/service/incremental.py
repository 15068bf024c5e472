"""Incremental runs: link a new batch against the previous run's master index and update
only the entities it touches (``linkage run pipeline.toml --previous RUN --incremental``).

The batch is the pipeline's ``delta = true`` sources (or, when it has none, every source,
whose records identical to the previous run's are skipped). A record is known by its
department, entity type and key: a key the master has is a new version of that record
(the old one is retired), a row whose ``deleted`` column is set retires it, any other
row is new. The new and changed records are standardised, blocked against the index and
among themselves, compared and scored with the previous run's model (no new fit). The
entities touched are those that lose a record or gain a link; only their records are
clustered again (with the pairs the previous run scored among them), get their golden
records and conflicts rebuilt, and keep or change their ids (logged in entity_changes).
Every other entity, its id, golden record and conflicts are carried over as they were.
The output is a complete run folder with its own master index, its big tables written as
logs on the previous run's files (:mod:`linkage.service.incremental_write`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.config import EntityConfig, PipelineConfig, SourceConfig, load_pipeline
from linkage.errors import ConfigError
from linkage.flags import concat_flags
from linkage.io.explained import RecordRef
from linkage.io.report_counts import TypeCounts, count_tables
from linkage.io.sources import read_source
from linkage.master.cluster import cluster, link_mask
from linkage.master.conflicts import find_conflicts
from linkage.master.entity_ids import ENTITY_CHANGES, assign_entity_ids
from linkage.master.golden import build_golden
from linkage.master.groups import text_column
from linkage.master.quality_counts import (
    QualityCounts,
    quality_counts,
    quality_table,
    updated_counts,
)
from linkage.match.block import BlockingResult, block
from linkage.match.compare import compare, read_columns
from linkage.pipeline import PipelineResult
from linkage.service.incremental_report import night_examples, old_conflicts, report_counts
from linkage.service.incremental_tables import (
    Carried,
    IncrementalEntity,
    Loads,
    lazy_table,
    master_rows,
    master_term_frequencies,
    old_golden,
    rows_where,
    updated_rows,
    without,
)
from linkage.service.incremental_write import TableDelta, write_incremental_run
from linkage.service.index import MasterIndex, TypeIndex, expand
from linkage.service.index_build import content_columns
from linkage.service.index_tables import CONTENT, plain
from linkage.service.index_write import IndexUpdate, write_index
from linkage.service.keys import content_hash, hash_strings
from linkage.standardisers import standardise

log = logging.getLogger(__name__)

__all__ = ["IncrementalResult", "read_with_deltas", "run_incremental"]

_DELETED = "__deleted"
_NOT_DELETED = ("", "0", "false", "no", "n", "否", "f")


@dataclass
class IncrementalResult:
    """What an incremental run did, per entity type and in all."""

    out: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The run's time: its steps (``read``, each type's ``<type>.total``, ``reports``,
        ``write``), not their parts (``<type>.link``, ``write.index``, ...)."""
        return sum(v for k, v in self.timings.items()
                   if k in ("read", "reports", "write") or k.endswith(".total"))

    def summary_line(self) -> str:
        parts = [f"{t}: " + ", ".join(f"{k} {v}" for k, v in c.items())
                 for t, c in self.counts.items()]
        return (f"incremental run written to {self.out}/ ("
                + "; ".join(parts) + f"; {self.seconds:.2f} s)")


@dataclass
class _Batch:
    """One entity type's batch split against the master."""

    incoming: pa.Table        # standardised new and changed records (fresh record ids)
    retired: npt.NDArray[np.int64]  # master record ids replaced or deleted
    counts: dict[str, int]


@dataclass
class _IncrementalRun(PipelineResult):
    """A PipelineResult whose explanations compare just the two records (a full run's
    compares whole columns), with term frequencies from the previous master."""

    index: MasterIndex | None = None
    _makers: dict[str, Callable[[], pa.Table]] = field(default_factory=dict)

    def explain(self, left: RecordRef, right: RecordRef) -> Any:
        from linkage.io.explained import find_record

        id_l, id_r = (ref if isinstance(ref, int) else int(find_record(self.records,
                                                                        ref)["record_id"])
                      for ref in (left, right))
        lo, hi = min(id_l, id_r), max(id_l, id_r)
        for etype, e in self.entities.items():
            two = e.records.filter(pc.is_in(e.records.column("record_id"),
                                            value_set=pa.array([lo, hi], pa.int64())))
            if two.num_rows != 2:
                continue
            pair = pa.table({"id_l": pa.array([lo], pa.int64()),
                             "id_r": pa.array([hi], pa.int64())})
            vectors = compare(two, pair, e.model.comparisons, workers=1)
            if self.index is not None and etype in self.index.types:
                vectors = master_term_frequencies(self.index.types[etype], vectors, two)
            return e.model.explain(vectors.to_pylist()[0])
        return super().explain(id_l, id_r)


# (set after the dataclass is made, so its __init__ assigns through them)
_IncrementalRun.records = lazy_table("records")
_IncrementalRun.raw_records = lazy_table("raw_records")


@dataclass
class _Touched:
    """The entities a batch touched: their previous ids, and the re-clustered records
    (``subset``, ``clusters``) whose new golden records and conflicts replace theirs."""

    old_ids: pa.Array
    subset: pa.Table
    clusters: pa.Table
    retired: npt.NDArray[np.int64]
    added: pa.Table
    old_rows: pa.Table  # the touched entities' records as the master had them
    records_added: pa.Table  # the re-clustered records' rows (kept and new), complete
    replaced: npt.NDArray[np.int64]  # record ids whose rows records_added replaces
    pairs_added: pa.Table  # the batch's scored pairs
    golden: pa.Table  # the touched entities' golden records now
    old_golden: pa.Table  # ... and as the previous run had them
    quality: QualityCounts | None = None
    conflicts_added: pa.Table | None = None
    #: the report's counts of the touched entities as they were and as they are now
    report_removed: TypeCounts | None = None
    report_added: TypeCounts | None = None
    examples: list[Any] = field(default_factory=list)

    @property
    def new_ids(self) -> pa.Array:
        return pc.unique(self.clusters.column("entity_id"))


def run_incremental(pipeline: str | Path | PipelineConfig, previous: str | Path,
                    out: str | Path) -> IncrementalResult:
    """Apply the pipeline's batch to the master of ``previous``; write a complete run
    folder (outputs and master index) to ``out``."""
    started = time.perf_counter()
    config = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline)
    index = MasterIndex.open(previous)
    result = IncrementalResult(Path(out))
    timings = result.timings
    _check_compatible(config, index)
    loads = {etype: Loads(ti) for etype, ti in index.types.items()}
    raw = _read_batch(config, index)
    timings["read"] = _lap(started)
    entities: dict[str, Any] = {}
    touched: dict[str, _Touched] = {}
    record_parts = []
    for etype, ti in index.types.items():
        t0 = time.perf_counter()
        section = config.entity(etype)
        assert section is not None
        subset = raw.filter(pc.equal(raw.column("entity_type"), etype))
        batch = _split(subset, ti, section)
        entity, records, touched[etype] = _apply(config, section, ti, batch, timings,
                                                 loads[etype])
        makers = {name: entity.pop(name) for name in IncrementalEntity.MADE}
        entities[etype] = IncrementalEntity(makers, **entity)
        record_parts.append(records)
        result.counts[etype] = batch.counts
        timings[f"{etype}.total"] = _lap(t0)
    t0 = time.perf_counter()
    legal = _legal_reps(Path(previous), index, loads, touched)
    for etype, ti in index.types.items():
        section = config.entity(etype)
        assert section is not None
        _report(section, ti, entities[etype], touched[etype], loads[etype])
    timings["reports"] = _lap(t0)
    t0 = time.perf_counter()

    def all_records() -> pa.Table:
        # one type's records are in record-id order already (the batch's ids come last):
        # the sort (a copy of every column) only for several types
        records = pa.concat_tables([make() for make in record_parts],
                                   promote_options="default")
        return records.sort_by("record_id") if len(record_parts) > 1 else records

    run = _IncrementalRun(config=config, raw_records=None, entities=entities, records=None,
                          timings=dict(timings), legal_reps=legal,
                          _makers={"records": all_records, "raw_records": lambda: run.records
                                   .select(["record_id", "source", "entity_type"])})
    run.index = index
    deltas = _deltas(entities, touched)
    # the index gets the night's rows alone (a part on the previous index's files)
    updates = {
        etype: IndexUpdate(base=index.types[etype], removed=t.retired, added=t.added,
                           regrouped=np.asarray(t.clusters.column("record_id").to_numpy(),
                                                dtype=np.int64),
                           quality=t.quality, entities=(t.old_ids, t.new_ids),
                           records=t.records_added, clusters=t.clusters,
                           golden=deltas[f"golden_{etype}"].added,
                           conflicts=t.conflicts_added)
        for etype, t in touched.items()}
    # the big tables as logs on the previous run's; the index is written into the
    # staged run beside the outputs, on a second core, and swapped in with them
    parts: dict[str, float] = {}
    write_incremental_run(run, out, Path(previous), deltas,
                          beside=functools.partial(write_index, run, updates=updates),
                          timings=parts, report=report_counts(Path(previous), touched, loads))
    timings["write"] = _lap(t0)
    timings.update(parts)
    log.info("incremental run: %s in %.2f s", result.counts, time.perf_counter() - started)
    return result


def _deltas(entities: Mapping[str, Any],
            touched: Mapping[str, _Touched]) -> dict[str, TableDelta]:
    """What each big table of the run gains and loses against the previous run's: the
    re-clustered records' rows (replacing those of the touched entities and the retired
    records), the batch's pairs (the retired records' go), the touched entities' golden
    records and conflicts (replacing those of the entities they were)."""
    def ids(parts: list[npt.NDArray[np.int64]]) -> pa.Array:
        return pa.array(np.unique(np.concatenate(parts)) if parts else
                        np.zeros(0, np.int64), pa.int64())

    retired = ids([t.retired for t in touched.values()])
    old_ids = pa.chunked_array([t.old_ids for t in touched.values()],
                               pa.string()).combine_chunks()
    pairs = []
    for etype, t in touched.items():
        scored = t.pairs_added
        pairs.append(scored.add_column(0, "entity_type", pa.repeat(
            pa.scalar(etype, pa.string()), scored.num_rows)))
    deltas = {
        "records": TableDelta(pa.concat_tables([t.records_added for t in touched.values()],
                                               promote_options="default"),
                              {"record_id": ids([t.replaced for t in touched.values()])}),
        "pairs": TableDelta(pa.concat_tables(pairs, promote_options="default"),
                            {"id_l": retired, "id_r": retired}),
    }
    for etype, t in touched.items():
        deltas[f"golden_{etype}"] = TableDelta(t.golden, {"entity_id": t.old_ids})
    conflicts = [t.conflicts_added for t in touched.values() if t.conflicts_added is not None]
    deltas["conflicts"] = TableDelta(pa.concat_tables(conflicts, promote_options="default"),
                                     {"entity_id": old_ids})
    return deltas


def _lap(t0: float) -> float:
    return round(time.perf_counter() - t0, 4)


def _check_compatible(config: PipelineConfig, index: MasterIndex) -> None:
    problems = []
    for etype, ti in index.types.items():
        section = config.entity(etype)
        if section is None:
            problems.append(f"[{etype}]: the previous run resolved {etype} records; this "
                            "pipeline has no such section")
            continue
        if tuple(section.comparisons) != tuple(ti.model.comparisons):
            problems.append(f"[{etype}.comparisons] differ from the previous run's model; an "
                            "incremental run scores with that model (run in full instead)")
        if tuple(section.fields.items()) != tuple(ti.section.fields.items()):
            problems.append(f"[{etype}.fields] differ from the previous run's")
    extra = [t for t in config.entity_types if t not in index.types]
    problems += [f"[{t}]: the previous run has no {t} master to update" for t in extra]
    if problems:
        raise ConfigError(problems, origin="--incremental")


def _read_batch(config: PipelineConfig, index: MasterIndex) -> pa.Table:
    """The batch's records, record ids after every id the master has used."""
    deltas = [s for s in config.sources if s.delta]
    offset = max(ti.max_record_id for ti in index.types.values()) + 1
    tables = []
    for source in deltas or list(config.sources):
        table = _read_marked(source, offset)
        offset += table.num_rows
        tables.append(table)
    return pa.concat_tables(tables, promote_options="default")


def _read_marked(source: SourceConfig, first_record_id: int) -> pa.Table:
    """A source's records with its deletion marker as the ``__deleted`` column."""
    read_as = source
    if source.deleted:
        read_as = dataclasses.replace(source, columns={**source.columns,
                                                      _DELETED: source.deleted})
    table = read_source(read_as, first_record_id=first_record_id)
    if _DELETED not in table.column_names:
        table = table.append_column(_DELETED, pa.nulls(table.num_rows, pa.string()))
    return table


def _deleted(table: pa.Table) -> npt.NDArray[np.bool_]:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(
        pc.cast(table.column(_DELETED), pa.string()), "")))
    return ~np.asarray(pc.is_in(text, value_set=pa.array(_NOT_DELETED))
                       .to_numpy(zero_copy_only=False), dtype=bool)


def read_with_deltas(config: PipelineConfig) -> pa.Table:
    """Every source of a pipeline that has ``delta = true`` sources, for a full run: a
    delta row replaces the earlier rows of its department, type and key (or, marked
    deleted, retires them), so a full run on base and deltas links what an incremental
    run would. Record ids are dense from 0; how many rows were replaced or retired is
    logged."""
    tables = []
    delta_parts = []
    offset = 0
    for source in config.sources:
        table = _read_marked(source, offset)
        offset += table.num_rows
        tables.append(table)
        delta_parts.append(np.full(table.num_rows, source.delta, dtype=bool))
    raw = pa.concat_tables(tables, promote_options="default")
    is_delta = np.concatenate(delta_parts) if delta_parts else np.zeros(0, dtype=bool)
    n = raw.num_rows
    key = pc.binary_join_element_wise(raw.column("entity_type"), _keys(raw), "\x00")
    codes = np.asarray(pc.dictionary_encode(key).combine_chunks().indices.to_numpy(
        zero_copy_only=False), dtype=np.int64)
    last_delta = np.full(int(codes.max()) + 1 if n else 0, -1, dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    np.maximum.at(last_delta, codes[is_delta], rows[is_delta])
    superseded = last_delta[codes] > rows
    deleted = is_delta & _deleted(raw)
    keep = ~superseded & ~deleted
    out = raw.filter(pa.array(keep)).drop_columns([_DELETED])
    out = out.set_column(0, "record_id", pa.array(np.arange(out.num_rows, dtype=np.int64)))
    log.info("deltas: %d row(s) replaced by a newer version, %d retired by a deletion "
             "marker", int((superseded & ~deleted).sum()), int(deleted.sum()))
    return out


def _keys(table: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(pc.cast(table.column("source"), pa.string()),
                                       pc.cast(table.column("source_key"), pa.string()),
                                       "\x00").combine_chunks() if table.num_rows else \
        pa.array([], pa.string())


def _split(subset: pa.Table, ti: TypeIndex, section: EntityConfig) -> _Batch:
    """New, changed, unchanged and deleted records of the batch against the master."""
    n = subset.num_rows
    fields = list(section.fields)
    keys = _keys(subset)
    # the last row of a key in the batch is its newest version
    last = np.ones(n, dtype=bool)
    if n:
        rev = pc.index_in(keys, value_set=pc.unique(keys))
        codes = np.asarray(rev.to_numpy(zero_copy_only=False), dtype=np.int64)
        last_pos = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
        last_pos[codes] = np.arange(n)
        last = np.zeros(n, dtype=bool)
        last[last_pos] = True
    master = ti.records
    at = ti.rows_of_keys(subset)
    deleted = _deleted(subset)
    known = at >= 0
    same = np.zeros(n, dtype=bool)
    if known.any():
        # the same raw field values and updated_at (a field no source of the batch maps
        # counts as null): compared as the index's content hashes of both
        # (only the batch's known rows of the master are taken, not its whole column)
        old = np.asarray(master.column(CONTENT).take(pa.array(at[known])).to_numpy(),
                         dtype=np.uint64)
        new = content_hash(content_columns(subset, fields, raw=False))
        same[known] = old == new[known]
    take_in = last & ~deleted & ~same
    retire = last & known & (deleted | ~same)
    retired = np.unique(np.asarray(master.column("record_id").take(pa.array(at[retire]))
                                   .to_numpy(), dtype=np.int64))
    incoming_raw = subset.filter(pa.array(take_in)).drop_columns([_DELETED])
    incoming = _standardise(incoming_raw, section)
    counts = {"batch": n, "new": int((take_in & ~known).sum()),
              "changed": int((take_in & known).sum()),
              "deleted": int((last & deleted & known).sum()),
              "unchanged": int((last & same & ~deleted).sum()),
              "superseded_in_batch": int((~last).sum())}
    return _Batch(incoming, retired, counts)


def _standardise(raw: pa.Table, section: EntityConfig) -> pa.Table:
    records = standardise(raw, section.fields)
    if "flags" in raw.column_names:
        merged = concat_flags(raw.column("flags").combine_chunks(),
                              records.column("flags").combine_chunks())
        records = records.set_column(records.column_names.index("flags"), "flags", merged)
    return records


def _apply(config: PipelineConfig, section: EntityConfig, ti: TypeIndex, batch: _Batch,
           timings: dict[str, float],
           loads: Loads) -> tuple[dict[str, Any], Callable[[], pa.Table], _Touched]:
    """Link the batch, re-cluster the touched entities and rebuild their golden records;
    returns the EntityResult fields (the complete tables as makers, see
    :class:`IncrementalEntity`), the maker of the type's complete record table and what
    was touched."""
    etype = ti.entity_type
    t0 = time.perf_counter()
    incoming, retired = batch.incoming, batch.retired
    fields = list(section.fields)
    master = ti.records
    master_ids = ti.record_ids
    # --- link the batch: against the master (index lookups) and among itself (blocking)
    q_rows, rids = ti.candidates(incoming)
    keep = ~np.isin(rids, retired)
    q_rows, rids = q_rows[keep], rids[keep]
    inner = block(incoming, section.blocking).pairs if incoming.num_rows > 1 else None
    cols = read_columns(master.column_names, section.comparisons)
    uniq = np.unique(rids)
    master_part = plain(master.select(cols).take(pa.array(ti.positions(uniq))))
    incoming_part = incoming.select(cols).cast(master_part.schema)
    mini = pa.concat_tables([master_part, incoming_part])
    new_ids = np.asarray(incoming.column("record_id").to_numpy(), dtype=np.int64)
    id_l = [rids]
    id_r = [new_ids[q_rows]]
    if inner is not None and inner.num_rows:
        id_l.append(np.asarray(inner.column("id_l").to_numpy(), dtype=np.int64))
        id_r.append(np.asarray(inner.column("id_r").to_numpy(), dtype=np.int64))
    pairs = pa.table({"id_l": pa.array(np.concatenate(id_l), pa.int64()),
                      "id_r": pa.array(np.concatenate(id_r), pa.int64())})
    vectors = compare(mini, pairs, section.comparisons)
    vectors = master_term_frequencies(ti, vectors, mini)
    scored_new = ti.model.predict(vectors)
    timings[f"{etype}.link"] = _lap(t0)

    # --- the touched entities: those losing a record, or gaining a link
    t0 = time.perf_counter()
    links = link_mask(scored_new, section.scoring.link_threshold)
    linked_master = np.unique(np.asarray(scored_new.column("id_l").to_numpy())[links])
    linked_master = linked_master[np.isin(linked_master, master_ids)]
    touched_rows = ti.positions(np.concatenate([linked_master, retired]))
    touched = pc.unique(master.column("entity_id").take(pa.array(touched_rows)))
    member_ids = _members(ti, touched)
    member_ids = member_ids[~np.isin(member_ids, retired)]
    # the touched entities' rows as the run folder has them, taken from the mapped index
    # (the run folder's records are not read whole)
    schema = loads.records_schema
    old_rows = master_rows(ti, np.concatenate([member_ids, retired]), schema)
    kept_rows = old_rows.slice(0, len(member_ids))
    std_cols = incoming.column_names
    subset = pa.concat_tables([kept_rows.select(std_cols).cast(incoming.schema), incoming])
    old_pairs = loads.pairs
    in_subset = pc.and_(pc.is_in(old_pairs.column("id_l"), value_set=pa.array(member_ids)),
                        pc.is_in(old_pairs.column("id_r"), value_set=pa.array(member_ids)))
    scored_sub = pa.concat_tables([old_pairs.filter(in_subset),
                                   scored_new.select(old_pairs.column_names)],
                                  promote_options="default")
    found = cluster(subset, scored_sub, entity_type=etype,
                    threshold=section.scoring.link_threshold,
                    identity_fields=section.identity_fields)
    previous = old_rows.select(["source", "source_key", "entity_type", "entity_id"])
    clusters_sub, changes = assign_entity_ids(found, subset, previous)
    clusters_sub = _avoid_untouched_ids(clusters_sub, ti, touched)
    timings[f"{etype}.cluster"] = _lap(t0)

    # --- golden records and conflicts of the touched entities
    t0 = time.perf_counter()
    trust = _trust(config, etype, fields)
    golden_sub = build_golden(subset, clusters_sub, fields=fields,
                              survivorship=section.survivorship, trust=trust)
    timings[f"{etype}.golden"] = _lap(t0)

    # --- what changes, and the complete tables as makers: untouched rows carried over,
    # touched ones replaced (built only when a reader asks for the whole master)
    t0 = time.perf_counter()
    at = pc.index_in(subset.column("record_id"), value_set=clusters_sub.column("record_id"))
    sub_records = incoming.append_column(
        "entity_id", clusters_sub.column("entity_id").take(at).slice(kept_rows.num_rows)) \
        .append_column("cluster_size",
                       clusters_sub.column("cluster_size").take(at).slice(kept_rows.num_rows))
    records_added = pa.concat_tables([updated_rows(kept_rows, clusters_sub,
                                               ("entity_id", "cluster_size")), sub_records],
                                     promote_options="default")
    result = _Touched(touched, subset, clusters_sub, retired, incoming, old_rows,
                      records_added, np.concatenate([retired, member_ids]), scored_new,
                      golden=golden_sub, old_golden=old_golden(ti, touched, loads))
    timings[f"{etype}.carry_over"] = _lap(t0)
    report = {"incremental": True, **batch.counts, "candidate_pairs": pairs.num_rows,
              "touched_entities": len(touched), "reclustered_records": subset.num_rows,
              "passes": [], "warnings": []}
    carried = Carried(ti, loads, result)
    entity = {"entity_type": etype, "records": carried.std_records,
              "blocking": BlockingResult(pairs=pairs, report=report), "vectors": vectors,
              "model": ti.model, "scored": carried.scored, "clusters": carried.clusters,
              "golden": carried.golden,
              "changes": changes if changes.num_rows else ENTITY_CHANGES.empty_table()}
    return entity, carried.records, result


def _report(section: EntityConfig, ti: TypeIndex, entity: Any, touched: _Touched,
            loads: Loads) -> None:
    """Conflicts of the touched entities (once their golden records are final, after legal
    representatives): the run's conflicts are a log, the previous run's but theirs, and
    these (``touched.conflicts_added``, which the index takes as its part; the complete
    table is built only when read). Quality figures of every department, and the
    report's counts, as the touched entities' parts as they were taken out and as they
    are put in."""
    fields = list(section.fields)
    golden_sub = touched.golden
    conflicts_sub = find_conflicts(touched.subset, touched.clusters, golden_sub, fields=fields,
                                   mutable_fields=section.conflicts.mutable_fields,
                                   comparable_statuses=section.conflicts.comparable_statuses,
                                   wildcard_statuses=section.conflicts.wildcard_statuses)
    touched.conflicts_added = conflicts_sub

    def all_conflicts() -> pa.Table:
        before = loads.conflicts
        return pa.concat_tables([
            without(before, rows_where(before.column("entity_id"), touched.old_ids)),
            conflicts_sub], promote_options="default")

    # the complete table only for a reader that asks (an index written whole: one that
    # cannot take a part, or lays its conflicts out by entity hash)
    entity.remake("conflicts", all_conflicts)
    # department figures are shares over all of a department's records, kept as counts:
    # the touched entities' parts as they were go, as they are now come in
    old = touched.old_rows
    removed = quality_counts(old, old.select(["record_id", "entity_id"]), touched.old_golden,
                             fields=fields)
    added = quality_counts(touched.subset, touched.clusters, golden_sub, fields=fields)
    touched.quality = updated_counts(ti.quality_counts(), removed=removed, added=added)
    entity.quality = quality_table(touched.quality, fields=fields,
                                   entity_type=ti.entity_type)
    # the report's counts: the retired records' scored pairs go with them
    threshold = section.scoring.link_threshold
    retired = pa.array(touched.retired, pa.int64())
    pairs = loads.pairs
    gone = pairs.take(pa.array(np.union1d(rows_where(pairs.column("id_l"), retired),
                                          rows_where(pairs.column("id_r"), retired)),
                               pa.int64()))
    old_ids = np.asarray(old.column("record_id").to_numpy(), dtype=np.int64)
    touched.report_removed = count_tables(
        records=old, scored=gone, threshold=threshold,
        clusters=loads.clusters.take(pa.array(ti.ranks(old_ids))), golden=touched.old_golden,
        conflicts=old_conflicts(ti, touched.old_ids))
    touched.report_added = count_tables(
        records=touched.records_added, scored=touched.pairs_added, threshold=threshold,
        clusters=touched.clusters, golden=golden_sub, conflicts=conflicts_sub)
    touched.examples = night_examples(ti, entity, touched, threshold)


def _members(ti: TypeIndex, entity_ids: pa.Array) -> npt.NDArray[np.int64]:
    """Record ids of the given entities (one vectorised lookup of the members index)."""
    if not len(entity_ids):
        return np.zeros(0, dtype=np.int64)
    h, _ = hash_strings(entity_ids)
    lo, hi = ti.members.ranges(h)
    _, pos = expand(lo, hi)
    ids = np.unique(ti.members.values[pos])
    # a hash collision could bring in another entity's records: keep only true members
    rows = ti.records.column("entity_id").take(pa.array(ti.positions(ids)))
    ok = np.asarray(pc.is_in(rows, value_set=entity_ids).to_numpy(zero_copy_only=False),
                    dtype=bool)
    return np.asarray(ids[ok], dtype=np.int64)


def _in_master(ti: TypeIndex, entity_ids: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Whether each id is an entity id of the master (its members index, each hash hit
    checked against the member's own id)."""
    found = np.zeros(len(entity_ids), dtype=bool)
    lo, hi = ti.members.ranges(hash_strings(entity_ids)[0])
    owner, pos = expand(lo, hi)
    if len(pos):
        names = ti.records.column("entity_id").take(
            pa.array(ti.positions(np.asarray(ti.members.values[pos], dtype=np.int64))))
        same = pc.fill_null(pc.equal(names, pc.array_take(entity_ids, pa.array(owner))),
                            False)
        found[owner[np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)]] = True
    return found


def _avoid_untouched_ids(clusters: pa.Table, ti: TypeIndex, touched: pa.Array) -> pa.Table:
    """A fresh id that happens to be an untouched entity's id gets a salted one (the
    master's entity ids looked up in its members index, not scanned)."""
    ids = clusters.column("entity_id")
    fresh = np.asarray(pc.invert(pc.is_in(ids, value_set=touched))
                       .to_numpy(zero_copy_only=False), dtype=bool)
    clash = np.zeros(len(fresh), dtype=bool)
    rows = np.flatnonzero(fresh)
    if len(rows):
        clash[rows] = _in_master(ti, ids.take(pa.array(rows)))
    if not clash.any():
        return clusters
    names = ids.to_pylist()
    salt: dict[str, str] = {}
    for i in np.flatnonzero(clash).tolist():
        # one salt per id (the first row holding it), so an entity's rows keep one id
        names[i] = salt.setdefault(names[i], f"{names[i]}~{i}")
    return clusters.set_column(clusters.column_names.index("entity_id"), "entity_id",
                               pa.array(names, pa.string()))


def _trust(config: PipelineConfig, etype: str, fields: list[str]) -> dict[str, dict[str, float]]:
    """department -> field -> trust (a department's first source of the type sets it)."""
    trust: dict[str, dict[str, float]] = {}
    for source in config.sources:
        if source.entity_type == etype and source.department not in trust:
            trust[source.department] = {f: source.trust.get(f, source.default_trust)
                                        for f in fields}
    return trust


def _legal_reps(previous: Path, index: MasterIndex, loads: Mapping[str, Loads],
                touched: Mapping[str, _Touched]) -> pa.Table | None:
    """Legal representatives, when both types are resolved: the previous run's edges of
    enterprises the batch left alone (and whose person entity it left alone), the others
    resolved again; the touched enterprises' golden ``legal_rep_name`` then follows the
    person it names, as in a full run. Resolved over the records of the entities that
    can take part (the enterprises resolved again; the persons holding one of their
    representatives' names or ID numbers), not over the whole master."""
    if "person" not in touched or "enterprise" not in touched:
        return None
    from linkage.master.legal_rep import prefer_person_names, resolve_legal_reps

    tp, te = touched["person"], touched["enterprise"]
    ti_p, ti_e = index.types["person"], index.types["enterprise"]
    path = previous / "legal_reps.parquet"
    old = pq.read_table(path) if path.is_file() else None
    redo = te.new_ids
    if old is not None:
        affected = old.filter(pc.is_in(old.column("person_id"), value_set=tp.old_ids))
        redo = pc.unique(pa.concat_arrays([redo, pc.cast(
            affected.column("enterprise_id").combine_chunks(), pa.string())]))
    # the redo enterprises' golden records: the touched ones' now, the others' as they were
    others = pc.filter(redo, pc.invert(pc.is_in(redo, value_set=te.new_ids)))
    golden = pa.concat_tables([te.golden, old_golden(ti_e, others, loads["enterprise"])],
                              promote_options="default")
    enterprises = _current_records(ti_e, te, loads["enterprise"], redo)
    names = pc.unique(text_column(golden, "legal_rep_name").drop_null())
    ids = pc.unique(text_column(golden, "legal_rep_id").drop_null())
    persons = _current_records(ti_p, tp, loads["person"],
                               _holding(ti_p, tp, {"name": names, "id_number": ids}))
    edges = resolve_legal_reps(golden, persons, persons, enterprises=enterprises,
                               enterprise_clusters=enterprises)
    named = pc.unique(edges.column("person_id").combine_chunks()) if edges.num_rows else \
        pa.array([], pa.string())
    fresh = pc.is_in(named, value_set=tp.new_ids)
    person_golden = pa.concat_tables([
        tp.golden.filter(pc.is_in(tp.golden.column("entity_id"), value_set=named)),
        old_golden(ti_p, pc.filter(named, pc.invert(fresh)), loads["person"])],
        promote_options="default")
    te.golden = prefer_person_names(te.golden, edges, person_golden, enterprises, enterprises)
    if old is None:
        return edges
    gone = pc.filter(te.old_ids, pc.invert(pc.is_in(te.old_ids, value_set=te.new_ids)))
    kept = old.filter(pc.invert(pc.or_(pc.is_in(old.column("enterprise_id"), value_set=gone),
                                       pc.is_in(old.column("enterprise_id"), value_set=redo))))
    return pa.concat_tables([kept, edges.cast(kept.schema)]).sort_by(
        [("enterprise_id", "ascending"), ("person_id", "ascending")])


def _current_records(ti: TypeIndex, t: _Touched, loads: Loads,
                     entity_ids: pa.Array) -> pa.Table:
    """Every record of ``entity_ids`` as the run leaves them (with ``entity_id``): the
    touched entities' rows now, the others' from the mapped index."""
    ids = entity_ids.cast(pa.string())
    now = t.records_added.filter(pc.is_in(t.records_added.column("entity_id"), value_set=ids))
    members = _members(ti, ids)
    members = members[~np.isin(members, t.replaced)]
    carried = master_rows(ti, members, loads.records_schema)
    return pa.concat_tables([carried, now.select(carried.column_names).cast(carried.schema)])


def _holding(ti: TypeIndex, t: _Touched, values: Mapping[str, pa.Array]) -> pa.Array:
    """The entity ids, as the run leaves them, of the records holding one of ``values``
    in the named column (a scan of the mapped columns, and the touched rows now)."""
    cols = [c for c in values if c in ti.records.column_names]
    live = ti.live(["record_id", "entity_id", *cols])
    t_rows = t.records_added
    hit_live = np.zeros(live.num_rows, dtype=bool)
    hit_now = np.zeros(t_rows.num_rows, dtype=bool)
    for c in cols:
        wanted = values[c].cast(pa.string())
        hit_live |= np.asarray(pc.fill_null(pc.is_in(pc.cast(live.column(c), pa.string()),
                                                     value_set=wanted), False)
                               .to_numpy(zero_copy_only=False), dtype=bool)
        if c in t_rows.column_names:
            hit_now |= np.asarray(pc.fill_null(pc.is_in(pc.cast(t_rows.column(c), pa.string()),
                                                        value_set=wanted), False)
                                  .to_numpy(zero_copy_only=False), dtype=bool)
    found = live.filter(pa.array(hit_live))
    untouched = pc.invert(pc.is_in(found.column("record_id"), value_set=pa.array(t.replaced)))
    return pc.unique(pa.concat_arrays([
        pc.cast(found.column("entity_id").filter(untouched).combine_chunks(), pa.string()),
        pc.cast(t_rows.column("entity_id").filter(pa.array(hit_now)).combine_chunks(),
                pa.string())]))
