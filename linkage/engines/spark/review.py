"""What a Spark run hands to people: the clerical review queue and the departments'
correction worklists, built by the embedded engine's functions
(:func:`linkage.master.review.review_queue`, :func:`linkage.io.worklists.write_worklists`)
from sets Spark filters first.

- The review queue is at most ``queue_size`` pairs: Spark keeps the pairs within
  ``band_bits`` of the threshold, closest first (ties by pair, the embedded engine's
  order), and only those pairs and their records reach the driver.
- A department's worklist is its conflicts: Spark keeps the conflict rows that list one
  of the department's records, on a field its file carries, of a kind worth correcting,
  and one executor task per department writes its files into the run folder (a
  department's files are one CSV per source and one workbook, so one task writes them);
  nothing of them reaches the driver but their names. An xlsx sheet holds at most about a
  million rows; a department with more than that to correct is better served by the
  ``conflicts`` Parquet folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from linkage.config import EntityConfig, PipelineConfig
from linkage.io.worklists import _SKIP_KINDS, write_worklists
from linkage.master.review import MASKED_STANDARDISERS, review_queue
from linkage.match.score import FellegiSunter


def review_queue_spark(records: Any, scored: Any, model: FellegiSunter,
                       section: EntityConfig) -> pa.Table | None:
    """The review queue of one entity type (None when the section asks for none)."""
    from pyspark.sql import functions as sf

    review = section.review
    if not review.queue_size:
        return None
    t_weight = model.threshold_weight
    w = sf.col("match_weight")
    distance = sf.abs(w - sf.lit(t_weight))
    near = w.isNotNull() & ~sf.isnan(w) & (w != float("inf")) & (w != float("-inf")) \
        & (distance <= sf.lit(review.band_bits))
    for flag in ("must_link", "cannot_link"):
        if flag in scored.columns:
            near = near & ~sf.coalesce(sf.col(flag), sf.lit(False))
    picked = scored.filter(near).withColumn("__distance", distance) \
        .orderBy("__distance", "id_l", "id_r").limit(review.queue_size).drop("__distance")
    pairs = picked.toArrow()
    ids = sorted(set(pairs.column("id_l").to_pylist()) | set(pairs.column("id_r").to_pylist()))
    fields = list(section.fields)
    wanted = ["record_id", "source", "source_key", *[f for f in fields if f in records.columns]]
    few = records.filter(sf.col("record_id").isin(ids)).select(*wanted).toArrow() \
        if ids else _empty(records, wanted)
    masked = [f for f, kind in section.fields.items() if kind in MASKED_STANDARDISERS]
    return review_queue(few, pairs, threshold_weight=t_weight, fields=fields, masked=masked,
                        size=review.queue_size, band_bits=review.band_bits)


def _empty(df: Any, columns: list[str]) -> pa.Table:
    from linkage.engines.spark.frames import empty_like

    return empty_like(df.select(*columns).schema)


def worklists_spark(conflicts: Any, config: PipelineConfig, folder: Path) -> dict[str, Path]:
    """``<folder>/worklists/`` as the embedded engine writes it, one department at a time
    from the conflict rows that concern it, each department's files written by one
    executor task (:func:`_written_by_one_task`)."""
    from pyspark.sql import functions as sf

    written: dict[str, Path] = {}
    departments: dict[str, list[Any]] = {}
    for source in config.sources:
        departments.setdefault(source.department, []).append(source)
    for department, sources in departments.items():
        mine = None
        for source in sources:
            rows = conflicts.filter(
                (sf.col("entity_type") == source.entity_type)
                & ~sf.col("kind").isin(sorted(_SKIP_KINDS))
                & sf.col("field").isin(sorted(dict(source.columns)))
                & sf.array_contains(sf.col("candidates.source"), department))
            mine = rows if mine is None else mine.unionByName(rows)
        assert mine is not None
        written.update(_written_by_one_task(mine, sources, folder))
    return written


def _written_by_one_task(rows: Any, sources: list[Any], folder: Path) -> dict[str, Path]:
    """:func:`write_worklists` of one department run in one Spark task: its rows go to one
    partition, whose task writes the department's files into the run folder (where the
    executors write the Parquet tables too), so a department's worklist never passes
    through the driver; only the files' names and paths come back."""
    target = str(folder)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parts = list(batches)
        table = pa.Table.from_batches(parts) if parts else empty
        done = write_worklists(table, sources, target)
        yield pa.record_batch([pa.array(list(done), pa.string()),
                               pa.array([str(p) for p in done.values()], pa.string())],
                              names=["name", "path"])

    from linkage.engines.spark.frames import empty_like

    empty = empty_like(rows.schema)
    found = rows.coalesce(1).mapInArrow(write, "name string, path string").collect()
    if not found:  # no partition to run on: the department's lists are empty
        return write_worklists(empty, sources, folder)
    return {r["name"]: Path(r["path"]) for r in found}


def decisions_spark(records: Any, vectors: Any, scored: Any, model: FellegiSunter,
                    section: EntityConfig, rescore: Any) -> Any:
    """``scored`` with the section's review decisions applied, as the embedded engine
    applies them (:func:`linkage.master.review.apply_decisions`): a reviewer's file is
    small, so the decided pairs' rows and the records they name reach the driver; the
    function sets their flags there and Spark puts them back among the other pairs. With
    ``train`` the decided matches first refine m (their comparison vectors computed by
    Spark, with run-wide term frequencies) and ``rescore(model)`` scores the pairs again."""
    from pyspark.sql import functions as sf

    from linkage.engines.spark.frames import arrow_schema, conform
    from linkage.engines.spark.link import compare_spark
    from linkage.master.review import apply_decisions
    from linkage.match.labels import m_from_labels, read_pair_labels, resolve
    from linkage.pipeline import _read_header

    review = section.review
    assert review.decisions is not None
    spark = scored.sparkSession
    column = "decision" if "decision" in _read_header(review.decisions) else "label"
    decisions = read_pair_labels(review.decisions, column=column)
    named = {(s, k) for side in ("l", "r") for s, k in zip(
        decisions.column(f"source_{side}").to_pylist(),
        decisions.column(f"source_key_{side}").to_pylist(), strict=True)}
    keys = spark.createDataFrame(sorted(named), "source string, source_key string")
    few = records.select("record_id", "source", "source_key") \
        .join(sf.broadcast(keys), ["source", "source_key"]).toArrow().sort_by("record_id")
    id_l, id_r, is_match, _ = resolve(few, decisions)
    if review.train and is_match.any():
        matches = spark.createDataFrame(
            list(zip(id_l[is_match].tolist(), id_r[is_match].tolist(), strict=True)),
            "id_l long, id_r long").withColumn("pass_name", sf.lit("review"))
        labelled = compare_spark(records, matches, model.comparisons).toArrow()
        model.m_ = m_from_labels(labelled, model.comparisons, model.m_)
        scored = rescore(model)
    decided = spark.createDataFrame(list(zip(id_l.tolist(), id_r.tolist(), strict=True)),
                                    "id_l long, id_r long")
    for flag in ("must_link", "cannot_link"):
        if flag not in scored.columns:
            scored = scored.withColumn(flag, sf.lit(False))
        else:
            scored = scored.withColumn(flag, sf.coalesce(sf.col(flag), sf.lit(False)))
    rows = scored.join(sf.broadcast(decided), ["id_l", "id_r"]).select(*scored.columns)
    target = arrow_schema(scored.schema)
    done = conform(apply_decisions(few, rows.toArrow(), decisions), target)
    rest = scored.join(sf.broadcast(decided), ["id_l", "id_r"], "left_anti")
    return rest.unionByName(spark.createDataFrame(done, schema=scored.schema))
