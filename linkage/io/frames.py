"""DataFrames in and out: departments' tables from pandas, polars or Arrow, and results back.

A :class:`Source` is a department's in-memory table with the same description a pipeline
file's ``[[sources]]`` table gives (department, entity type, key, column mapping). Any
table that speaks the Arrow PyCapsule interface (``__arrow_c_stream__``: pyarrow, polars,
pandas 2.2 and later, DuckDB relations) is read without copying through pandas; older
pandas DataFrames go through ``pyarrow.Table.from_pandas``. Neither pandas nor polars is
a dependency of linkage: they are imported only when a user hands one over or asks for one.

Record ids are the engine's to assign: :func:`combine_records` numbers the tables it is
given one after the other, and refuses a table whose record ids collide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import SourceConfig
from linkage.errors import ConfigError, SchemaError, SourceError
from linkage.io.sources import map_columns

#: the path a pipeline file shows for an in-memory source
MEMORY_PREFIX = "<memory:"


def to_arrow(data: Any, *, what: str = "table") -> pa.Table:
    """An Arrow table from pyarrow, polars, pandas or anything with ``__arrow_c_stream__``."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":  # polars before the PyCapsule interface
        table: pa.Table = data.to_arrow()
        return table
    raise SchemaError(f"{what}: expected a pyarrow Table, a polars or pandas DataFrame, or an "
                      f"object with __arrow_c_stream__, got {type(data).__name__}")


@dataclass(frozen=True)
class Source:
    """One department's in-memory table and how its columns map to canonical fields."""

    config: SourceConfig
    table: pa.Table = field(repr=False)

    @classmethod
    def from_frame(
        cls,
        data: Any,
        *,
        department: str,
        entity_type: str,
        key: str,
        columns: Mapping[str, str],
        updated_at: str | None = None,
        snapshot_date: str | None = None,
        trust: Mapping[str, float] | None = None,
        default_trust: float = 0.5,
    ) -> Source:
        """Describe a DataFrame (pandas, polars, Arrow) as a department's source.

        The mapping is checked here: a missing key or column raises a
        :class:`~linkage.errors.SourceError` naming the department and the column."""
        from linkage.config import config_from_dict

        spec = {"department": department, "entity_type": entity_type,
                "path": f"{MEMORY_PREFIX}{department}:{entity_type}>", "key": key,
                "columns": dict(columns), "default_trust": default_trust,
                "trust": dict(trust or {})}
        if updated_at is not None:
            spec["updated_at"] = updated_at
        if snapshot_date is not None:
            spec["snapshot_date"] = snapshot_date
        config = config_from_dict(SourceConfig, spec, origin=f"source {department!r}")
        table = to_arrow(data, what=f"source {department!r}")
        _check_columns(table, config)  # fail now, naming the column, not inside a run
        return cls(config, table)

    def records(self, first_record_id: int = 0) -> pa.Table:
        """This source as RecordTable rows (record ids from ``first_record_id``)."""
        rows = pa.array(np.arange(1, self.table.num_rows + 1, dtype=np.int64))
        return map_columns(self.table, source=self.config, rows=rows, malformed=[],
                           first_record_id=first_record_id)


def _check_columns(table: pa.Table, config: SourceConfig) -> None:
    """Every mapped column is in the table (the reader checks again, in the same words)."""
    wanted = {"key": config.key, **{f"columns.{f}": c for f, c in config.columns.items()}}
    if config.updated_at:
        wanted["updated_at"] = config.updated_at
    absent = [f"{what} -> {col!r}" for what, col in wanted.items()
              if col not in table.column_names]
    if absent:
        present = ", ".join(map(repr, table.column_names[:30]))
        raise SourceError(f"mapped column(s) not in the table: {'; '.join(absent)} "
                          f"(columns present: {present})", source=config.label,
                          field=absent[0].split(" ->")[0])


def is_memory_path(path: Path) -> bool:
    """Whether a source's path stands for an in-memory table."""
    return path.name.startswith(MEMORY_PREFIX) or str(path).startswith(MEMORY_PREFIX)


def combine_records(parts: pa.Table | Source | Sequence[pa.Table | Source]) -> pa.Table:
    """One RecordTable from RecordTables or :class:`Source` objects, with record ids
    assigned by the engine: dense from 0, in the order given.

    A single table keeps its record ids when they are unique; ids that collide are an
    error, since every later stage addresses records by them. Two parts describing the same
    department and entity type are an error too (as two such sources in a pipeline file)."""
    if isinstance(parts, pa.Table):
        _check_unique_ids(parts)
        return parts
    items = [parts] if isinstance(parts, Source) else list(parts)
    if not items:
        raise SchemaError("records: no tables given")
    tables: list[pa.Table] = []
    offset = 0
    seen: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, Source):
            table = item.records(first_record_id=offset)
        elif isinstance(item, pa.Table):
            missing = [c for c in ("record_id", "source", "source_key", "entity_type")
                       if c not in item.column_names]
            if missing:
                raise SchemaError(f"records[{i}]: not a RecordTable (lacks {', '.join(missing)}); "
                                  "wrap a DataFrame in linkage.Source.from_frame(...)")
            ids = pa.array(np.arange(offset, offset + item.num_rows, dtype=np.int64))
            table = item.set_column(item.column_names.index("record_id"), "record_id", ids)
        else:
            raise SchemaError(f"records[{i}]: expected a RecordTable or a linkage.Source, got "
                              f"{type(item).__name__}")
        offset += table.num_rows
        for source, etype in _departments(table):
            if (source, etype) in seen:
                problems.append(f"records[{i}]: department {source!r} already has {etype} "
                                f"records in records[{seen[(source, etype)]}]; give each table "
                                "its own department")
            seen.setdefault((source, etype), i)
        tables.append(table)
    if problems:
        raise ConfigError(problems, origin="records")
    return pa.concat_tables(tables, promote_options="default")


def _departments(table: pa.Table) -> list[tuple[str, str]]:
    keys = ["source", "entity_type"]
    pairs = table.select(keys).group_by(keys).aggregate([])
    return sorted(zip(pairs.column("source").to_pylist(), pairs.column("entity_type").to_pylist(),
                      strict=True))


def _check_unique_ids(table: pa.Table) -> None:
    if "record_id" not in table.column_names:
        raise SchemaError("records: not a RecordTable (lacks record_id); wrap a DataFrame in "
                          "linkage.Source.from_frame(...)")
    ids = table.column("record_id")
    distinct = pc.count_distinct(ids).as_py()
    if distinct != table.num_rows:
        raise SchemaError(
            f"records: {table.num_rows - distinct} record id(s) are used by more than one record "
            f"({table.num_rows} records, {distinct} distinct ids). Record ids are the engine's "
            "to assign: pass the tables as a list, run(records=[t1, t2, ...]), and they are "
            "numbered for you")


def result_table(result: Any, name: str) -> pa.Table:
    """A result's table by name: ``records``, ``pairs``, ``clusters``, ``conflicts``,
    ``quality``, ``legal_reps``, ``entity_changes``, ``golden_person``, ...."""
    if name.startswith("golden_"):
        golden: dict[str, pa.Table] = result.golden
        etype = name.removeprefix("golden_")
        if etype not in golden:
            raise SchemaError(f"no {name}: this run resolved {', '.join(golden) or 'nothing'}")
        return golden[etype]
    known = ("records", "pairs", "clusters", "conflicts", "quality", "legal_reps",
             "entity_changes")
    if name not in known:
        choices = [*known, *(f"golden_{t}" for t in result.golden)]
        raise SchemaError(f"no table {name!r} in a result (choose from {', '.join(choices)})")
    table = getattr(result, name)
    if table is None:
        raise SchemaError(f"no {name} in this run (it needs both persons and enterprises)")
    out: pa.Table = table
    return out


def to_pandas(table: pa.Table) -> Any:
    """``table`` as a pandas DataFrame (pandas is imported only here)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise SchemaError("to_pandas needs pandas: pip install pandas") from None
    return table.to_pandas()


def to_polars(table: pa.Table) -> Any:
    """``table`` as a polars DataFrame (polars is imported only here)."""
    try:
        import polars as pl
    except ImportError:
        raise SchemaError("to_polars needs polars: pip install polars") from None
    return pl.from_arrow(table)
