"""Standardise, block, compare, fit and predict as Spark work on partitions.

Each step hands partitions to the embedded engine's own kernel: ``standardise`` per
batch, blocking keys from :mod:`linkage.match.block`'s own key builder, ``compare`` on
batches of pairs joined with their two records, ``FellegiSunter.predict`` per batch.
Spark does what needs the whole data set: the blocking joins (with the skew guard and
sub-blocking), term frequencies, and the pattern counts the model is fitted on (per
blocking pass for the default "sessions" fit). Only those counts and the u sample
(``u_sample_records`` records, bounded) reach the driver, where the embedded engine's own
fit runs on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import EntityConfig
from linkage.engines.spark.frames import map_tables
from linkage.errors import ConfigError
from linkage.flags import concat_flags
from linkage.match import fit as fit_module
from linkage.match.block import BlockingPass, flagged, joined_key, refined_pass
from linkage.match.compare import Comparison, compare, read_columns
from linkage.match.fit import (
    assemble,
    pattern_codes,
    session_masks,
    session_plan,
    session_sample,
)
from linkage.match.score import FellegiSunter
from linkage.standardisers import standardise

log = logging.getLogger(__name__)

#: marks a key made of a capped block's key and its sub key (never equal to a plain key)
_SPLIT = "\x1e"


@dataclass
class BlockingReport:
    """What the blocking joins produced, per pass (numbers only)."""

    passes: list[dict[str, Any]] = field(default_factory=list)
    pairs: int = 0

    def as_dict(self, n_records: int) -> dict[str, Any]:
        possible = n_records * (n_records - 1) / 2
        return {"engine": "spark", "records": n_records, "passes": self.passes,
                "candidate_pairs": self.pairs,
                "reduction_ratio": 1 - self.pairs / possible if possible else 0.0,
                "warnings": [f"pass {p['name']!r}: {p['capped_blocks']} block(s) above "
                             f"max_block_size {p['max_block_size']} skipped "
                             f"({p['capped_records']} records)"
                             for p in self.passes if p["capped_blocks"]]}


# --- standardise ----------------------------------------------------------------------------


def standardise_spark(raw: Any, section: EntityConfig) -> Any:
    """Standardised records: ``standardise`` per batch, the reader's flags first."""
    fields = dict(section.fields)

    def kernel(table: pa.Table) -> pa.Table:
        out = standardise(table, fields)
        merged = concat_flags(table.column("flags").combine_chunks(),
                              out.column("flags").combine_chunks())
        return out.set_column(out.column_names.index("flags"), "flags", merged)

    return map_tables(raw, kernel)


# --- block ----------------------------------------------------------------------------------


def block_spark(records: Any, passes: Sequence[BlockingPass]) -> tuple[Any, BlockingReport]:
    """Candidate pairs (id_l < id_r, pass_name of the first pass that found them).

    Keys are built per batch by the block stage's own key function; blocks are groups of
    equal keys. A block above its pass's ``max_block_size`` is skipped, or, when the pass
    has ``sub_keys``, split by them (the parts still above the cap, and records without a
    sub key, are skipped): the exact pass of :func:`linkage.match.block.block`."""
    from pyspark.sql import functions as sf

    for bp in passes:
        if bp.kind != "exact":
            raise ConfigError([f"blocking pass {bp.name!r}: kind {bp.kind!r} does not run on "
                               "the Spark engine yet (exact passes, with sub_keys, do)"])
    needed = {"record_id", "source"}
    for bp in passes:
        for column in (*bp.keys, *bp.sub_keys, *bp.keys_right):
            needed.update((column, f"{column.split('__', 1)[0]}__status"))
        if bp.keys_where:
            needed.add(bp.keys_where)
    columns = [c for c in records.columns if c in needed]
    out = pa.schema([("pass", pa.int32()), ("key", pa.string()), ("sub", pa.string()),
                     ("record_id", pa.int64()), ("source", pa.string()), ("role", pa.int8())])

    def kernel(table: pa.Table) -> pa.Table:
        parts = []
        for index, bp in enumerate(passes):
            # a cross-column pass keys every record twice: by its keys (role 0) and by its
            # right-hand keys (role 1); pairs are taken across roles only (as block does)
            sides = [(0, bp)] + ([(1, bp.right_side())]
                                 if bp.keys_right else [])
            for role, side in sides:
                key = joined_key(table, side)
                if role == 0 and bp.keys_where:  # only the flagged records stand by keys
                    key = pc.if_else(pa.array(flagged(table, bp.keys_where)), key,
                                     pa.scalar(None, key.type))
                sub = (joined_key(table, refined_pass(side)) if side.sub_keys
                       else pa.nulls(table.num_rows, pa.string()))
                part = pa.table({"pass": pa.array(np.full(table.num_rows, index, np.int32)),
                                 "key": key, "sub": sub,
                                 "record_id": table.column("record_id"),
                                 "source": table.column("source"),
                                 "role": pa.array(np.full(table.num_rows, role, np.int8))})
                parts.append(part.filter(pc.is_valid(key)))
        return pa.concat_tables(parts) if parts else out.empty_table()

    keys = map_tables(records.select(*columns), kernel, out)
    cross = [i for i, bp in enumerate(passes) if bp.keys_right]
    if cross:
        # a cross pass's block with one side only pairs nothing: neither counted nor capped
        sides = keys.filter(sf.col("pass").isin(cross)).groupBy("pass", "key") \
            .agg(sf.countDistinct("role").alias("sides"))
        keys = keys.join(sides.filter(sf.col("sides") < 2).select("pass", "key"),
                         ["pass", "key"], "left_anti")
    keys = keys.localCheckpoint(eager=True)
    cap = sf.element_at(sf.array(*[sf.lit(bp.max_block_size) for bp in passes]), sf.col("pass") + 1)
    sized = keys.join(keys.groupBy("pass", "key").agg(sf.count(sf.lit(1)).alias("size")),
                      ["pass", "key"])
    splits = [i for i, bp in enumerate(passes) if bp.sub_keys]
    over = sf.col("size") > cap
    split = over & sf.col("pass").isin(splits) if splits else sf.lit(False)
    refined = sized.withColumn("key", sf.when(split, sf.concat(sf.lit(_SPLIT), sf.col("sub")))
                               .otherwise(sf.col("key"))) \
        .filter(sf.col("key").isNotNull()).drop("size", "sub")
    refined = refined.join(refined.groupBy("pass", "key").agg(sf.count(sf.lit(1)).alias("size")),
                           ["pass", "key"])
    usable = refined.filter((sf.col("size") >= 2) & (sf.col("size") <= cap))
    left = usable.select("pass", "key", sf.col("record_id").alias("id_l"),
                         sf.col("source").alias("src_l"), sf.col("role").alias("role_l"))
    right = usable.select("pass", "key", sf.col("record_id").alias("id_r"),
                          sf.col("source").alias("src_r"), sf.col("role").alias("role_r"))
    link_only = [i for i, bp in enumerate(passes) if bp.link_only]
    cond = sf.col("id_l") < sf.col("id_r")
    if cross:
        cond = cond & (~sf.col("pass").isin(cross) | (sf.col("role_l") != sf.col("role_r")))
    if link_only:
        cond = cond & (~sf.col("pass").isin(link_only) | (sf.col("src_l") != sf.col("src_r")))
    produced = left.join(right, ["pass", "key"]).filter(cond).select("pass", "id_l", "id_r") \
        .distinct().localCheckpoint(eager=True)
    names = sf.array(*[sf.lit(bp.name) for bp in passes])
    pairs = produced.groupBy("id_l", "id_r").agg(sf.min("pass").alias("pass")) \
        .withColumn("pass_name", sf.element_at(names, sf.col("pass") + 1)).drop("pass") \
        .localCheckpoint(eager=True)
    report = _blocking_report(keys, sized, refined, produced, pairs, passes, cap, split)
    return pairs, report


def _blocking_report(keys: Any, sized: Any, refined: Any, produced: Any, pairs: Any,
                     passes: Sequence[BlockingPass], cap: Any, split: Any) -> BlockingReport:
    """Per pass: keyed records, blocks, capped blocks and records, pairs, new pairs."""
    from pyspark.sql import functions as sf

    stats = {int(r["pass"]): r.asDict() for r in sized.groupBy("pass").agg(
        sf.count(sf.lit(1)).alias("keyed"),
        sf.sum(split.cast("long")).alias("split_records"),
        sf.max("size").alias("largest")).collect()}
    blocks = {int(r["pass"]): r.asDict() for r in refined.groupBy("pass", "key").agg(
        sf.first("size").alias("size")).groupBy("pass").agg(
        sf.sum((sf.col("size") >= 2).cast("long")).alias("blocks"),
        sf.sum((sf.col("size") > cap).cast("long")).alias("capped_blocks"),
        sf.sum(sf.when(sf.col("size") > cap, sf.col("size")).otherwise(0)).alias("capped_records"),
    ).collect()}
    made = {int(r["pass"]): int(r["count"]) for r in produced.groupBy("pass").count().collect()}
    new = {int(r["pass_name"]): int(r["count"]) for r in pairs.withColumn(
        "pass_name", sf.array_position(sf.array(*[sf.lit(bp.name) for bp in passes]),
                                      sf.col("pass_name")) - 1).groupBy("pass_name")
        .count().collect()}
    report = BlockingReport()
    for i, bp in enumerate(passes):
        s, b = stats.get(i, {}), blocks.get(i, {})
        report.passes.append({
            "name": bp.name, "kind": bp.kind, "keys": list(bp.keys),
            "max_block_size": bp.max_block_size, "keyed_records": int(s.get("keyed") or 0),
            "blocks": int(b.get("blocks") or 0), "largest_block": int(s.get("largest") or 0),
            "capped_blocks": int(b.get("capped_blocks") or 0),
            "capped_records": int(b.get("capped_records") or 0),
            "split_records": int(s.get("split_records") or 0),
            "pairs": made.get(i, 0), "new_pairs": new.get(i, 0)})
    report.pairs = sum(new.values())
    return report


# --- compare --------------------------------------------------------------------------------


def term_frequencies(records: Any, comparisons: Sequence[Comparison]) -> Any:
    """``records`` with ``__tf_<field>`` per term-frequency comparison: the share of
    non-null records holding the record's value (compare's own definition)."""
    from pyspark.sql import functions as sf

    out = records
    for comp in comparisons:
        name = f"__tf_{comp.field}"
        if not comp.term_frequency or name in out.columns:
            continue
        present = records.filter(sf.col(comp.field).isNotNull())
        total = present.count()
        freq = present.groupBy(comp.field).agg(
            (sf.count(sf.lit(1)) / sf.lit(float(max(total, 1)))).alias(name))
        out = out.join(freq, [comp.field], "left")
    return out


def compare_spark(records: Any, pairs: Any, comparisons: Sequence[Comparison]) -> Any:
    """Comparison vectors: pairs joined with both records' compared columns, and
    ``compare`` run per batch on the records the batch's pairs hold (a comparison's
    levels depend only on the two values, so the batch's records give the run's levels);
    term frequencies come from the whole run."""
    from pyspark.sql import functions as sf

    withtf = term_frequencies(records, comparisons)
    tf_cols = sorted({f"__tf_{c.field}" for c in comparisons if c.term_frequency})
    cols = read_columns(records.columns, comparisons)
    side = withtf.select(*cols, *tf_cols)
    left = side.select(*[sf.col(c).alias(f"l_{c}") for c in side.columns])
    right = side.select(*[sf.col(c).alias(f"r_{c}") for c in side.columns])
    joined = pairs.join(left, pairs["id_l"] == left["l_record_id"]) \
        .join(right, pairs["id_r"] == right["r_record_id"])
    template = compare(_records_of(pa.table({f"l_{c}": pa.array([], t) for c, t in
                                              _types(side)}), "l_"),
                       pa.table({"id_l": pa.array([], pa.int64()),
                                 "id_r": pa.array([], pa.int64())}), comparisons, workers=1)
    out = template.schema.append(pa.field("pass_name", pa.string()))

    def kernel(table: pa.Table) -> pa.Table:
        local = pa.concat_tables([_records_of(table, "l_"), _records_of(table, "r_")])
        ids = local.column("record_id").to_numpy()
        _, first = np.unique(ids, return_index=True)
        local = local.take(pa.array(first))
        batch_pairs = table.select(["id_l", "id_r"])
        vectors = compare(local, batch_pairs, comparisons, workers=1)
        for comp in comparisons:
            if comp.term_frequency:
                tf_l = table.column(f"l___tf_{comp.field}").to_numpy(zero_copy_only=False)
                tf_r = table.column(f"r___tf_{comp.field}").to_numpy(zero_copy_only=False)
                both = np.maximum(np.asarray(tf_l, np.float64).astype(np.float32),
                                  np.asarray(tf_r, np.float64).astype(np.float32))
                name = f"tf_{comp.name}"
                vectors = vectors.set_column(vectors.column_names.index(name), name,
                                             pa.array(both, pa.float32()))
        return vectors.append_column("pass_name", table.column("pass_name"))

    return map_tables(joined, kernel, out)


def _types(df: Any) -> list[tuple[str, pa.DataType]]:
    from linkage.engines.spark.frames import arrow_schema

    schema = arrow_schema(df.schema)
    return [(f.name, f.type) for f in schema]


def _records_of(table: pa.Table, prefix: str) -> pa.Table:
    names = [c for c in table.column_names if c.startswith(prefix)]
    return table.select(names).rename_columns([c[len(prefix):] for c in names])


# --- fit and predict ------------------------------------------------------------------------


def fit_spark(model: FellegiSunter, records: Any, vectors: Any, *, n_records: int,
              source_counts: dict[str, int], record_ids: Any,
              blocking: Sequence[BlockingPass] = ()) -> FellegiSunter:
    """``FellegiSunter.fit`` with Spark doing the counting: the comparison patterns are
    counted by a group-by (one row per distinct pattern reaches the driver), and for the
    "sessions" fit also per pattern and blocking pass whether the pass's session holds
    it (:func:`_session_counts`); u is estimated on the very sample the embedded engine
    draws (``u_sample_records`` random positions of the records in id order, fetched by
    id). The driver then runs the embedded engine's own fit on those counts, so the
    fitted model is the embedded engine's. ``record_ids(positions)`` maps sorted
    positions to record ids."""
    from pyspark.sql import functions as sf

    comps = model.comparisons
    config = model.config
    size = min(n_records, config.u_sample_records)
    read = read_columns(records.columns, comps)
    if config.link_only and "source" in records.columns:
        read.append("source")
    sample = records.select(*read)
    if size < n_records:
        rng = np.random.default_rng(model.seed)
        positions = np.sort(rng.choice(n_records, size, replace=False))
        wanted = records.sparkSession.createDataFrame(
            [(int(i),) for i in record_ids(positions)], "record_id long")
        sample = sample.join(sf.broadcast(wanted), ["record_id"])
    local = sample.toArrow().sort_by("record_id")
    u_random = model._estimate_u(local)
    gammas = [f"gamma_{c.name}" for c in comps]
    counted = vectors.groupBy(*gammas).count().toArrow()
    codes, _ = pattern_codes(counted, comps)
    weights = np.asarray(counted.column("count").to_numpy(), np.float64)
    if config.link_only and source_counts:
        c = np.asarray(list(source_counts.values()), np.float64)
        possible = float((c.sum() ** 2 - (c**2).sum()) / 2)
    else:
        possible = float(n_records * (n_records - 1) / 2)
    if config.fit == "sessions":
        sessions = _session_counts(model, records, vectors, blocking, int(weights.sum())) \
            if len(codes) else []
        model._fit_sessions(assemble(comps, codes, weights, sessions), u_random, possible)
    else:
        prepared = assemble(comps, codes, weights, [])
        model._fit_joint(prepared.patterns, prepared.counts, u_random, possible)
    return model


def _session_counts(
    model: FellegiSunter, records: Any, vectors: Any, blocking: Sequence[BlockingPass],
    n_pairs: int,
) -> list[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float64], frozenset[str],
                frozenset[str]]]:
    """Each trainable pass's session as (pattern codes, counts): the pairs of the
    embedded engine's session sample (:func:`linkage.match.fit.session_sample`, by the
    pairs' ids) are joined with both records' key columns where a pass's keys are not
    compared fields, :func:`linkage.match.fit.session_masks` tells per batch which
    sessions hold each pair, and a group-by over (pattern, one flag per pass) counts
    them: one row per distinct combination reaches the driver."""
    from pyspark.sql import functions as sf

    comps = model.comparisons
    plan = session_plan(comps, blocking)
    if not plan:
        return []
    gammas = [f"gamma_{c.name}" for c in comps]
    flags = [f"__session_{i}" for i in range(len(plan))]
    pairs = vectors.select("id_l", "id_r", *gammas, "pass_name")
    cap, seed = fit_module.MAX_SESSION_PAIRS, model.seed
    if n_pairs > cap:

        def sampled(table: pa.Table) -> pa.Table:
            keep = session_sample(_int64(table, "id_l"), _int64(table, "id_r"), n_pairs,
                                  max_pairs=cap, seed=seed)
            return table if keep is None else table.filter(pa.array(keep))

        pairs = map_tables(pairs, sampled)
    keys = sorted({k for sp in plan if sp.by == "keys" for k in sp.bp.keys})
    status = sorted({f"{k.split('__', 1)[0]}__status" for k in keys} & set(records.columns))
    if keys:
        side = records.select("record_id", *keys)
        left = side.select(*[sf.col(c).alias(f"l_{c}") for c in side.columns])
        right = side.select(*[sf.col(c).alias(f"r_{c}") for c in side.columns])
        pairs = pairs.join(left, pairs["id_l"] == left["l_record_id"]) \
            .join(right, pairs["id_r"] == right["r_record_id"])
    in_types = dict(_types(pairs))
    out = pa.schema([(g, in_types[g]) for g in gammas] + [(f, pa.bool_()) for f in flags])

    def kernel(table: pa.Table) -> pa.Table:
        n = table.num_rows
        local = pa.table({})
        if keys:
            local = pa.concat_tables([
                table.select([f"{p}{k}" for k in keys]).rename_columns(keys)
                for p in ("l_", "r_")])
            for column in status:  # what pass_agreement asks of a standardised key
                local = local.append_column(column, pa.nulls(2 * n, pa.string()))
        at = np.arange(n, dtype=np.int64)
        masks = session_masks(local, table, comps, plan, table.column("pass_name"),
                              left=at, right=at + n)
        columns = [table.column(g) for g in gammas] + [
            pa.array(np.zeros(n, bool) if mask is None else mask) for mask in masks]
        return pa.table(columns, schema=out)

    grouped = map_tables(pairs, kernel, out).groupBy(*gammas, *flags).count().toArrow()
    codes, _ = pattern_codes(grouped, comps)
    weights = np.asarray(grouped.column("count").to_numpy(), np.float64)
    found = []
    for sp, flag in zip(plan, flags, strict=True):
        held = np.asarray(grouped.column(flag).to_numpy(zero_copy_only=False), dtype=bool)
        found.append((sp.bp.name, codes[held], weights[held], sp.fixed, sp.part))
    return found


def _int64(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    return np.asarray(pc.cast(table.column(name), pa.int64()).to_numpy(), dtype=np.int64)


def predict_spark(model: FellegiSunter, vectors: Any) -> Any:
    """Scored pairs: ``model.predict`` per batch (pass_name carried along)."""

    def kernel(table: pa.Table) -> pa.Table:
        scored = model.predict(table.drop_columns(["pass_name"]))
        return scored.append_column("pass_name", table.column("pass_name"))

    return map_tables(vectors, kernel)
