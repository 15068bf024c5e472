"""Write a Spark run's outputs: partitioned Parquet folders written by the executors,
the small tables and models by the driver, and ``run.json`` last (its presence means
the run folder is complete), with the same keys the embedded engine writes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from linkage.config import to_dict
from linkage.engines.spark.report import spark_report_figures
from linkage.engines.spark.review import review_queue_spark, worklists_spark
from linkage.engines.spark.run import SparkResult
from linkage.io.outputs import mask_strings, run_folder, write_json, write_parquet, write_text
from linkage.io.report import render_figures
from linkage.io.summary import _versions
from linkage.master.entity_ids import ENTITY_CHANGES
from linkage.master.gates import check_gates
from linkage.master.review import write_review

log = logging.getLogger(__name__)


def write_spark_outputs(result: SparkResult, out_dir: str | Path, *,
                        lang: str = "zh") -> dict[str, Path]:
    """Every output of ``result`` into ``out_dir``; returns name -> path. Record-sized
    tables are folders of Parquet files (``records/entity_type=person/part-*.parquet``).
    Like every run, it is written into a staging folder beside ``out_dir`` and swapped in
    whole (:func:`linkage.io.outputs.run_folder`). ``lang``: the language of
    ``report.html``."""
    out = Path(out_dir)
    with run_folder(out, inputs=[s.path for s in result.config.sources]) as stage:
        staged = _write_all(result, stage, lang)
    written = {name: out / path.relative_to(stage) for name, path in staged.items()}
    log.info("wrote %d outputs to %s", len(written), out)
    return written


def _write_all(result: SparkResult, out: Path, lang: str) -> dict[str, Path]:
    """Every output into the staging folder ``out``, ``run.json`` last with every file
    (Parquet parts included) and its size, as the local engine's run.json lists them."""
    from pyspark.sql import functions as sf

    written: dict[str, Path] = {}

    def folder(df: Any, name: str, *partition: str) -> None:
        path = out / name
        writer = df.write.mode("overwrite").option("compression", "zstd")
        if partition:
            writer = writer.partitionBy(*partition)
        writer.parquet(str(path))
        written[name] = path

    folder(result.records, "records", "entity_type")
    pairs = None
    for etype, e in result.entities.items():
        typed = e.scored.withColumn("entity_type", sf.lit(etype))
        pairs = typed if pairs is None else pairs.unionByName(typed, allowMissingColumns=True)
        folder(e.golden, f"golden_{etype}")
        written[f"model_{etype}"] = out / f"model_{etype}.json"
        e.model.save(written[f"model_{etype}"])
    if pairs is not None:
        folder(pairs, "pairs", "entity_type")
    conflicts = None
    for e in result.entities.values():
        conflicts = e.conflicts if conflicts is None else conflicts.unionByName(e.conflicts)
    if conflicts is not None:
        folder(conflicts, "conflicts")
    import pyarrow as pa

    quality = [e.quality for e in result.entities.values()]
    if quality:
        written["quality"] = write_parquet(pa.concat_tables(quality), out / "quality.parquet")
    # a Spark run has no previous run (refused), so no entity id changed
    written["entity_changes"] = write_parquet(ENTITY_CHANGES.empty_table(),
                                              out / "entity_changes.parquet")
    if result.legal_reps is not None:
        folder(result.legal_reps.orderBy("enterprise_id", "person_id"), "legal_reps")
    if result.employers is not None:
        folder(result.employers.orderBy("person_id", "enterprise_id"), "employers")
    for etype, e in result.entities.items():
        section = result.config.entity(etype)
        assert section is not None
        queue = review_queue_spark(result.records, e.scored, e.model, section)
        if queue is not None:
            written[f"review_{etype}"] = write_review(queue, out / f"review_{etype}.csv")
    if conflicts is not None:
        written.update(worklists_spark(conflicts, result.config, out))
    summary = spark_summary(result)
    written["report"] = write_text(
        render_figures(spark_report_figures(result, summary), lang=lang), out / "report.html")
    summary = mask_strings(summary)
    summary["files"] = {p.relative_to(out).as_posix(): p.stat().st_size
                        for p in sorted(out.rglob("*")) if p.is_file()}
    written["run"] = write_json(summary, out / "run.json")
    return written


def spark_summary(result: SparkResult) -> dict[str, Any]:
    """run.json's content, counted by Spark (numbers only reach the driver)."""
    from pyspark.sql import functions as sf

    inputs: dict[str, dict[str, int]] = {}
    for source, n in zip(result.config.sources, result.source_counts, strict=True):
        per = inputs.setdefault(source.department, {})
        per[source.entity_type] = per.get(source.entity_type, 0) + n
    outputs: dict[str, Any] = {"records": int(sum(result.source_counts))}
    by_kind: dict[str, int] = {}
    for etype, e in result.entities.items():
        section = result.config.entity(etype)
        assert section is not None
        threshold = section.scoring.link_threshold
        link = sf.coalesce(sf.col("match_probability"), sf.lit(0.0)) >= threshold
        if "must_link" in e.scored.columns:
            link = link | sf.coalesce(sf.col("must_link"), sf.lit(False))
        if "cannot_link" in e.scored.columns:
            link = link & ~sf.coalesce(sf.col("cannot_link"), sf.lit(False))
        kinds = {r["kind"]: int(r["count"]) for r in
                 e.conflicts.groupBy("kind").count().collect()}
        for kind, n in kinds.items():
            by_kind[kind] = by_kind.get(kind, 0) + n
        outputs[etype] = {
            "records": e.counts["records"],
            "candidate_pairs": e.counts["candidate_pairs"],
            "links": e.scored.filter(link).count(),
            "entities": e.golden.count(),
            "conflicts": sum(kinds.values()),
            "components_rounds": e.counts["components_rounds"],
        }
    flagged = result.records.filter(sf.size("flags") > 0).count()
    n_records = int(sum(result.source_counts))
    entities = sum(int(o["entities"]) for o in outputs.values() if isinstance(o, dict))
    figures = {  # what master.gates.run_figures counts (no previous run: no merges, splits)
        "max_new_merges": 0.0, "max_splits": 0.0,
        "max_identity_conflicts": float(by_kind.get("identity_conflict", 0)),
        "max_flagged_records": flagged / n_records if n_records else 0.0,
        "min_records": float(n_records)}
    gates = check_gates(result.config.gates, figures) if result.config.gates.active else []
    del entities
    return {
        "name": result.config.name,
        "engine": "spark",
        "inputs": inputs,
        "outputs": outputs,
        "records_flagged": flagged,
        "conflicts_by_kind": dict(sorted(by_kind.items())),
        "blocking": {t: e.blocking for t, e in result.entities.items()},
        "timings_s": result.timings,
        "metrics": result.metrics,
        "gates": [to_dict(g) for g in gates],
        "config": to_dict(result.config),
        "versions": {**_versions(), "pyspark": _pyspark_version()},
    }


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)
