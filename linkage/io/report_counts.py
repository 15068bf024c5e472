"""The report's figures as counts a run folder keeps, so an incremental run updates them.

``report.html`` shows counts, histograms and sums (shares are drawn from them), never a
value that needs every row at once. A run writes them beside its report
(``report_counts.json``, with the top conflicts' rows in
``report_top_conflicts.parquet``); an incremental run takes the touched entities' old
contributions out (their records, clusters, golden records and conflicts as they were,
the scored pairs of the records it retires) and puts their new ones in, then draws the
page from the result, at the cost of the batch, not of the master.

What each figure is kept as:

- records, flagged records, records per department and type: counts;
- scored pairs and links: counts; the match-weight histogram: counts over a fixed grid
  of :data:`WEIGHT_BIN`-wide bins (drawn over the bins that hold a pair, coarsened by
  powers of two to at most :data:`MAX_BINS` bars), so it adds up whatever the range;
- clusters: entities per size, entities flagged per flag, the sum and count of the
  density (its mean is their quotient: exact to float rounding, shown to 4 places);
- golden records: rows, and per field the count of each survivorship rule;
- conflicts: rows per (kind, severity), and the :data:`TOP_KEPT` first rows in the
  report's order. The top :data:`TOP_CONFLICTS` are those of the
  kept rows that outlived the night with the night's new ones merged in; this is exact
  (a row the night did not touch that was not kept ranks below every kept row) as long
  as the kept rows that remain are at least as many as the page shows, else the top is
  ranked again from the whole conflicts table (rare: a night retires a few of them).

Not kept, chosen each night instead: the explained example pairs of an incremental run
are taken among the night's scored pairs whose two records are both in the entities it
touched (the least certain links and the most likely non-link of those), not among every
pair of the master. Everything else the page shows is small and taken from the result as
it is (blocking report, model, entity changes, legal representatives, department quality).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.master.cluster import link_mask
from linkage.master.groups import as_ints
from linkage.match.explain import WeightHistogram

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

__all__ = ["COUNTS_FILE", "COUNTS_FORMAT", "MAX_BINS", "SEVERITY_ORDER", "TOP_CONFLICTS",
           "TOP_FILE", "TOP_KEPT", "WEIGHT_BIN", "ReportCounts", "TypeCounts", "count_tables",
           "histogram", "ranked_conflicts", "read_counts", "result_counts", "types_conflicts",
           "updated_top"]

COUNTS_FILE, TOP_FILE = "report_counts.json", "report_top_conflicts.parquet"
#: conflict rows the report shows, most severe first
TOP_CONFLICTS = 50
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
#: the width of the weight histogram's bins (in bits of match weight) and its most bars
WEIGHT_BIN, MAX_BINS = 0.25, 64
#: conflict rows kept in the report's order, for the top the page shows
TOP_KEPT = 200
COUNTS_FORMAT = "linkage.report_counts/1"
_CLUSTER_FLAGS = ("weak_bridge", "repaired")


@dataclass
class TypeCounts:
    """One entity type's figures as counts (see the module's docstring)."""

    records: int = 0
    flagged: int = 0
    inputs: dict[str, int] = field(default_factory=dict)
    pairs: int = 0
    links: int = 0
    weights: dict[int, int] = field(default_factory=dict)
    cluster_rows: int = 0
    sizes: dict[int, int] = field(default_factory=dict)
    cluster_flags: dict[str, int] = field(default_factory=dict)
    has_density: bool = False
    density_sum: float = 0.0
    density_rows: int = 0
    golden: int = 0
    rules: dict[str, dict[str, int]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, int]] = field(default_factory=dict)

    def plus(self, other: TypeCounts, sign: int = 1) -> TypeCounts:
        """These counts with ``other``'s added (``sign=-1``: taken out)."""
        return TypeCounts(
            records=self.records + sign * other.records,
            flagged=self.flagged + sign * other.flagged,
            inputs=_add(self.inputs, other.inputs, sign),
            pairs=self.pairs + sign * other.pairs, links=self.links + sign * other.links,
            weights=_add(self.weights, other.weights, sign),
            cluster_rows=self.cluster_rows + sign * other.cluster_rows,
            sizes=_add(self.sizes, other.sizes, sign),
            cluster_flags=_add(self.cluster_flags, other.cluster_flags, sign, keep_zero=True),
            has_density=self.has_density or other.has_density,
            density_sum=self.density_sum + sign * other.density_sum,
            density_rows=self.density_rows + sign * other.density_rows,
            golden=self.golden + sign * other.golden,
            rules={f: _add(self.rules.get(f, {}), other.rules.get(f, {}), sign)
                   for f in dict.fromkeys([*self.rules, *other.rules])},
            conflicts=_drop_empty({k: _add(self.conflicts.get(k, {}), other.conflicts.get(k, {}),
                                           sign)
                                   for k in dict.fromkeys([*self.conflicts, *other.conflicts])}))

    def updated(self, removed: TypeCounts, added: TypeCounts) -> TypeCounts:
        return self.plus(removed, -1).plus(added)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("weights", "sizes"):
            data[name] = {str(k): v for k, v in sorted(data[name].items())}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TypeCounts:
        counts = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        counts.weights = {int(k): int(v) for k, v in counts.weights.items()}
        counts.sizes = {int(k): int(v) for k, v in counts.sizes.items()}
        return counts


def _add(a: Mapping[Any, int], b: Mapping[Any, int], sign: int, *,
         keep_zero: bool = False) -> dict[Any, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
    return {k: v for k, v in out.items() if v or keep_zero}


def _drop_empty(d: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {k: v for k, v in d.items() if v}


@dataclass
class ReportCounts:
    """Every type's counts and the first conflict rows in the report's order (``top``;
    ``top_complete``: they are every conflict of the run)."""

    types: dict[str, TypeCounts]
    top: pa.Table
    top_complete: bool

    @property
    def conflicts_total(self) -> int:
        return sum(n for t in self.types.values() for s in t.conflicts.values()
                   for n in s.values())


def count_tables(*, records: pa.Table | None = None, scored: pa.Table | None = None,
                 threshold: float | None = None, clusters: pa.Table | None = None,
                 golden: pa.Table | None = None,
                 conflicts: pa.Table | None = None) -> TypeCounts:
    """One type's counts of the rows given (a whole run's, or some entities' part)."""
    out = TypeCounts()
    if records is not None:
        out.records = records.num_rows
        if "flags" in records.column_names:
            out.flagged = int(pc.sum(pc.greater(pc.list_value_length(records["flags"]), 0))
                              .as_py() or 0)
        if "source" in records.column_names and records.num_rows:
            out.inputs = {str(r["values"]): int(r["counts"])
                          for r in pc.value_counts(records["source"]).to_pylist()}
    if scored is not None:
        out.pairs = scored.num_rows
        if threshold is not None and scored.num_rows:
            out.links = int(link_mask(scored, threshold).sum())
        if "match_weight" in scored.column_names and scored.num_rows:
            w = np.asarray(pc.fill_null(scored["match_weight"], np.nan).to_numpy(),
                           dtype=np.float64)
            w = w[np.isfinite(w)]
            bins, n = np.unique(np.floor(w / WEIGHT_BIN).astype(np.int64), return_counts=True)
            out.weights = dict(zip(bins.tolist(), n.tolist(), strict=True))
    if clusters is not None:
        _count_clusters(clusters, out)
    if golden is not None:
        out.golden = golden.num_rows
        for f in [c[: -len("__rule")] for c in golden.column_names if c.endswith("__rule")]:
            vc = pc.value_counts(golden[f"{f}__rule"]).to_pylist() if golden.num_rows else []
            out.rules[f] = {("(no value)" if r["values"] is None else str(r["values"])):
                            int(r["counts"]) for r in vc}
    if conflicts is not None and conflicts.num_rows:
        table = pa.table({"kind": pc.cast(conflicts["kind"], pa.string()),
                          "severity": pc.cast(conflicts["severity"], pa.string())})
        for r in table.group_by(["kind", "severity"]).aggregate([("kind", "count")]) \
                .to_pylist():
            out.conflicts.setdefault(str(r["kind"]), {})[str(r["severity"])] = \
                int(r["kind_count"])
    return out


def _count_clusters(clusters: pa.Table, out: TypeCounts) -> None:
    out.cluster_rows = clusters.num_rows
    if clusters.num_rows:
        sizes = np.asarray(pc.value_counts(clusters["entity_id"]).field("counts")
                           .to_numpy(zero_copy_only=False), dtype=np.int64)
        size, n = np.unique(sizes, return_counts=True)
        out.sizes = dict(zip(size.tolist(), n.tolist(), strict=True))
    for flag in _CLUSTER_FLAGS:
        if flag in clusters.column_names:
            hit = clusters.filter(pc.fill_null(clusters[flag], False))
            out.cluster_flags[flag] = len(pc.unique(hit["entity_id"]))
    if "density" in clusters.column_names:
        out.has_density = True
        density = clusters["density"]
        out.density_sum = float(pc.sum(density).as_py() or 0.0)
        out.density_rows = len(density) - density.null_count


def histogram(counts: TypeCounts, threshold_weight: float | None) -> WeightHistogram | None:
    """The weight histogram drawn from the kept bins: from the lowest bin holding a pair
    to the highest (widened to the threshold), in bins coarsened by powers of two."""
    if not counts.weights:
        return None
    lo_i, hi_i = min(counts.weights), max(counts.weights)
    if threshold_weight is not None and math.isfinite(threshold_weight):
        t = math.floor(threshold_weight / WEIGHT_BIN)
        lo_i, hi_i = min(lo_i, t), max(hi_i, t)
    factor = 1
    while hi_i // factor - lo_i // factor + 1 > MAX_BINS:
        factor *= 2
    first = lo_i // factor
    bars = np.zeros(hi_i // factor - first + 1, dtype=np.int64)
    for k, n in counts.weights.items():
        bars[k // factor - first] += n
    return WeightHistogram(bars, first * factor * WEIGHT_BIN,
                           (first + len(bars)) * factor * WEIGHT_BIN)


def read_counts(folder: Path) -> ReportCounts | None:
    """A run's kept counts (None: the run kept none, or in another format)."""
    path, top = folder / COUNTS_FILE, folder / TOP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != COUNTS_FORMAT:
            return None
        return ReportCounts({t: TypeCounts.from_json(c) for t, c in data["types"].items()},
                            pq.read_table(top), bool(data["top_complete"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def updated_top(top: pa.Table, complete: bool, removed: pa.Array, added: pa.Table,
                rank: Callable[[pa.Table, int], pa.Table],
                whole: Callable[[], pa.Table]) -> tuple[pa.Table, bool]:
    """The kept first conflict rows after a night: the kept rows but those of the
    entities ``removed``, with ``added`` merged in, cut where the rows not kept could
    rank (after the last kept row that remains); ranked again from ``whole()`` when fewer
    than the page shows remain. ``rank(table, n)``: a table's first ``n`` rows in the
    report's order."""
    kept = top.filter(pc.invert(pc.is_in(pc.cast(top["entity_id"], pa.string()),
                                         value_set=removed.cast(pa.string()))))
    if added.num_rows:
        added = added.select(kept.column_names).cast(kept.schema)
    marked = pa.concat_tables([kept.append_column("__kept", pa.repeat(True, kept.num_rows)),
                               added.append_column("__kept",
                                                   pa.repeat(False, added.num_rows))])
    ranked = rank(marked, marked.num_rows)
    if complete:
        cut = ranked.num_rows
    else:
        flags = np.asarray(ranked["__kept"].to_numpy(zero_copy_only=False), dtype=bool)
        cut = int(np.flatnonzero(flags)[-1]) + 1 if flags.any() else 0
    cut = min(cut, TOP_KEPT)
    if complete or cut >= TOP_CONFLICTS:
        return ranked.slice(0, cut).drop_columns(["__kept"]), complete and \
            ranked.num_rows <= TOP_KEPT
    table = whole()
    return rank(table, TOP_KEPT), table.num_rows <= TOP_KEPT


def result_counts(result: PipelineResult) -> ReportCounts:
    """The counts of a run's whole tables (what
    :func:`~linkage.io.report.result_figures` draws)."""
    from linkage.io.report_examples import rows_of_type

    types: dict[str, TypeCounts] = {}
    for etype, e in result.entities.items():
        section = result.config.entity(etype)
        types[etype] = count_tables(
            records=rows_of_type(result.records, etype), scored=e.scored,
            threshold=section.scoring.link_threshold if section is not None else None,
            clusters=e.clusters, golden=e.golden, conflicts=e.conflicts)
        raw = result.raw_records
        raw = raw.filter(pc.equal(raw["entity_type"], etype))
        types[etype].inputs = {str(r["values"]): int(r["counts"]) for r in
                               pc.value_counts(raw["source"]).to_pylist()} if raw.num_rows \
            else {}
    conflicts = result.conflicts
    return ReportCounts(types, ranked_conflicts(conflicts, TOP_KEPT),
                        conflicts.num_rows <= TOP_KEPT)


def types_conflicts(counts: ReportCounts) -> dict[str, dict[str, int]]:
    """Conflict rows per kind and severity over every type."""
    out: dict[str, dict[str, int]] = {}
    for c in counts.types.values():
        for kind, by in c.conflicts.items():
            mine = out.setdefault(kind, {})
            for severity, n in by.items():
                mine[severity] = mine.get(severity, 0) + n
    return out



def ranked_conflicts(conflicts: pa.Table, n: int) -> pa.Table:
    """The first ``n`` conflict rows in the report's order: most severe first, then most
    candidates, then by entity, field and kind. Only the rows that can be among them by
    severity and candidates are sorted by their strings (the sort is stable, so the rows
    and their order are those of sorting every row)."""
    if conflicts.num_rows == 0 or n <= 0:
        return conflicts.slice(0, 0)
    rank = as_ints(pc.fill_null(pc.index_in(pc.cast(conflicts["severity"], pa.string()),
                                            value_set=pa.array(SEVERITY_ORDER)),
                                len(SEVERITY_ORDER)))
    lengths = pc.list_value_length(conflicts["candidates"])
    size = as_ints(pc.fill_null(lengths, -1))
    # one integer per row ordered as (rank ascending, candidates descending; no list last)
    most = int(size.max()) + 1
    key = rank * (most + 2) + np.where(size < 0, most + 1, most - size)
    if len(key) > n:
        cut = np.partition(key, n - 1)[n - 1]
        near = np.flatnonzero(key <= cut)
    else:
        near = np.arange(len(key))
    picked = conflicts.take(pa.array(near))
    ranked = picked.append_column("_key", pa.array(key[near]))
    order = pc.sort_indices(ranked, sort_keys=[("_key", "ascending"),
                                               ("entity_id", "ascending"),
                                               ("field", "ascending"), ("kind", "ascending")])
    return picked.take(order.slice(0, n))
