"""Linkage metrics of a Spark run against the generator's ground truth, by group-bys.

The embedded engine's :func:`linkage.evaluate.cluster_metrics` is cluster-size
combinatorics: with ``c`` records of true entity ``t`` in predicted cluster ``p``, the cell
(p, t) gives ``c(c-1)/2`` true-positive pairs, ``c*c/|p|`` to B-cubed precision and
``c*c/|t|`` to B-cubed recall. Spark counts the cells and sums those terms; one row per
entity type reaches the driver. The figures are the embedded engine's, up to the order of
floating-point sums.

Left to one machine (``linkage evaluate --truth ... --run ...``): golden-value accuracy,
conflict recall per injected error and standardisation repair, which compare values
field by field against the generator's entity tables; ``metrics["not_on_spark"]`` names
them.
"""

from __future__ import annotations

import logging
from typing import Any

from linkage.evaluate import IDENTITY_FIELD, _f1

log = logging.getLogger(__name__)

_KEY = ["source", "entity_type", "source_key"]
#: the parts of the embedded engine's metrics a Spark run leaves out
NOT_ON_SPARK = ("golden", "conflicts", "standardisation")


def evaluate_spark(records: Any, config: Any) -> dict[str, Any] | None:
    """Metrics of ``records`` (every record with its entity id) against the truth folder
    the pipeline names, or None when it has no readable ``records.parquet``."""
    truth_dir = config.truth
    if truth_dir is None or not (truth_dir / "records.parquet").is_file():
        return None
    try:
        return _evaluate(records, str(truth_dir / "records.parquet"))
    except Exception as exc:  # a foreign truth folder must not cost the run its outputs
        log.warning("truth %s could not be evaluated against (%s); no metrics", truth_dir,
                    type(exc).__name__)
        return None


def _evaluate(records: Any, truth_path: str) -> dict[str, Any]:
    from pyspark.sql import functions as sf

    spark = records.sparkSession
    truth = spark.read.parquet(truth_path).select(
        *[sf.col(k).cast("string").alias(k) for k in _KEY],
        sf.col("true_entity_id").cast("string").alias("t"))
    run = records.select(*[sf.col(k).cast("string").alias(k) for k in _KEY],
                         sf.col("entity_id").cast("string").alias("p"))
    # each intermediate is materialised once (localCheckpoint): the sums below read it
    joined = run.join(truth.dropDuplicates(_KEY), _KEY).select("entity_type", "p", "t") \
        .localCheckpoint(eager=True)
    result: dict[str, Any] = {"records_in_run": run.count(), "records_in_truth": truth.count(),
                              "records_matched": joined.count()}
    sizes_p = joined.groupBy("entity_type", "p").agg(sf.count(sf.lit(1)).alias("np")) \
        .localCheckpoint(eager=True)
    sizes_t = joined.groupBy("entity_type", "t").agg(sf.count(sf.lit(1)).alias("nt")) \
        .localCheckpoint(eager=True)
    cells = joined.groupBy("entity_type", "p", "t").agg(sf.count(sf.lit(1)).alias("c")) \
        .join(sizes_p, ["entity_type", "p"]).join(sizes_t, ["entity_type", "t"])
    c = sf.col("c").cast("double")
    by_cell = {r["entity_type"]: r for r in cells.groupBy("entity_type").agg(
        sf.sum(c * (c - 1) / 2).alias("tp"), sf.sum(c * c / sf.col("np")).alias("bp"),
        sf.sum(c * c / sf.col("nt")).alias("br"), sf.sum(c).alias("n")).collect()}

    def pairs(df: Any, size: str) -> dict[str, tuple[int, float]]:
        n = sf.col(size).cast("double")
        return {r["entity_type"]: (int(r["k"]), float(r["pairs"])) for r in df.groupBy(
            "entity_type").agg(sf.count(sf.lit(1)).alias("k"),
                               sf.sum(n * (n - 1) / 2).alias("pairs")).collect()}

    predicted, true = pairs(sizes_p, "np"), pairs(sizes_t, "nt")
    for etype in sorted(by_cell):
        row = by_cell[etype]
        n = int(row["n"])
        tp, pp, tpairs = float(row["tp"]), predicted[etype][1], true[etype][1]
        precision = tp / pp if pp else 1.0
        recall = tp / tpairs if tpairs else 1.0
        b_precision = float(row["bp"]) / n if n else 1.0
        b_recall = float(row["br"]) / n if n else 1.0
        metrics: dict[str, Any] = {
            "records": n, "predicted_entities": predicted[etype][0],
            "true_entities": true[etype][0],
            "pairwise": {"precision": precision, "recall": recall,
                         "f1": _f1(precision, recall), "true_positives": int(tp),
                         "predicted_pairs": int(pp), "true_pairs": int(tpairs)},
            "bcubed": {"precision": b_precision, "recall": b_recall,
                       "f1": _f1(b_precision, b_recall)},
        }
        identity = IDENTITY_FIELD.get(etype)
        if identity is not None and identity[1] in records.columns:
            label, column, status = identity
            metrics[f"clusters_with_two_valid_{label}"] = _two_ids(records, etype, column,
                                                                  status)
        result[etype] = metrics
    result["not_on_spark"] = list(NOT_ON_SPARK)
    return result


def _two_ids(records: Any, etype: str, column: str, status: str) -> int:
    """Predicted entities whose records hold two different valid values of ``column``."""
    from pyspark.sql import functions as sf

    ok = (sf.col("entity_type") == etype) & sf.col(column).isNotNull()
    if status in records.columns:
        ok = ok & sf.coalesce(sf.col(status).startswith("ok"), sf.lit(False))
    return int(records.filter(ok).groupBy("entity_id")
               .agg(sf.countDistinct(column).alias("k")).filter(sf.col("k") > 1).count())
