"""The report's part of an incremental run (:func:`linkage.service.incremental._report`
computes the touched entities' counts): the previous run's conflicts of those entities
found in its master index, the explained pairs chosen among the night's, and the
report's counts updated from the previous run's (:mod:`linkage.io.report_counts`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.io.report import ranked_conflicts
from linkage.io.report_counts import (
    TOP_KEPT,
    ReportCounts,
    TypeCounts,
    count_tables,
    read_counts,
    updated_top,
)
from linkage.io.report_examples import example_explanations
from linkage.io.run_tables import read_run_table
from linkage.match.compare import compare
from linkage.service.incremental_tables import master_term_frequencies
from linkage.service.index import TypeIndex, expand
from linkage.service.keys import hash_strings

if TYPE_CHECKING:
    from linkage.service.incremental import _Touched
    from linkage.service.incremental_tables import Loads

log = logging.getLogger(__name__)

__all__ = ["counted", "night_examples", "old_conflicts", "report_counts"]


def old_conflicts(ti: TypeIndex, entity_ids: pa.Array) -> pa.Table:
    """The kind and severity of the previous run's conflicts of ``entity_ids``, found in
    its master index (the index keeps them by golden record; after incremental runs,
    each entity's in the newest layer holding it), not in its whole table."""
    ids = entity_ids.cast(pa.string())
    found: list[pa.Table] = []
    for layer, at, golden_rows in ti.entity_rows(ids):
        table = layer.conflict_table
        if layer.conflict_ends is not None:
            ends = np.asarray(layer.conflict_ends, dtype=np.int64)
            starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
            _, rows = expand(starts[golden_rows], ends[golden_rows])
        elif table.num_rows:  # laid out by entity hash: found by it, each hit checked
            assert layer.conflict_hashes is not None
            mine = ids.take(pa.array(at))
            h, _ = hash_strings(mine)
            lo = np.searchsorted(layer.conflict_hashes, h, side="left").astype(np.int64)
            hi = np.searchsorted(layer.conflict_hashes, h, side="right").astype(np.int64)
            owner, rows = expand(lo, hi)
            same = pc.fill_null(pc.equal(pc.cast(table.column("entity_id").take(
                pa.array(rows)), pa.string()), mine.take(pa.array(owner))), False)
            rows = rows[np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)]
        else:
            continue
        taken = table.select(["kind", "severity"]).take(pa.array(rows, pa.int64()))
        found.append(pa.table({n: pc.cast(taken.column(n), pa.string())
                               for n in ("kind", "severity")}))
    if not found:
        return pa.table({"kind": pa.array([], pa.string()),
                         "severity": pa.array([], pa.string())})
    return pa.concat_tables(found)


def night_examples(ti: TypeIndex, entity: Any, touched: _Touched, threshold: float) -> list[Any]:
    """The report's explained pairs of an incremental run: chosen among the night's
    scored pairs whose two records are in the entities it touched, each compared alone
    with the master's term frequencies (as the night scored it)."""
    subset = touched.subset
    ids = subset.column("record_id")
    scored = touched.pairs_added
    scored = scored.filter(pc.and_(pc.is_in(scored.column("id_l"), value_set=ids),
                                   pc.is_in(scored.column("id_r"), value_set=ids)))
    model = ti.model

    def explain(id_l: int, id_r: int) -> Any:
        lo, hi = min(id_l, id_r), max(id_l, id_r)
        two = subset.filter(pc.is_in(ids, value_set=pa.array([lo, hi], pa.int64())))
        pair = pa.table({"id_l": pa.array([lo], pa.int64()),
                         "id_r": pa.array([hi], pa.int64())})
        vectors = master_term_frequencies(ti, compare(two, pair, model.comparisons, workers=1), two)
        return model.explain(vectors.to_pylist()[0])

    small = SimpleNamespace(model=model, records=subset, scored=scored,
                            blocking=entity.blocking)
    result = SimpleNamespace(entities={ti.entity_type: small}, config=SimpleNamespace(
        entity=lambda etype: ti.section if etype == ti.entity_type else None),
        records=touched.records_added)
    return example_explanations(result, ti.entity_type, scored,  # type: ignore[arg-type]
                                threshold, explain=explain)


def report_counts(previous: Path, touched: Mapping[str, _Touched],
                  loads: Mapping[str, Loads]) -> tuple[ReportCounts, list[Any]]:
    """The report's counts of the run (the previous run's, updated with each type's
    touched entities) and its explained pairs. A previous run that kept none (written
    before they were kept) has them counted over its tables once."""
    before = read_counts(previous)
    if before is None:
        log.info("%s keeps no report counts: counted over its tables", previous)
        conflicts = pa.concat_tables([loads[t].conflicts for t in touched],
                                     promote_options="default")
        before = ReportCounts({t: counted(loads[t]) for t in touched},
                              ranked_conflicts(conflicts, TOP_KEPT),
                              conflicts.num_rows <= TOP_KEPT)
    types = dict(before.types)
    for etype, t in touched.items():
        assert t.report_removed is not None and t.report_added is not None
        types[etype] = types.get(etype, TypeCounts()).updated(t.report_removed,
                                                              t.report_added)
    removed = pa.chunked_array([t.old_ids for t in touched.values()], pa.string())
    added = pa.concat_tables([t.conflicts_added for t in touched.values()
                              if t.conflicts_added is not None], promote_options="default")

    def whole() -> pa.Table:
        conflicts = read_run_table(previous, "conflicts")
        kept = conflicts.filter(pc.invert(pc.is_in(conflicts.column("entity_id"),
                                                   value_set=removed.combine_chunks())))
        return pa.concat_tables([kept, added.select(kept.column_names).cast(kept.schema)])

    top, complete = updated_top(before.top, before.top_complete, removed.combine_chunks(),
                                added, ranked_conflicts, whole)
    examples = [e for t in touched.values() for e in t.examples]
    return ReportCounts(types, top, complete), examples


def counted(loads: Loads) -> TypeCounts:
    """One type's report counts over the previous run's whole tables."""
    section = loads.ti.section
    return count_tables(records=loads.records, scored=loads.pairs,
                        threshold=section.scoring.link_threshold, clusters=loads.clusters,
                        golden=loads.golden, conflicts=loads.conflicts)
