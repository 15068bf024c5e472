"""Cluster, golden records, conflicts and quality on Spark, grouped by entity.

Connected components run as DataFrame jobs (:mod:`.components`). Every later step is
the embedded engine's own function applied to whole groups: components (and, for golden
records and conflicts, groups of entities that share a valid identity key) are hashed
into buckets, and ``applyInArrow`` hands each bucket's records to ``cluster`` (which
repairs the components that hold two identities), ``build_golden`` and
``find_conflicts``. Those functions work entity by entity, so a bucket of whole groups
gives exactly their run-wide result. Quality is counted per bucket and summed by Spark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import EntityConfig
from linkage.engines.spark.components import connected_components
from linkage.engines.spark.frames import apply_groups, cogroup_tables, empty_like
from linkage.master.cluster import cluster
from linkage.master.conflicts import IDENTITY_KEYS, find_conflicts
from linkage.master.golden import build_golden, entity_codes
from linkage.master.groups import as_string, updated_days
from linkage.master.quality import (
    ALL,
    QUALITY_EXTRA,
    against_golden,
    field_state,
    nanmean,
    other_sources,
    quality_row,
)
from linkage.schemas import CONFLICTS, SOURCE_QUALITY
from linkage.standardisers.base import MISSING

_GROUP = "__group"


def _bucket(column: str, n_buckets: int) -> Any:
    from pyspark.sql import functions as sf

    return sf.pmod(sf.xxhash64(sf.col(column)), sf.lit(n_buckets)).cast("int")


# --- cluster --------------------------------------------------------------------------------


def cluster_spark(records: Any, scored: Any, *, entity_type: str, section: EntityConfig,
                  n_buckets: int) -> tuple[Any, int]:
    """Clusters rows (one per record) and the components' rounds: components of the
    links on Spark, then ``cluster`` per bucket of whole components, which applies the
    cannot-link and identity repair to the components that need it."""
    from pyspark.sql import functions as sf

    threshold = section.scoring.link_threshold
    identity = tuple(section.identity_fields)
    prob = sf.coalesce(sf.col("match_probability"), sf.lit(0.0))
    must = sf.coalesce(sf.col("must_link"), sf.lit(False)) if "must_link" in scored.columns \
        else sf.lit(False)
    cannot = sf.coalesce(sf.col("cannot_link"), sf.lit(False)) \
        if "cannot_link" in scored.columns else sf.lit(False)
    is_link = ((prob >= threshold) | must) & ~cannot
    kept_cols = [c for c in ("id_l", "id_r", "match_weight", "match_probability",
                             "must_link", "cannot_link") if c in scored.columns]
    relevant = scored.filter(is_link | cannot).select(*kept_cols)
    labels, rounds = connected_components(relevant.filter(is_link))
    needed = {"record_id", "source", "source_key", "entity_type"}
    for name in identity:
        needed.update((name, f"{name}__status", f"{name.split('__', 1)[0]}__status"))
    rec = records.select(*[c for c in records.columns if c in needed]) \
        .join(labels.withColumnRenamed("node", "record_id"), "record_id", "left") \
        .withColumn("label", sf.coalesce("label", "record_id")) \
        .withColumn(_GROUP, _bucket("label", n_buckets)).drop("label")
    lab = labels.select(sf.col("node").alias("id_l"), sf.col("label").alias("lab_l"))
    lab_r = labels.select(sf.col("node").alias("id_r"), sf.col("label").alias("lab_r"))
    pairs = relevant.join(lab, "id_l").join(lab_r, "id_r") \
        .filter(sf.col("lab_l") == sf.col("lab_r")) \
        .withColumn(_GROUP, _bucket("lab_l", n_buckets)).drop("lab_l", "lab_r")
    rec_cols = [c for c in rec.columns if c != _GROUP]
    pair_cols = [c for c in pairs.columns if c != _GROUP]
    template_rec = empty_like(rec.select(*rec_cols).schema)
    template_pairs = empty_like(pairs.select(*pair_cols).schema)
    out = cluster(template_rec, template_pairs, entity_type=entity_type, threshold=threshold,
                  identity_fields=identity).schema

    def kernel(a: pa.Table, b: pa.Table) -> pa.Table:
        return cluster(a.select(rec_cols), b.select(pair_cols), entity_type=entity_type,
                       threshold=threshold, identity_fields=identity)

    return cogroup_tables(rec, pairs, [_GROUP], kernel, out), rounds


# --- entity groups --------------------------------------------------------------------------


def entity_groups(records: Any, clusters: Any, *, entity_type: str, n_buckets: int) -> Any:
    """``records`` with entity_id and a bucket that keeps together every entity sharing a
    valid identity key with another (what conflicts' identity check compares)."""
    from pyspark.sql import functions as sf

    rec = records.join(clusters.select("record_id", "entity_id", "cluster_size"), "record_id")
    node = rec.groupBy("entity_id").agg(sf.min("record_id").alias("node"))
    rec = rec.join(node, "entity_id")
    identity = IDENTITY_KEYS.get(entity_type)
    group = sf.col("node")
    if identity and identity[0] in records.columns:
        key = identity[0]
        ok = sf.col(key).isNotNull()
        if f"{key}__status" in records.columns:
            ok = ok & sf.coalesce(sf.col(f"{key}__status").startswith("ok"), sf.lit(False))
        holders = rec.filter(ok).select(key, "node").distinct()
        first = holders.groupBy(key).agg(sf.min("node").alias("root"))
        edges = holders.join(first, key).filter(sf.col("node") != sf.col("root")) \
            .select(sf.col("root").alias("id_l"), sf.col("node").alias("id_r"))
        joined, _ = connected_components(edges)
        rec = rec.join(joined.withColumnRenamed("label", "joined")
                       .withColumnRenamed("node", "node"), "node", "left")
        group = sf.coalesce(sf.col("joined"), sf.col("node"))
    out = rec.withColumn("__g", group).withColumn(_GROUP, _bucket("__g", n_buckets))
    return out.drop("node", "joined", "__g")


def _split(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A bucket's rows -> (records, clusters) as the stage functions take them."""
    clusters = table.select(["record_id", "entity_type", "entity_id", "cluster_size"])
    return table.drop_columns(["entity_id", "cluster_size", _GROUP]), clusters


def golden_spark(grouped: Any, *, section: EntityConfig,
                 trust: Mapping[str, Mapping[str, float]]) -> Any:
    """Golden records: ``build_golden`` per bucket of whole entities."""
    fields = list(section.fields)
    survivorship = section.survivorship

    def kernel(table: pa.Table) -> pa.Table:
        records, clusters = _split(table)
        golden = build_golden(records, clusters, fields=fields, survivorship=survivorship,
                              trust=trust)
        return golden.append_column(_GROUP, pa.array(
            np.full(golden.num_rows, table.column(_GROUP)[0].as_py() if table.num_rows
                    else 0, np.int32)))

    out = kernel(empty_like(grouped.schema)).schema
    return apply_groups(grouped, [_GROUP], kernel, out)


def conflicts_spark(grouped: Any, golden: Any, *, section: EntityConfig) -> Any:
    """Conflicts: ``find_conflicts`` per bucket (records and the bucket's golden rows)."""
    fields = list(section.fields)
    cfg = section.conflicts

    def kernel(table: pa.Table, gold: pa.Table) -> pa.Table:
        records, clusters = _split(table)
        return find_conflicts(records, clusters, gold.drop_columns([_GROUP]), fields=fields,
                              mutable_fields=cfg.mutable_fields,
                              comparable_statuses=cfg.comparable_statuses,
                              wildcard_statuses=cfg.wildcard_statuses)

    return cogroup_tables(grouped, golden, [_GROUP], kernel, CONFLICTS)


# --- quality --------------------------------------------------------------------------------

_SUMS = ("n", "present", "valid", "agree", "correct", "superseded", "cons_n", "cons_x")


def quality_spark(grouped: Any, golden: Any, *, section: EntityConfig,
                  entity_type: str) -> pa.Table:
    """SourceQuality rows (the embedded engine's table): each bucket counts, per source
    and field, what ``source_quality`` averages (its own per-entity helpers); Spark sums
    the counts and takes each source's median record age; the driver gets one row per
    source and field."""
    from pyspark.sql import functions as sf

    fields = list(section.fields)
    out = pa.schema([("source", pa.string()), ("field", pa.string()),
                     *[(s, pa.float64()) for s in _SUMS]])

    def kernel(table: pa.Table, gold: pa.Table) -> pa.Table:
        records, clusters = _split(table)
        return _quality_counts(records, clusters, gold.drop_columns([_GROUP]), fields)

    counts = cogroup_tables(grouped, golden, [_GROUP], kernel, out) \
        .groupBy("source", "field").agg(*[sf.sum(s).alias(s) for s in _SUMS]).toArrow()
    counts = counts.append_column("carried", pa.array(
        [(s, f) in _carried(grouped, fields) for s, f in zip(
            counts.column("source").to_pylist(), counts.column("field").to_pylist(),
            strict=True)], pa.bool_()))
    dated = grouped.filter(sf.col("updated_at").isNotNull())
    as_of = dated.agg(sf.max("updated_at")).first()[0]
    age = sf.datediff(sf.lit(as_of), sf.col("updated_at")).cast("double") if as_of \
        else sf.lit(None).cast("double")
    ages = {r["source"]: r["age"] for r in dated.groupBy("source").agg(
        sf.percentile(age, 0.5).alias("age")).collect()}
    pooled_row = dated.agg(sf.percentile(age, 0.5).alias("age")).first()
    pooled_age = pooled_row["age"] if pooled_row is not None else None
    return _quality_table(counts, ages, pooled_age, fields, entity_type)


def _carried(records: Any, fields: Sequence[str]) -> set[tuple[str, str]]:
    """(source, field) pairs whose source carries the field: some record of it has a value
    read for it (``standardisers.stage.carried_rows``, a property of the whole source, so
    Spark finds it over all the source's records, not per bucket)."""
    from pyspark.sql import functions as sf

    if not fields:
        return set()
    flags = []
    for f in fields:
        raw = f"{f}__raw" if f"{f}__raw" in records.columns else f
        if raw not in records.columns:
            flags.append(sf.lit(0).alias(f))
            continue
        read = sf.col(raw).isNotNull()
        if raw == f and f"{f}__status" in records.columns:
            read = read | sf.coalesce(sf.col(f"{f}__status") != MISSING, sf.lit(False))
        flags.append(sf.max(read.cast("int")).alias(f))
    rows = records.groupBy("source").agg(*flags).collect()
    return {(str(r["source"]), f) for r in rows for f in fields if r[f]}


def _quality_counts(records: pa.Table, clusters: pa.Table, golden: pa.Table,
                    fields: Sequence[str]) -> pa.Table:
    n = records.num_rows
    ent, ids, _ = entity_codes(records, clusters)
    days = updated_days(records)
    src = as_string(records["source"])
    gpos = pc.index_in(ids, value_set=as_string(golden["entity_id"])) if golden.num_rows \
        else None
    src_enc = pc.dictionary_encode(pc.fill_null(src, ""))
    src_code = np.asarray(src_enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = src_enc.dictionary.to_pylist()
    parts = []
    for f in fields:
        value, present, valid = field_state(records, f)
        agree, newer = against_golden(records, golden, gpos, f, ent, days)
        same, n_other = other_sources(ent, src_code, value, present)
        cons_sel = present & (n_other > 0)
        x = {"n": np.ones(n), "present": present, "valid": valid, "agree": present & agree,
             "correct": present & valid & agree, "superseded": present & ~agree & newer,
             "cons_n": cons_sel,
             "cons_x": np.where(cons_sel, np.divide(same, np.maximum(n_other, 1)), 0.0)}
        sums = {k: np.bincount(src_code, weights=np.asarray(v, np.float64),
                               minlength=len(names)) for k, v in x.items()}
        parts.append(pa.table({"source": pa.array(names, pa.string()),
                               "field": pa.array([f] * len(names), pa.string()),
                               **{k: pa.array(sums[k]) for k in _SUMS}}))
    return pa.concat_tables(parts) if parts else pa.table({})


def _quality_table(counts: pa.Table, ages: Mapping[str, float | None],
                   pooled_age: float | None, fields: Sequence[str],
                   entity_type: str) -> pa.Table:
    rows: list[dict[str, object]] = []
    data = counts.to_pylist()
    sources = sorted({str(r["source"]) for r in data})

    def metrics(rs: list[dict[str, Any]]) -> tuple[int, dict[str, float]]:
        tot = {k: sum(float(r[k]) for r in rs) for k in _SUMS}
        # completeness counts only the departments that collect the field
        carried = sum(float(r["n"]) for r in rs if r.get("carried", True))

        def div(a: float, b: float) -> float:
            return a / b if b else float("nan")

        return int(tot["n"]), {
            "completeness": div(tot["present"], carried),
            "validity": div(tot["valid"], tot["present"]),
            "consistency": div(tot["cons_x"], tot["cons_n"]),
            "timeliness": float("nan"),
            "agreement": div(tot["agree"], tot["present"]),
            "correctness": div(tot["correct"], tot["present"]),
            "superseded": div(tot["superseded"], tot["present"])}

    def age(value: float | None) -> float:
        return float("nan") if value is None else float(value)

    for f in fields:
        mine = [r for r in data if r["field"] == f]
        for s in sources:
            n, m = metrics([r for r in mine if r["source"] == s])
            rows.append(quality_row(s, entity_type, f, n, m, age(ages.get(s)), "field"))
        n, m = metrics(mine)
        rows.append(quality_row(ALL, entity_type, f, n, m, age(pooled_age), "all_sources"))
    keys = ("completeness", "validity", "consistency", "timeliness", "agreement",
            "correctness", "superseded")
    totals = {s: metrics([r for r in data if r["source"] == s and r["field"] == fields[0]])[0]
              for s in sources} if fields else {}
    for name, count, age_s, scope in [
        *[(s, totals.get(s, 0), age(ages.get(s)), "source") for s in sources],
        (ALL, sum(totals.values()), age(pooled_age), "overall"),
    ]:
        mine_rows = [r for r in rows if r["source"] == name and r["scope"] in
                     ("field", "all_sources")]
        means = {k: nanmean([r[k] for r in mine_rows]) for k in keys}
        rows.append(quality_row(name, entity_type, ALL, count, means, age_s, scope))
    schema = pa.schema(list(SOURCE_QUALITY) + list(QUALITY_EXTRA))
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.take(pc.sort_indices(table, sort_keys=[("source", "ascending"),
                                                        ("field", "ascending")]))
