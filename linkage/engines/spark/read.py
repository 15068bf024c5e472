"""Read stage on Spark: the engine's own readers run on the executors, one task per
source file, so every format, encoding and read flag is the embedded engine's. Spark
DataFrames handed in (a JDBC table, a Hive table) are mapped per partition instead.

Record ids are dense from 0 in source order, exactly as :func:`linkage.read_sources`
numbers them: each source is read with ids from 0 and shifted by the row counts of the
sources before it (one number per source reaches the driver)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import PipelineConfig, SourceConfig
from linkage.engines.spark.frames import arrow_schema, conform, spark_schema
from linkage.errors import SourceError
from linkage.io.sources import map_columns, read_source
from linkage.schemas import RECORD_BASE

_SRC = "__src"
_DUPLICATE = "source_key:duplicate"


def record_schema(config: PipelineConfig) -> pa.Schema:
    """RecordTable columns every source is widened to: the base columns, every mapped
    field (text) and the read flags, plus the source's index."""
    fields: list[str] = []
    for source in config.sources:
        fields.extend(f for f in source.columns if f not in fields)
    return pa.schema([*RECORD_BASE, *[(f, pa.string()) for f in fields],
                      ("flags", pa.list_(pa.string())), (_SRC, pa.int32())])


def read_sources_spark(spark: Any, config: PipelineConfig,
                       frames: Mapping[str, Any] | None = None) -> tuple[Any, list[int]]:
    """Every source of ``config`` as one Spark DataFrame of RecordTable rows, and each
    source's number of records.

    ``frames`` maps a source's department (or ``department/entity_type`` label) to a
    Spark DataFrame that replaces reading its ``path``; its columns are mapped like the
    file's would be."""
    from pyspark.sql import functions as sf

    frames = dict(frames or {})
    schema = record_schema(config)
    handed = {i: _frame_for(s, frames) for i, s in enumerate(config.sources)}
    files = [i for i, f in handed.items() if f is None]
    for i in files:
        source = config.sources[i]
        if not source.path.is_file():
            raise SourceError(f"file not found: {source.path}", source=source.label)
    parts = []
    if files:
        tasks = spark.createDataFrame([(i,) for i in files], f"{_SRC} int") \
            .repartition(len(files), _SRC)
        parts.append(_read_files(tasks, config, schema))
    for i, frame in handed.items():
        if frame is not None:
            parts.append(_map_frame(frame, config.sources[i], i, schema))
    read = parts[0]
    for part in parts[1:]:
        read = read.unionByName(part)
    read = read.localCheckpoint(eager=True)
    counts = {int(r[_SRC]): int(r["count"]) for r in read.groupBy(_SRC).count().collect()}
    offsets = np.concatenate([[0], np.cumsum([counts.get(i, 0)
                                              for i in range(len(config.sources))])])
    shift = sf.element_at(sf.array(*[sf.lit(int(o)) for o in offsets[:-1]]), sf.col(_SRC) + 1)
    sizes = [counts.get(i, 0) for i in range(len(config.sources))]
    return read.withColumn("record_id", sf.col("record_id") + shift).drop(_SRC), sizes


def _frame_for(source: SourceConfig, frames: Mapping[str, Any]) -> Any:
    return frames.get(source.label, frames.get(source.department))


def _read_files(tasks: Any, config: PipelineConfig, schema: pa.Schema) -> Any:
    """One task per source file: ``read_source`` on the executor, ids from 0."""
    struct = spark_schema(schema)
    target = arrow_schema(struct)
    sources = config.sources

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for i in batch.column(0).to_pylist():
                table = read_source(sources[i], first_record_id=0)
                yield from _widen(table, target, i).to_batches(max_chunksize=50_000)

    return tasks.mapInArrow(run, struct)


def _map_frame(frame: Any, source: SourceConfig, index: int, schema: pa.Schema) -> Any:
    """A handed-in DataFrame: rows numbered densely in the frame's order (per partition
    counts, one number per partition to the driver), mapped per batch with
    :func:`map_columns`, then duplicate keys flagged across the whole frame."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    names = list(frame.columns)
    numbered = frame.withColumn("__pid", sf.spark_partition_id()) \
        .withColumn("__mono", sf.monotonically_increasing_id())
    per_part = {int(r["__pid"]): int(r["count"])
                for r in numbered.groupBy("__pid").count().collect()}
    starts = np.concatenate([[0], np.cumsum([per_part.get(p, 0)
                                             for p in range(max(per_part, default=-1) + 1)])])
    start = sf.element_at(sf.array(*[sf.lit(int(s)) for s in starts[:-1]] or [sf.lit(0)]),
                         sf.col("__pid") + 1)
    numbered = numbered.withColumn(
        "__row", start + sf.col("__mono") - sf.shiftleft(sf.col("__pid").cast("long"), 33)) \
        .drop("__pid", "__mono")
    struct = spark_schema(schema)
    target = arrow_schema(struct)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            row = table.column("__row")
            mapped = map_columns(table.select(names), source=source,
                                 rows=pc.add(row, 1).combine_chunks(), malformed=[],
                                 first_record_id=0)
            mapped = mapped.set_column(0, "record_id", row)
            yield from _widen(mapped, target, index).to_batches()

    mapped = numbered.mapInArrow(run, struct)
    # a key repeated in another partition is a duplicate too
    clean = sf.filter(sf.col("flags"), lambda x: x != sf.lit(_DUPLICATE))
    many = sf.count(sf.lit(1)).over(Window.partitionBy("source_key")) > 1
    flagged = sf.when(many, sf.concat(clean, sf.array(sf.lit(_DUPLICATE)))).otherwise(clean)
    return mapped.withColumn("flags", flagged)


def _widen(table: pa.Table, target: pa.Schema, index: int) -> pa.Table:
    n = table.num_rows
    columns = {}
    for f in target:
        if f.name == _SRC:
            columns[f.name] = pa.array(np.full(n, index, dtype=np.int32))
        elif f.name in table.column_names:
            columns[f.name] = table.column(f.name)
        else:
            columns[f.name] = pa.nulls(n, f.type)
    return conform(pa.table(columns), target)
