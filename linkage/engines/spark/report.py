"""``report.html`` of a Spark run: the embedded engine's page (:mod:`linkage.io.report`),
drawn from figures Spark aggregates where the tables live. What reaches the driver is
small by construction: the weight histogram's bins, cluster sizes by size, rule counts
per field, conflict counts per kind and severity, and a bounded number of rows (the top
conflicts, the first legal-representative edges, the few records of the explained
example pairs).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa

from linkage.engines.spark.link import compare_spark
from linkage.engines.spark.run import SparkResult
from linkage.io.report_counts import (
    SEVERITY_ORDER,
    TOP_CONFLICTS,
    WEIGHT_BIN,
    TypeCounts,
    histogram,
)
from linkage.io.report_examples import example_explanations
from linkage.io.report_figures import (
    CLUSTER_FLAGS,
    LEGAL_REP_ROWS,
    ClusterFigures,
    ConflictFigures,
    GoldenFigures,
    ReportFigures,
    cluster_rows,
    threshold_weight,
)
from linkage.master.entity_ids import ENTITY_CHANGES
from linkage.match.explain import WeightHistogram


def spark_report_figures(result: SparkResult, summary: Mapping[str, Any]) -> ReportFigures:
    """The report's figures of a Spark run (``summary``: its run summary)."""
    thresholds: dict[str, float] = {}
    histograms: dict[str, tuple[int, WeightHistogram | None]] = {}
    explanations: list[Any] = []
    clusters: dict[str, ClusterFigures] = {}
    golden: dict[str, GoldenFigures] = {}
    for etype, e in result.entities.items():
        section = result.config.entity(etype)
        assert section is not None
        threshold = section.scoring.link_threshold
        thresholds[etype] = threshold
        histograms[etype] = _histogram(e.scored, threshold_weight(threshold))
        explanations.extend(_examples(result, etype, threshold))
        found = _clusters(e.clusters)
        if found is not None:
            clusters[etype] = found
        golden[etype] = _golden(e.golden)
    quality = [e.quality for e in result.entities.values()]
    conflicts = None
    for e in result.entities.values():
        conflicts = e.conflicts if conflicts is None else conflicts.unionByName(e.conflicts)
    return ReportFigures(
        summary=summary, n_records=int(summary["outputs"]["records"]),
        blocking={t: e.blocking for t, e in result.entities.items()},
        histograms=histograms, thresholds=thresholds, explanations=explanations,
        clusters=clusters, golden=golden,
        quality=pa.concat_tables(quality) if quality else pa.table({}),
        conflicts=_conflicts(conflicts),
        legal_reps=None if result.legal_reps is None else _legal_reps(result.legal_reps),
        changes=ENTITY_CHANGES.empty_table(),  # no previous run on Spark: nothing changed
        parameters={t: e.model.parameters() for t, e in result.entities.items()},
        diagnostics={t: getattr(e.model, "diagnostics_", []) for t, e in
                     result.entities.items()})


def _histogram(scored: Any, t_weight: float | None) -> tuple[int, WeightHistogram | None]:
    """The weight histogram: the finite weights counted per bin of the fixed grid the
    embedded engine's report draws (:func:`linkage.io.report_counts.histogram`)."""
    from pyspark.sql import functions as sf

    n = scored.count()
    if "match_weight" not in scored.columns or n == 0:
        return n, None
    w = sf.col("match_weight")
    finite = scored.select("match_weight").filter(
        w.isNotNull() & ~sf.isnan(w) & (w != float("inf")) & (w != float("-inf")))
    rows = finite.groupBy(sf.floor(w / sf.lit(WEIGHT_BIN)).alias("bin")) \
        .agg(sf.count(sf.lit(1)).alias("n")).collect()
    return n, histogram(TypeCounts(weights={int(r["bin"]): int(r["n"]) for r in rows}),
                        t_weight)


def _clusters(clusters: Any) -> ClusterFigures | None:
    """Records, entities by size, flagged entities and mean density of one type."""
    from pyspark.sql import functions as sf

    per = clusters.groupBy("entity_id").agg(
        sf.count(sf.lit(1)).alias("size"),
        *[sf.max(sf.coalesce(sf.col(f), sf.lit(False)).cast("int")).alias(f)
          for f in CLUSTER_FLAGS if f in clusters.columns])
    by_size = per.groupBy("size").agg(sf.count(sf.lit(1)).alias("n"),
                                      *[sf.sum(f).alias(f) for f in CLUSTER_FLAGS
                                        if f in clusters.columns]).collect()
    if not by_size:
        return None
    dist = np.zeros(max(int(r["size"]) for r in by_size) + 1, dtype=np.int64)
    for r in by_size:
        dist[int(r["size"])] = int(r["n"])
    flagged = {f: sum(int(r[f] or 0) for r in by_size) for f in CLUSTER_FLAGS
               if f in clusters.columns}
    has_density = "density" in clusters.columns
    density = clusters.agg(sf.avg("density")).first()[0] if has_density else None
    n_records = int(sum(int(r["size"]) * int(r["n"]) for r in by_size))
    return cluster_rows(n_records, dist, flagged, has_density, density)


def _golden(golden: Any) -> GoldenFigures:
    """Rule counts per field, each field's rules by name (as the embedded engine's)."""
    from pyspark.sql import functions as sf

    fields = [c[: -len("__rule")] for c in golden.columns if c.endswith("__rule")]
    counts: dict[str, dict[str, int]] = {f: {} for f in fields}
    if fields:
        stacked = golden.select("entity_id", sf.explode(sf.array(*[
            sf.struct(sf.lit(f).alias("field"), sf.col(f"{f}__rule").alias("rule"))
            for f in fields])).alias("x")).select("entity_id", "x.field", "x.rule")
        rows = stacked.groupBy("field", "rule").agg(
            sf.count(sf.lit(1)).alias("n")).collect()
        for r in rows:
            rule = "(no value)" if r["rule"] is None else r["rule"]
            counts[r["field"]][rule] = int(r["n"])
    return GoldenFigures(golden.count(), {f: dict(sorted(c.items())) for f, c in
                                          counts.items()})


def _conflicts(conflicts: Any) -> ConflictFigures:
    """Rows per kind and severity, and the top rows in the embedded report's order."""
    from pyspark.sql import functions as sf

    if conflicts is None:
        return ConflictFigures([], pa.table({}), 0)
    counts = [{"kind": r["kind"], "severity": r["severity"], "entity_id_count": int(r["n"])}
              for r in conflicts.groupBy("kind", "severity")
              .agg(sf.count(sf.lit(1)).alias("n")).collect()]
    total = sum(r["entity_id_count"] for r in counts)
    rank = sf.lit(len(SEVERITY_ORDER))
    for i, severity in reversed(list(enumerate(SEVERITY_ORDER))):
        rank = sf.when(sf.col("severity") == severity, sf.lit(i)).otherwise(rank)
    top = conflicts.withColumn("_rank", rank) \
        .withColumn("_n", -sf.coalesce(sf.size("candidates"), sf.lit(0))) \
        .orderBy("_rank", "_n", "entity_id", "field", "kind").limit(TOP_CONFLICTS) \
        .drop("_rank", "_n").toArrow()
    return ConflictFigures(counts, top, total)


def _legal_reps(edges: Any) -> tuple[list[tuple[str, int]], pa.Table]:
    from pyspark.sql import functions as sf

    counts = sorted(((str(r["method"]), int(r["n"])) for r in edges.groupBy("method")
                     .agg(sf.count(sf.lit(1)).alias("n")).collect()), key=lambda r: r[0])
    first = edges.orderBy("enterprise_id", "person_id").limit(LEGAL_REP_ROWS).toArrow()
    return counts, first


# --- explained example pairs ---------------------------------------------------------------


def _examples(result: SparkResult, etype: str, threshold: float, n: int = 3) -> list[Any]:
    """The embedded report's example pairs (the least certain links, the most likely
    non-link; ties by pair), explained from the few records they name."""
    from pyspark.sql import functions as sf

    e = result.entities[etype]
    prob = sf.col("match_probability")
    links = e.scored.filter(prob >= threshold).orderBy(
        sf.col("match_weight").asc_nulls_last(), "id_l", "id_r").limit(n - 1)
    near = e.scored.filter(prob < threshold).orderBy(
        sf.col("match_weight").desc_nulls_last(), "id_l", "id_r").limit(1)
    scored = links.unionByName(near).toArrow()
    if scored.num_rows == 0:
        return []
    ids = sorted(set(scored.column("id_l").to_pylist()) | set(scored.column("id_r").to_pylist()))
    records = result.records.filter(sf.col("record_id").isin(ids)).toArrow()
    chosen = e.scored.sparkSession.createDataFrame(
        scored.select(["id_l", "id_r"])).withColumn("pass_name", sf.lit("explain"))
    pairs = e.pairs.join(chosen.select("id_l", "id_r"), ["id_l", "id_r"]).toArrow()
    # compared by Spark: term frequencies count the whole run, not these few records
    vectors = compare_spark(e.records, chosen, e.model.comparisons).toArrow()
    tiny = _Few(result, etype, records, scored, pairs, threshold, vectors)
    return example_explanations(tiny, etype, scored, threshold, n,  # type: ignore[arg-type]
                                explain=tiny.explain)


class _Few:
    """The part of a pipeline result that explaining a few pairs reads, over only their
    records (an explanation compares two records with the fitted model)."""

    def __init__(self, result: SparkResult, etype: str, records: pa.Table, scored: pa.Table,
                 pairs: pa.Table, threshold: float, vectors: pa.Table) -> None:
        self.config = result.config
        self.records = records
        model = result.entities[etype].model
        self.entities = {etype: SimpleNamespace(records=records, model=model)}
        self._scored, self._pairs, self._threshold, self._model = scored, pairs, threshold, model
        self._vectors = vectors

    def explain(self, left: int, right: int) -> Any:
        from linkage.io.explained import explain_records

        return explain_records(self.records, self._model, left, right, scored=self._scored,
                               threshold=self._threshold, candidates=self._pairs,
                               vectors=self._vectors)
