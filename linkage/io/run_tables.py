"""Reading a table back from a run folder, whichever engine or run wrote it.

A table of a run folder comes in one of three forms:

* ``<name>.parquet``: one file (a full run of the embedded or out-of-core engine);
* ``<name>/``: a folder of Parquet parts, partitioned by a column such as
  ``entity_type`` (the Spark engine);
* a log (an incremental run, :mod:`linkage.io.run_log`): ``<name>__base.parquet`` (the
  table of the run it started from, hard-linked), then per incremental run since
  ``<name>__add_<n>.parquet`` (rows it added) and ``<name>__del_<n>.parquet`` (the keys of
  the rows it replaced or removed). Run ``n``'s deletions apply to the base and to the
  parts before ``n``; a row is dropped when, for any column of the deletion file, its
  value is one of that column's values there.

:func:`read_run_table` gives every form as one table; every library reader of a run
folder goes through it, so a log table reads as the table a full run would have written
(rows in another order: the base's rows first, then each part's)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["LogTable", "has_run_table", "log_table", "read_run_table", "run_table_names",
           "run_table_schema"]

_PART = re.compile(r"(?P<name>[A-Za-z0-9_]+?)__(?P<kind>add|del)_(?P<n>[0-9]+)\.parquet")


@dataclass(frozen=True)
class LogTable:
    """The files of one log-structured table: its base, and per incremental run ``n``
    (1, 2, ...) the rows added and the keys deleted."""

    name: str
    base: Path
    adds: tuple[Path, ...]
    dels: tuple[Path, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the table (base first, then each run's deletions and additions)."""
        out: list[Path] = [self.base]
        for d, a in zip(self.dels, self.adds, strict=True):
            out += [d, a]
        return tuple(out)


def log_table(run: str | Path, name: str) -> LogTable | None:
    """The log form of table ``name`` in ``run`` (None when it is not a log)."""
    run = Path(run)
    base = run / f"{name}__base.parquet"
    if not base.is_file():
        return None
    adds: dict[int, Path] = {}
    dels: dict[int, Path] = {}
    for path in run.glob(f"{name}__*_*.parquet"):
        m = _PART.fullmatch(path.name)
        if m is None or m["name"] != name:
            continue
        (adds if m["kind"] == "add" else dels)[int(m["n"])] = path
    runs = sorted(adds)
    if runs != list(range(1, len(runs) + 1)) or sorted(dels) != runs:
        raise ValueError(f"{run}: the parts of table {name} are incomplete "
                         f"(additions {sorted(adds)}, deletions {sorted(dels)})")
    return LogTable(name, base, tuple(adds[n] for n in runs), tuple(dels[n] for n in runs))


def has_run_table(run: str | Path, name: str) -> bool:
    """Whether ``run`` holds the table ``name`` in any form."""
    run = Path(run)
    return ((run / f"{name}.parquet").is_file() or (run / name).is_dir()
            or (run / f"{name}__base.parquet").is_file())


def run_table_names(run: str | Path) -> list[str]:
    """The names of the tables in ``run`` (any form), sorted."""
    run = Path(run)
    names = set()
    for path in run.iterdir():
        if path.is_dir() and path.name not in ("worklists", "index"):
            names.add(path.name)
        elif path.name.endswith("__base.parquet"):
            names.add(path.name.removesuffix("__base.parquet"))
        elif path.suffix == ".parquet" and _PART.fullmatch(path.name) is None:
            names.add(path.stem)
    return sorted(names)


def run_table_schema(run: str | Path, name: str) -> pa.Schema:
    """The columns of table ``name`` of ``run`` (any form), without reading its rows."""
    run = Path(run)
    single = run / f"{name}.parquet"
    if single.is_file():
        return pq.read_schema(single)
    if (run / name).is_dir():
        return ds.dataset(run / name, format="parquet", partitioning="hive").schema
    log = log_table(run, name)
    if log is None:
        raise FileNotFoundError(single)
    return pq.read_schema(log.base)


def read_run_table(run: str | Path, name: str, *,
                   columns: Sequence[str] | None = None) -> pa.Table:
    """The table ``name`` of the run folder ``run`` (only ``columns`` of it, those it has,
    when given). A Spark folder's partition column comes back as strings, as the embedded
    engine writes it, not as the dictionary Parquet datasets make of it; a log table as
    its base and parts merged."""
    run = Path(run)
    single = run / f"{name}.parquet"
    if not single.is_file() and not (run / name).is_dir():
        log = log_table(run, name)
        if log is not None:
            return _read_log(log, columns)
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


def _read_log(log: LogTable, columns: Sequence[str] | None) -> pa.Table:
    """A log table merged: each generation (the base, then each run's additions) without
    the rows a later run's deletions name."""
    schema = pq.read_schema(log.base)
    dels = [pq.read_table(p) for p in log.dels]
    keys = sorted({c for d in dels for c in d.column_names if c in schema.names})
    wanted = list(schema.names) if columns is None else [c for c in columns
                                                          if c in schema.names]
    read = wanted + [k for k in keys if k not in wanted]
    parts = []
    for gen, path in enumerate((log.base, *log.adds)):
        table = pq.read_table(path, columns=read)
        later = dels[gen:]  # run n's deletions (index n - 1) hit generations 0 .. n - 1
        drop = None
        for key in keys:
            values = [d.column(key) for d in later if key in d.column_names]
            if not values or not table.num_rows:
                continue
            value_set = pa.chunked_array(values).combine_chunks().drop_null()
            if not len(value_set):
                continue
            hit = pc.is_in(table.column(key), value_set=value_set.cast(
                table.schema.field(key).type))
            drop = hit if drop is None else pc.or_(drop, hit)
        if drop is not None:
            table = table.filter(pc.invert(pc.fill_null(drop, False)))
        parts.append(table.select(wanted))
    return pa.concat_tables(parts)
