"""The pipeline on Spark: the same pipeline file, stages and results as the embedded
engine, with Spark doing the shuffles. A stage's data stays in DataFrames (persisted
between stages and counted, so each stage's time is its own); what reaches the driver
is bounded by the configuration, never by the number of records: source and pattern
counts, the u sample, per-pass blocking figures and the quality table.

Persons and enterprises are tied (legal representatives, employers) once both types'
golden records exist, before conflicts and quality, as the embedded engine does
(:mod:`.links`). Not on Spark (yet): entity ids carried over from a previous run, and
blocking passes other than ``exact``; a pipeline asking for either is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.config import EntityConfig, PipelineConfig
from linkage.engines.spark.link import (
    block_spark,
    compare_spark,
    fit_spark,
    predict_spark,
    standardise_spark,
)
from linkage.engines.spark.links import (
    employers_spark,
    enterprise_codes_spark,
    legal_reps_spark,
    person_names_spark,
)
from linkage.engines.spark.master import (
    cluster_spark,
    conflicts_spark,
    entity_groups,
    golden_spark,
    quality_spark,
)
from linkage.engines.spark.read import read_sources_spark
from linkage.engines.spark.review import decisions_spark
from linkage.errors import LinkageError
from linkage.match.score import FellegiSunter

log = logging.getLogger(__name__)

T = TypeVar("T")
_GROUP = "__group"


@dataclass
class SparkEntity:
    """One entity type's DataFrames (lazy, persisted) and its small results."""

    entity_type: str
    records: Any
    pairs: Any
    scored: Any
    clusters: Any
    golden: Any
    conflicts: Any
    quality: pa.Table
    model: FellegiSunter
    blocking: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    #: records with entity_id and the entity bucket (what the per-entity stages group by)
    grouped: Any = None


@dataclass
class SparkResult:
    """What a Spark run produced: DataFrames to write or inspect, plus counts."""

    config: PipelineConfig
    raw: Any
    records: Any
    entities: dict[str, SparkEntity]
    source_counts: list[int]
    timings: dict[str, float] = field(default_factory=dict)
    #: enterprise -> legal representative edges (LegalRepEdges), when both types ran
    legal_reps: Any = None
    #: person -> employer edges (EmployerEdges), when both types ran with employer fields
    employers: Any = None
    #: linkage metrics against the pipeline's ground truth (:mod:`.evaluate`), or None
    metrics: dict[str, Any] | None = None

    def golden(self, entity_type: str) -> Any:
        """Golden records of one entity type (a DataFrame)."""
        return self.entities[entity_type].golden


def run_spark(
    config: PipelineConfig,
    *,
    spark: Any = None,
    frames: Mapping[str, Any] | None = None,
    conf: Mapping[str, str] | None = None,
    n_buckets: int | None = None,
    previous: Any = None,
    evaluate: bool = True,
) -> SparkResult:
    """Run every stage of ``config`` on Spark. ``spark``: a SparkSession (default: get or
    create one with ``conf``, local when nothing else is configured); ``frames``: Spark
    DataFrames that replace sources (by department or ``department/entity_type``);
    ``n_buckets``: groups of entities handed to the per-entity stages (default: the
    session's shuffle partitions); ``evaluate=False`` skips the linkage metrics against the
    pipeline's ground truth."""

    if previous is not None:
        raise LinkageError("the Spark engine does not carry entity ids over from a previous "
                           "run yet; run without --previous or with the local engine")
    if spark is None:
        from linkage.engines.spark.session import spark_session

        spark = spark_session(conf, master="local[*]")
    buckets = n_buckets or int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    timings: dict[str, float] = {}
    with _timed(timings, "read"):
        raw, sizes = read_sources_spark(spark, config, frames)
        raw = cut(raw)
    entities: dict[str, SparkEntity] = {}
    for etype in config.entity_types:
        section = config.entity(etype)
        assert section is not None
        entities[etype] = _link(spark, config, etype, section, raw, sizes, buckets, timings)
    with _timed(timings, "legal_reps"):
        legal_reps = _legal_reps(entities, buckets)
    with _timed(timings, "employers"):
        employers = _employers(entities, buckets)
    for etype, entity in entities.items():
        section = config.entity(etype)
        assert section is not None
        _report(entity, section, timings)
    with _timed(timings, "records"):
        records = cut(_records_with_entities(raw, entities))
    metrics = None
    if evaluate and config.truth is not None and config.truth.is_dir():
        from linkage.engines.spark.evaluate import evaluate_spark

        with _timed(timings, "evaluate"):
            metrics = evaluate_spark(records, config)
    return SparkResult(config=config, raw=raw, records=records, entities=entities,
                       source_counts=sizes, timings=timings, legal_reps=legal_reps,
                       employers=employers, metrics=metrics)


def _legal_reps(entities: Mapping[str, SparkEntity], buckets: int) -> Any:
    """Enterprise -> person edges, and the enterprise golden names the person settles."""
    person, enterprise = entities.get("person"), entities.get("enterprise")
    if person is None or enterprise is None:
        return None
    edges = cut(legal_reps_spark(enterprise.golden, enterprise.grouped, person.grouped,
                                 n_buckets=buckets))
    enterprise.golden = cut(person_names_spark(enterprise.golden, enterprise.grouped, edges,
                                               person.golden))
    return edges


def _employers(entities: Mapping[str, SparkEntity], buckets: int) -> Any:
    """Person -> enterprise edges, and the person golden codes the register settles."""
    person, enterprise = entities.get("person"), entities.get("enterprise")
    if person is None or enterprise is None or not {"employer_name", "employer_code"} & set(
            person.golden.columns):
        return None
    edges = cut(employers_spark(person.golden, enterprise.grouped, n_buckets=buckets))
    person.golden = cut(enterprise_codes_spark(person.golden, edges, enterprise.golden))
    return edges


def _report(entity: SparkEntity, section: EntityConfig, timings: dict[str, float]) -> None:
    """Conflicts and quality, once golden records are final (after the ties between types);
    the golden rows lose their bucket column here."""
    etype = entity.entity_type
    with _timed(timings, f"{etype}.conflicts"):
        entity.conflicts = cut(conflicts_spark(entity.grouped, entity.golden, section=section))
    with _timed(timings, f"{etype}.quality"):
        entity.quality = quality_spark(entity.grouped, entity.golden, section=section,
                                       entity_type=etype)
    entity.golden = entity.golden.drop(_GROUP)


def _link(spark: Any, config: PipelineConfig, etype: str, section: EntityConfig, raw: Any,
          sizes: list[int], buckets: int, timings: dict[str, float]) -> SparkEntity:
    from pyspark.sql import functions as sf

    def step(name: str, fn: Callable[[], T]) -> T:
        with _timed(timings, f"{etype}.{name}"):
            return fn()

    def kept(df: Any) -> Any:
        return cut(df)

    subset = raw.filter(sf.col("entity_type") == etype)
    records = step("standardise", lambda: kept(standardise_spark(subset, section)))
    n_records = sum(n for n, s in zip(sizes, config.sources, strict=True)
                    if s.entity_type == etype)
    pairs, report = step("block", lambda: block_spark(records, section.blocking))
    vectors = step("compare", lambda: kept(compare_spark(records, pairs, section.comparisons)))
    if section.model is not None:
        from linkage.pipeline import _saved_model

        model = _saved_model(etype, section)
    else:
        model = FellegiSunter(section.comparisons, section.scoring, seed=config.seed)
    source_counts = {s.department: n for n, s in zip(sizes, config.sources, strict=True)
                     if s.entity_type == etype}
    ranges = [(int(np.sum(sizes[:i])), n) for i, (n, s) in
              enumerate(zip(sizes, config.sources, strict=True)) if s.entity_type == etype]

    def fit_predict() -> Any:
        if section.model is None:
            fit_spark(model, records, vectors, n_records=n_records,
                      source_counts=source_counts, blocking=section.blocking,
                      record_ids=lambda positions: _ids_at(positions, ranges))
        return kept(predict_spark(model, vectors))

    scored = step("score", fit_predict)
    if section.review.decisions is not None:
        scored = step("review", lambda: kept(decisions_spark(
            records, vectors, scored, model, section,
            rescore=lambda m: kept(predict_spark(m, vectors)))))
    def clustered() -> tuple[Any, int]:
        found, rounds = cluster_spark(records, scored, entity_type=etype, section=section,
                                      n_buckets=buckets)
        return kept(found), rounds

    clusters, rounds = step("cluster", clustered)
    trust = _trust(config, etype, list(section.fields))
    grouped = kept(entity_groups(records, clusters, entity_type=etype, n_buckets=buckets))
    golden = step("golden", lambda: kept(golden_spark(grouped, section=section, trust=trust)))
    counts = {"records": n_records, "candidate_pairs": report.pairs,
              "components_rounds": rounds}
    # conflicts and quality come once the golden records are final (run_spark's _report)
    return SparkEntity(etype, records, pairs, scored, clusters, golden, None,
                       pa.table({}), model, report.as_dict(n_records), counts,
                       grouped=grouped)


def _ids_at(positions: npt.NDArray[np.int64], ranges: list[tuple[int, int]]
            ) -> npt.NDArray[np.int64]:
    """Record ids of positions within an entity type's records in id order (its sources'
    id ranges, one after the other)."""
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    ends = np.cumsum([n for _, n in ranges]).astype(np.int64)
    which = np.searchsorted(ends, positions, side="right")
    before = np.concatenate([[0], ends[:-1]])
    return np.asarray(starts[which] + positions - before[which], dtype=np.int64)


def _trust(config: PipelineConfig, etype: str, fields: list[str]) -> dict[str, dict[str, float]]:
    return {s.department: {f: s.trust.get(f, s.default_trust) for f in fields}
            for s in config.sources if s.entity_type == etype}


def _records_with_entities(raw: Any, entities: Mapping[str, SparkEntity]) -> Any:
    """Every input record, standardised, with its entity id; records of an entity type
    the pipeline does not resolve are kept and flagged."""
    from pyspark.sql import functions as sf

    parts = [e.records.join(e.clusters.select("record_id", "entity_id", "cluster_size"),
                            "record_id") for e in entities.values()]
    leftover = raw.filter(~sf.col("entity_type").isin(list(entities)))
    parts.append(leftover.withColumn("flags", sf.concat(
        sf.col("flags"), sf.array(sf.lit("entity_type:not_resolved")))))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    return out


def cut(df: Any) -> Any:
    """Materialise ``df`` and cut its lineage (``localCheckpoint``): each stage then starts
    from stored partitions, and Spark never re-plans the whole pipeline (planning a plan
    that grows stage by stage costs minutes by the golden records)."""
    return df.localCheckpoint(eager=True)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 4)
