"""The report's figures: what ``report.html`` draws, as numbers and a bounded number of
rows, built from a run's whole tables or from the counts a run keeps
(:mod:`linkage.io.report_counts`, which an incremental run updates);
:mod:`linkage.io.report` renders them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.io.report_counts import (
    TOP_CONFLICTS,
    ReportCounts,
    count_tables,
    histogram,
    ranked_conflicts,
    types_conflicts,
)
from linkage.match.explain import WeightHistogram

__all__ = ["CLUSTER_FLAGS", "LEGAL_REP_ROWS", "ClusterFigures", "ConflictFigures",
           "GoldenFigures", "ReportFigures", "cluster_figures", "cluster_rows",
           "conflict_figures", "counted_figures", "golden_figures", "legal_rep_figures",
           "threshold_weight", "weight_histogram"]


@dataclass(frozen=True)
class ClusterFigures:
    """One entity type's cluster figures: the key-value rows and the size bars."""

    rows: tuple[tuple[str, str], ...]
    bars: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class GoldenFigures:
    """One entity type's golden records: how many, and per field how often each
    survivorship rule chose the value (rules by name)."""

    rows: int
    counts: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class ConflictFigures:
    """Conflict rows per (kind, severity), the top rows (ranked) and the total."""

    counts: Sequence[Mapping[str, Any]]
    top: pa.Table
    total: int


@dataclass(frozen=True)
class ReportFigures:
    """Everything ``report.html`` shows, each part small by construction (counts, a
    histogram, a bounded number of rows): built from a run's tables by
    :func:`report_figures`, or by an engine that aggregates its tables where they live
    (:mod:`linkage.engines.spark.report`), then drawn by :func:`render_figures`."""

    summary: Mapping[str, Any]
    n_records: int
    blocking: Mapping[str, Any]
    #: entity type -> (scored pairs, weight histogram or None when no weights)
    histograms: Mapping[str, tuple[int, WeightHistogram | None]]
    thresholds: Mapping[str, float]
    explanations: Sequence[Any]
    clusters: Mapping[str, ClusterFigures]
    golden: Mapping[str, GoldenFigures]
    quality: pa.Table
    conflicts: ConflictFigures
    #: (edges per method, the first rows) or None when not resolved
    legal_reps: tuple[Sequence[tuple[str, int]], pa.Table] | None = None
    changes: pa.Table | None = None
    parameters: Mapping[str, pa.Table] | None = None
    diagnostics: Mapping[str, Sequence[Any]] | None = None


def weight_histogram(table: pa.Table, threshold: float | None
                      ) -> tuple[int, WeightHistogram | None]:
    """Scored pairs and their weight histogram, over the kept counts' fixed grid
    (:func:`linkage.io.report_counts.histogram`)."""
    return table.num_rows, histogram(count_tables(scored=table), threshold_weight(threshold))


def threshold_weight(threshold: float | None) -> float | None:
    """The link threshold as a match weight (None outside 0..1)."""
    if threshold is not None and 0.0 < threshold < 1.0:
        return math.log2(threshold / (1.0 - threshold))
    return None


def cluster_figures(clusters: pa.Table) -> dict[str, ClusterFigures]:
    """Per entity type: records, entities, multi-record entities, the largest, flagged
    entities, mean density and the entities per cluster size."""
    out: dict[str, ClusterFigures] = {}
    if clusters.num_rows == 0:
        return out
    types = sorted(t for t in pc.unique(clusters["entity_type"]).to_pylist() if t is not None)
    for etype in types:
        sub = clusters.filter(pc.equal(clusters["entity_type"], etype))
        counts = pc.value_counts(sub["entity_id"]).field("counts")
        sizes = np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)
        flagged = {}
        for flag in CLUSTER_FLAGS:
            if flag in sub.column_names:
                hit = sub.filter(pc.fill_null(sub[flag], False))
                flagged[flag] = len(pc.unique(hit["entity_id"]))
        density = pc.mean(sub["density"]).as_py() if "density" in sub.column_names else None
        out[etype] = cluster_rows(sub.num_rows, np.bincount(sizes), flagged,
                                  "density" in sub.column_names, density)
    return out


#: cluster flags counted per entity, with their label
CLUSTER_FLAGS = {"weak_bridge": "entities held by a weak bridge",
                 "repaired": "entities split by identity repair"}


def cluster_rows(n_records: int, dist: np.ndarray, flagged: Mapping[str, int],
                 has_density: bool, mean_density: float | None) -> ClusterFigures:
    """The cluster figures from the number of entities of each size (``dist[size]``)."""
    n_entities = int(dist.sum())
    bars = [(str(s) if s < 10 else "10+", float(c)) for s, c in enumerate(dist[:10]) if s]
    if len(dist) > 10:
        bars.append(("10+", float(dist[10:].sum())))
    rows = [("records", f"{n_records:,}"), ("entities", f"{n_entities:,}"),
            ("multi-record entities", f"{int(dist[2:].sum()):,}"),
            ("largest entity", f"{len(dist) - 1:,}")]
    for flag, label in CLUSTER_FLAGS.items():
        if flag in flagged:
            rows.append((label, f"{flagged[flag]:,}"))
    if has_density and n_records:
        shown = "–" if mean_density is None or math.isnan(mean_density) else \
            f"{mean_density:,.4f}"
        rows.append(("mean density (records in multi-record entities)", shown))
    return ClusterFigures(tuple(rows), tuple(bars))


def golden_figures(golden: Mapping[str, pa.Table]) -> dict[str, GoldenFigures]:
    """Per entity type: rows, and per field the count of each survivorship rule."""
    out: dict[str, GoldenFigures] = {}
    for etype, table in golden.items():
        fields = [c[: -len("__rule")] for c in table.column_names if c.endswith("__rule")]
        counts: dict[str, dict[str, int]] = {}
        for f in fields:
            vc = pc.value_counts(table[f"{f}__rule"]).to_pylist()
            counts[f] = dict(sorted(
                (("(no value)" if r["values"] is None else r["values"]), r["counts"])
                for r in vc))
        out[etype] = GoldenFigures(table.num_rows, counts)
    return out


def legal_rep_figures(edges: pa.Table) -> tuple[list[tuple[str, int]], pa.Table]:
    """Edges per method and the first rows."""
    counts = sorted(pc.value_counts(edges["method"]).to_pylist(), key=lambda r: str(r["values"]))
    return [(str(r["values"]), int(r["counts"])) for r in counts], edges.slice(0, LEGAL_REP_ROWS)


#: legal-representative edges listed in the report
LEGAL_REP_ROWS = 20


def conflict_figures(conflicts: pa.Table) -> ConflictFigures:
    """Rows per (kind, severity) and the top :data:`TOP_CONFLICTS` rows
    (:func:`ranked_conflicts`)."""
    if conflicts.num_rows == 0:
        return ConflictFigures([], conflicts, 0)
    counts = conflicts.group_by(["kind", "severity"]).aggregate([("entity_id", "count")])
    return ConflictFigures(counts.to_pylist(), ranked_conflicts(conflicts, TOP_CONFLICTS),
                           conflicts.num_rows)


def counted_figures(counts: ReportCounts, *, summary: Mapping[str, Any],
                    thresholds: Mapping[str, float], quality: pa.Table,
                    blocking: Mapping[str, Any], explanations: Sequence[Any] = (),
                    legal_reps: pa.Table | None = None, changes: pa.Table | None = None,
                    parameters: Mapping[str, pa.Table] | None = None,
                    diagnostics: Mapping[str, Sequence[Any]] | None = None) -> ReportFigures:
    """The report's figures from kept counts."""

    types = counts.types
    clusters: dict[str, ClusterFigures] = {}
    for etype, c in sorted(types.items()):
        if not c.cluster_rows:
            continue
        dist = np.zeros(max(c.sizes, default=0) + 1, dtype=np.int64)
        for size, n in c.sizes.items():
            dist[size] = n
        mean = c.density_sum / c.density_rows if c.density_rows else None
        clusters[etype] = cluster_rows(c.cluster_rows, dist, c.cluster_flags, c.has_density,
                                       mean)
    rows = [{"kind": kind, "severity": severity, "entity_id_count": n}
            for kind, by in sorted(types_conflicts(counts).items())
            for severity, n in sorted(by.items())]
    return ReportFigures(
        summary=summary, n_records=sum(c.records for c in types.values()), blocking=blocking,
        histograms={t: (c.pairs, histogram(c, threshold_weight(thresholds.get(t))))
                    for t, c in types.items()},
        thresholds=thresholds, explanations=explanations, clusters=clusters,
        golden={t: GoldenFigures(c.golden, {f: dict(sorted(r.items()))
                                            for f, r in c.rules.items()})
                for t, c in types.items()},
        quality=quality,
        conflicts=ConflictFigures(rows, counts.top.slice(0, TOP_CONFLICTS),
                                  counts.conflicts_total),
        legal_reps=None if legal_reps is None else legal_rep_figures(legal_reps),
        changes=changes, parameters=parameters, diagnostics=diagnostics)
