"""The master's tables as an incremental run reads and carries them: the previous run's
tables read once, when first needed (:class:`Loads`); the touched entities' rows taken
from the mapped index (:func:`master_rows`, :func:`old_golden`); and the complete tables
after the run (the master's rows carried over, the touched ones replaced), built only
when read (:class:`IncrementalEntity`, :class:`Carried`): the run's own writers take the
changes alone, and building the whole master's tables would cost more than the rest of
the run."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.io.run_tables import read_run_table, run_table_schema
from linkage.pipeline import EntityResult
from linkage.schemas import CONFLICTS
from linkage.service.index import MasterIndexError, TypeIndex
from linkage.service.index_tables import plain

if TYPE_CHECKING:
    from linkage.service.incremental import _Touched

log = logging.getLogger(__name__)

__all__ = ["Carried", "IncrementalEntity", "Loads", "lazy_table", "master_rows",
           "master_term_frequencies", "old_golden",
           "rows_where", "updated_rows", "without"]


def lazy_table(name: str) -> Any:
    """A table attribute built by its maker when first read (see IncrementalEntity)."""
    def get(self: Any) -> pa.Table:
        value = self.__dict__.get(name)
        if value is None:
            t0 = time.perf_counter()
            value = self.__dict__[name] = self._makers[name]()
            log.info("incremental run: the complete %s table built when read (%.2f s)", name,
                     time.perf_counter() - t0)
        return value

    def put(self: Any, value: pa.Table | None) -> None:
        self.__dict__[name] = value
    return property(get, put)


class IncrementalEntity(EntityResult):
    """An EntityResult whose complete tables (records, scored pairs, clusters, golden
    records: the master's rows carried over, the batch's merged in) are built only when
    read: the incremental run's writers take the changes, and building the whole
    master's tables would cost more than the rest of the run."""

    MADE = ("records", "scored", "clusters", "golden")
    records = lazy_table("records")
    scored = lazy_table("scored")
    clusters = lazy_table("clusters")
    golden = lazy_table("golden")
    conflicts = lazy_table("conflicts")

    def __init__(self, makers: Mapping[str, Callable[[], pa.Table]], **fields: Any) -> None:
        self._makers = dict(makers)
        super().__init__(**{**dict.fromkeys(makers), **fields})

    def remake(self, name: str, make: Callable[[], pa.Table]) -> None:
        """Table ``name`` is ``make()``, built when first read."""
        self._makers[name] = make
        self.__dict__[name] = None


@dataclass
class Loads:
    """One type's tables of the previous run (from its run folder), each read once, when
    first needed. (Reading them on threads while the batch is linked was tried: on two
    cores it slowed the linking, which already uses both, more than it saved.)"""

    ti: TypeIndex

    @functools.cached_property
    def records(self) -> pa.Table:
        ti = self.ti
        if not one_type(ti.run_dir, "records", ti.entity_type):
            return ti.full_records()
        # what full_records gives, without its filter's copy of every column when the
        # master holds this type alone
        records = read_run_table(ti.run_dir, "records")
        ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
        if len(ids) > 1 and not bool((ids[1:] >= ids[:-1]).all()):
            records = records.sort_by("record_id")
            ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
        if not np.array_equal(ids, ti.record_ids):
            return ti.full_records()  # which says what is wrong
        return records

    @functools.cached_property
    def records_schema(self) -> pa.Schema:
        """The columns of the run folder's records (read from its footer alone)."""
        return run_table_schema(self.ti.run_dir, "records")

    @functools.cached_property
    def golden_schema(self) -> pa.Schema:
        return run_table_schema(self.ti.run_dir, f"golden_{self.ti.entity_type}")

    @functools.cached_property
    def pairs(self) -> pa.Table:
        ti = self.ti
        if not one_type(ti.run_dir, "pairs", ti.entity_type):
            return ti.pairs()
        pairs = read_run_table(ti.run_dir, "pairs")
        return pairs.drop_columns([c for c in pairs.column_names if c == "entity_type"])

    @functools.cached_property
    def golden(self) -> pa.Table:
        return self.ti.full_golden()

    @functools.cached_property
    def conflicts(self) -> pa.Table:
        ti = self.ti
        if not one_type(ti.run_dir, "conflicts", ti.entity_type):
            return ti.conflicts
        conflicts = read_run_table(ti.run_dir, "conflicts")
        return conflicts if conflicts.num_rows else CONFLICTS.empty_table()

    @functools.cached_property
    def clusters(self) -> pa.Table:
        return self.ti.clusters


def one_type(run: Path, name: str, entity_type: str) -> bool:
    """Whether every row of a run's table is of ``entity_type`` (read from its
    ``entity_type`` column alone): then the table needs no filter, which copies it."""
    try:
        types = read_run_table(run, name, columns=["entity_type"])
    except (OSError, ValueError):
        return False
    if "entity_type" not in types.column_names:
        return False
    column = types.column("entity_type")
    return bool(pc.all(pc.equal(column, entity_type)).as_py()) if len(column) else False


def master_rows(ti: TypeIndex, record_ids: npt.NDArray[np.int64],
                 schema: pa.Schema) -> pa.Table:
    """The master's rows of ``record_ids`` with the columns of the run folder's records
    table (``schema``): the index's stored columns, the type and the cluster size."""
    taken = pa.array(ti.positions(record_ids))  # rows of the stacked base and parts
    stored = plain(ti.records.take(taken))
    columns = []
    for f in schema:
        if f.name == "entity_type":
            column = pa.repeat(pa.scalar(ti.entity_type, pa.string()), len(record_ids))
        elif f.name == "cluster_size":
            # (clusters are in live record-id order)
            column = ti.clusters.column("cluster_size").take(pa.array(ti.ranks(record_ids)))
        elif f.name in stored.column_names:
            column = stored.column(f.name)
        else:
            raise MasterIndexError(f"{ti.run_dir}: the index holds no column {f.name!r} of "
                                   f"the run's records; rebuild it with "
                                   f"`linkage index {ti.run_dir}`")
        columns.append(pc.cast(column, f.type))
    return pa.table(columns, schema=schema)


def old_golden(ti: TypeIndex, entity_ids: pa.Array, loads: Loads) -> pa.Table:
    """The previous run's golden records of ``entity_ids``, as its run folder has them,
    taken from the mapped index (not the run folder's golden table read whole)."""
    schema = loads.golden_schema
    rows = ti.golden_table(entity_ids)
    missing = [n for n in schema.names if n not in rows.column_names]
    if missing:
        raise MasterIndexError(f"{ti.run_dir}: the index's golden records lack {missing}; "
                               f"rebuild it with `linkage index {ti.run_dir}`")
    return rows.select(schema.names).cast(schema)


class Carried:
    """An entity type's complete tables after an incremental run: the master's carried
    over, the touched entities' replaced. Each is built when first asked for (a library
    caller's explain, legal representatives of both types); the run's own writers take
    only the changes."""

    def __init__(self, ti: TypeIndex, loads: Loads, touched: _Touched) -> None:
        self.ti, self.loads, self.touched = ti, loads, touched

    @functools.cached_property
    def _retired_rows(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(np.isin(self.ti.record_ids, self.touched.retired))

    def golden(self) -> pa.Table:
        old = self.loads.golden
        untouched = without(old, rows_where(old.column("entity_id"), self.touched.old_ids))
        # (not sorted again: the run folder's golden table is a log, in no one order)
        return pa.concat_tables([untouched, self.touched.golden], promote_options="default")

    def clusters(self) -> pa.Table:
        old = self.loads.clusters
        sub = self.touched.clusters
        incoming = sub.filter(pc.is_in(sub.column("record_id"),
                                       value_set=self.touched.added.column("record_id")))
        return pa.concat_tables([
            updated_rows(without(old, self._retired_rows), sub),
            incoming.select([c for c in old.column_names if c in incoming.column_names])],
            promote_options="default")

    @functools.cache  # noqa: B019 (one per run and type, dropped with it)
    def records(self) -> pa.Table:
        """Records stay in record-id order: rows of re-clustered records updated in
        place, retired ones dropped, the batch's (larger ids) appended."""
        t = self.touched
        added = t.records_added.slice(t.records_added.num_rows - t.added.num_rows)
        return pa.concat_tables([
            updated_rows(without(self.loads.records, self._retired_rows), t.clusters,
                     ("entity_id", "cluster_size")), added], promote_options="default")

    def std_records(self) -> pa.Table:
        return self.records().drop_columns(["entity_id", "cluster_size"])

    def scored(self) -> pa.Table:
        old = self.loads.pairs
        retired = pa.array(self.touched.retired, pa.int64())
        new = self.touched.pairs_added
        return pa.concat_tables([
            without(old, np.union1d(rows_where(old.column("id_l"), retired),
                                     rows_where(old.column("id_r"), retired))),
            new.select([c for c in old.column_names if c in new.column_names])],
            promote_options="default")


def rows_where(column: pa.ChunkedArray | pa.Array, values: pa.Array) -> npt.NDArray[np.int64]:
    """The (sorted) positions of the rows whose value is one of ``values``."""
    hit = pc.is_in(column, value_set=values.cast(column.type))
    return np.flatnonzero(np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False),
                                     dtype=bool)).astype(np.int64)


def without(table: pa.Table, rows: npt.NDArray[np.int64]) -> pa.Table:
    """``table`` without the given (sorted, distinct) row positions: the runs of rows
    between them as zero-copy slices (a filter would copy every column of the master
    to drop 1% of its rows), or a filter when the runs would be too many."""
    if not len(rows):
        return table
    if len(rows) > max(64, table.num_rows // 64):
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        return table.filter(pa.array(keep))
    starts = np.concatenate([[0], rows + 1])
    ends = np.concatenate([rows, [table.num_rows]])
    return pa.concat_tables([table.slice(int(a), int(b - a))
                             for a, b in zip(starts, ends, strict=True) if b > a] or
                            [table.slice(0, 0)])


def updated_rows(table: pa.Table, changed: pa.Table,
             columns: tuple[str, ...] | None = None) -> pa.Table:
    """``table`` with the given columns (default: every column ``changed`` shares but
    record_id) taken from ``changed`` on the rows whose record_id it holds."""
    pos = pc.index_in(table.column("record_id"), value_set=changed.column("record_id"))
    hit = pc.is_valid(pos)
    names = columns or tuple(c for c in table.column_names
                             if c in changed.column_names and c != "record_id")
    for name in names:
        old = table.column(name).combine_chunks()
        new = changed.column(name).combine_chunks().take(pos).cast(old.type)
        table = table.set_column(table.column_names.index(name), name,
                                 pc.if_else(hit, new, old))
    return table


def master_term_frequencies(ti: TypeIndex, vectors: pa.Table, mini: pa.Table) -> pa.Table:
    """Term frequencies among the master (compare on the small table counts only it)."""
    ids = np.asarray(mini.column("record_id").to_numpy(), dtype=np.int64)
    order = np.argsort(ids)
    for comp in ti.section.comparisons:
        col = f"tf_{comp.name}"
        if not comp.term_frequency or col not in vectors.column_names or comp.name not in ti.tf:
            continue
        tf_rows = ti.term_frequencies(mini.column(comp.field).combine_chunks(), comp.name,
                                      query=False)
        pos_l = order[np.searchsorted(ids[order], vectors.column("id_l").to_numpy())]
        pos_r = order[np.searchsorted(ids[order], vectors.column("id_r").to_numpy())]
        tf = np.maximum(tf_rows[pos_l], tf_rows[pos_r])
        vectors = vectors.set_column(vectors.column_names.index(col), col,
                                     pa.array(tf, pa.float32()))
    return vectors
