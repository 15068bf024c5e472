"""Reading a table back from a run folder, whichever engine wrote it: the embedded engine
writes ``<name>.parquet``, the Spark engine a folder of Parquet parts (``<name>/``,
partitioned by a column such as ``entity_type``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["has_run_table", "read_run_table"]


def has_run_table(run: Path, name: str) -> bool:
    """Whether ``run`` holds the table ``name`` in either form."""
    return (run / f"{name}.parquet").is_file() or (run / name).is_dir()


def read_run_table(run: Path, name: str, *, columns: Sequence[str] | None = None) -> pa.Table:
    """The table ``name`` of the run folder ``run`` (only ``columns`` of it, those it has,
    when given). A Spark folder's partition column comes back as strings, as the embedded
    engine writes it, not as the dictionary Parquet datasets make of it."""
    single = run / f"{name}.parquet"
    path = single if single.is_file() or not (run / name).is_dir() else run / name
    wanted = None
    if columns is not None:
        names = (pq.read_schema(path).names if path == single
                 else ds.dataset(path, format="parquet", partitioning="hive").schema.names)
        wanted = [c for c in columns if c in names]
    table = pq.read_table(path, columns=wanted)
    if path == single:
        return table
    return pa.table({f.name: (table.column(f.name).cast(f.type.value_type)
                              if pa.types.is_dictionary(f.type) else table.column(f.name))
                     for f in table.schema})
