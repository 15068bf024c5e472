"""Run an Arrow kernel on Spark partitions: the bridge between DataFrames and the stage
functions. Output schemas are explicit: the kernel is run once on an empty table (or the
caller gives the schema), converted to Spark types, and every output batch is cast to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

Kernel = Callable[[pa.Table], pa.Table]


def spark_schema(schema: pa.Schema) -> Any:
    """The Spark StructType of an Arrow schema (dictionaries as their values)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pa.schema([_plain(f) for f in schema]))


def arrow_schema(struct: Any) -> pa.Schema:
    """The Arrow schema Spark uses for a StructType."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(struct)


def empty_like(struct: Any) -> pa.Table:
    """An empty Arrow table of a DataFrame's schema (to learn a kernel's output schema)."""
    return arrow_schema(struct).empty_table()


def conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """``table``'s columns in ``target``'s order and types (dictionaries decoded)."""
    columns = []
    for f in target:
        column = table.column(f.name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if column.type != f.type:
            column = column.cast(f.type)
        columns.append(column)
    return pa.table(columns, schema=target)


def map_tables(df: Any, kernel: Kernel, out: pa.Schema | None = None) -> Any:
    """``df.mapInArrow`` with ``kernel`` applied to each Arrow batch as a table. ``out``
    defaults to the kernel's output on an empty table of ``df``'s schema."""
    if out is None:
        out = kernel(empty_like(df.schema)).schema
    struct = spark_schema(out)
    target = arrow_schema(struct)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = conform(kernel(pa.Table.from_batches([batch])), target)
            yield from result.to_batches()

    return df.mapInArrow(run, struct)


def apply_groups(df: Any, keys: Sequence[str], kernel: Kernel, out: pa.Schema) -> Any:
    """``df.groupBy(keys).applyInArrow``: ``kernel`` sees every row of one group at once."""
    struct = spark_schema(out)
    target = arrow_schema(struct)

    def run(table: pa.Table) -> pa.Table:
        return conform(kernel(table), target)

    return df.groupBy(*keys).applyInArrow(run, struct)


def cogroup_tables(left: Any, right: Any, keys: Sequence[str],
                   kernel: Callable[[pa.Table, pa.Table], pa.Table], out: pa.Schema) -> Any:
    """Group ``left`` and ``right`` by ``keys`` together: ``kernel(left_rows, right_rows)``
    for each key (either side may be empty)."""
    struct = spark_schema(out)
    target = arrow_schema(struct)

    def run(a: pa.Table, b: pa.Table) -> pa.Table:
        return conform(kernel(a, b), target)

    return left.groupBy(*keys).cogroup(right.groupBy(*keys)).applyInArrow(run, struct)


def _plain(f: pa.Field) -> pa.Field:
    t = f.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_large_string(t):
        t = pa.string()
    if pa.types.is_large_list(t) or (pa.types.is_list(t) and
                                     pa.types.is_large_string(t.value_type)):
        t = pa.list_(pa.string())
    return pa.field(f.name, t, nullable=True)
