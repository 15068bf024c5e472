"""How the master index's tables are stored (:mod:`linkage.service.index` reads them,
:mod:`linkage.service.index_write` writes them): one uncompressed record batch per Arrow
IPC file, read back memory-mapped, so a lookup reads only the pages it needs; text that
repeats dictionary-encoded and record ids 32-bit when they fit (:func:`compact`); and
conflicts stored in their golden records' order without what the golden record and each
candidate's record already hold (:func:`conflicts_by_golden`). Kept apart from both so
the reader does not import the writer, and the writer's merging stays readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from linkage.schemas import CONFLICTS
from linkage.service.keys import hash_strings

__all__ = [
    "CANDIDATE_COLUMNS",
    "CONFLICT_COLUMNS",
    "CONTENT",
    "ENDS",
    "FROM_RECORD",
    "HASH",
    "by_entity_hash",
    "compact",
    "conflicts_by_golden",
    "id_type",
    "mapped",
    "plain",
    "read_arrow",
    "write_arrow",
]

#: the column of a sorted file's hashes (of keys, values, entity ids)
HASH = "__hash"

#: a hash of each record's raw field values and updated_at
#: (:func:`~linkage.service.index_write.content_columns`)
CONTENT = "__content"

#: a conflict candidate's columns that are its record's, taken from records.arrow
FROM_RECORD = ("source", "source_key", "updated_at")

#: golden.arrow's column of where each entity's conflicts end in conflicts.arrow
ENDS = "__conflicts"

#: a conflict's columns, and a conflict candidate's, in the conflicts table's order
CONFLICT_COLUMNS = tuple(CONFLICTS.names)
CANDIDATE_COLUMNS = tuple(f.name for f in CONFLICTS.field("candidates").type.value_type)


def conflicts_by_golden(conflicts: pa.Table, golden: pa.Table, records: pa.Table,
                        spill: Path) -> tuple[pa.Table, npt.NDArray[np.int64] | None]:
    """Conflicts for conflicts.arrow: in the order of ``golden`` (sorted by entity hash),
    without the entity id and (when every one is the golden record's) the golden value,
    and the end of each golden record's conflicts. Conflicts of an entity without a
    golden record (none in a run's tables) keep the layout of entity hashes instead."""
    at = pc.index_in(conflicts.column("entity_id"), value_set=golden.column("entity_id"))
    if at.null_count:
        return _compact_conflicts(by_entity_hash(conflicts, spill), records), None
    rows = np.asarray(at.to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ends = np.cumsum(np.bincount(rows, minlength=golden.num_rows)).astype(np.int64)
    table = mapped(conflicts, order, spill)
    rows = rows[order]
    drop = ["entity_id", *(["golden_value"] if _golden_values_hold(table, golden, rows)
                           else [])]
    return _compact_conflicts(table.drop_columns(drop), records), ends


def _golden_values_hold(conflicts: pa.Table, golden: pa.Table,
                        rows: npt.NDArray[np.int64]) -> bool:
    """Whether each conflict's golden value is its golden record's value of its field."""
    if "golden_value" not in conflicts.column_names:
        return False
    fields = np.asarray(conflicts.column("field").to_numpy(zero_copy_only=False), dtype=object)
    given = conflicts.column("golden_value")
    for name in np.unique(fields).tolist():
        if name not in golden.column_names:
            return False
        mask = fields == name
        mine = pc.fill_null(pc.cast(given.filter(pa.array(mask)), pa.string()), "\x00null")
        theirs = pc.fill_null(pc.cast(golden.column(name).take(pa.array(rows[mask])),
                                      pa.string()), "\x00null")
        if not pc.all(pc.equal(mine, theirs)).as_py():
            return False
    return True


def _compact_conflicts(conflicts: pa.Table, records: pa.Table) -> pa.Table:
    """Conflicts compacted, their candidates without the columns that are their records'
    (:data:`FROM_RECORD`) when every candidate's are, and with each value that is its
    record's value of the field left out (as ``__value``, null for those)."""
    candidates = conflicts.column("candidates").combine_chunks()
    values = candidates.values if len(candidates) else None
    pos = (_record_positions(values, records)
           if values is not None and not candidates.null_count else None)
    if values is None or pos is None:
        return compact(conflicts, keep=(HASH,), narrow=True)
    children = {values.type.field(k).name: values.field(k)
                for k in range(values.type.num_fields)
                if values.type.field(k).name not in FROM_RECORD}
    own = _own_values(children.get("value"), conflicts, candidates, records, pos)
    if own is not None:
        children = {("__value" if n == "value" else n): (own if n == "value" else c)
                    for n, c in children.items()}
    slim = pa.StructArray.from_arrays(list(children.values()), names=list(children))
    candidates = pa.ListArray.from_arrays(candidates.offsets, slim)
    conflicts = conflicts.set_column(conflicts.column_names.index("candidates"),
                                     "candidates", candidates)
    return compact(conflicts, keep=(HASH,), narrow=True)


def _record_positions(values: pa.StructArray, records: pa.Table
                      ) -> npt.NDArray[np.int64] | None:
    """Each candidate's row in ``records`` when every candidate's source, key and
    updated_at are those of its record (None otherwise)."""
    names = [values.type.field(k).name for k in range(values.type.num_fields)]
    if "record_id" not in names or not all(c in names for c in FROM_RECORD) \
            or values.null_count or values.offset:
        return None
    rid = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    cand = values.field("record_id")
    if cand.null_count or not len(rid):
        return None
    wanted = np.asarray(cand.to_numpy(), dtype=np.int64)
    pos = np.minimum(np.searchsorted(rid, wanted), len(rid) - 1)
    if not bool((rid[pos] == wanted).all()):
        return None
    taken = pa.array(pos)
    for name in FROM_RECORD:
        mine = values.field(name)
        theirs = records.column(name).take(taken).combine_chunks().cast(mine.type)
        if not mine.equals(theirs):
            return None
    return pos


def _own_values(value: pa.Array | None, conflicts: pa.Table, candidates: pa.ListArray,
                records: pa.Table, pos: npt.NDArray[np.int64]) -> pa.Array | None:
    """The candidates' values with those equal to their record's value of the conflict's
    field made null (None when some other value is null itself, or a field is not in
    ``records``)."""
    if value is None or not pa.types.is_string(value.type):
        return None
    parent = np.asarray(pc.list_parent_indices(candidates).to_numpy(), dtype=np.int64)
    fields = np.asarray(conflicts.column("field").combine_chunks().take(pa.array(parent))
                        .to_numpy(zero_copy_only=False), dtype=object)
    same = np.zeros(len(value), dtype=bool)
    for name in np.unique(fields).tolist():
        if name not in records.column_names:
            return None
        mask = fields == name
        mine = pc.fill_null(value.filter(pa.array(mask)), "\x00null")
        theirs = pc.fill_null(pc.cast(records.column(name).take(pa.array(pos[mask])),
                                      pa.string()), "\x00null")
        same[mask] = np.asarray(pc.equal(mine, theirs).to_numpy(zero_copy_only=False),
                                dtype=bool)
    if bool((~same & ~np.asarray(value.is_valid().to_numpy(zero_copy_only=False),
                                  dtype=bool)).any()):
        return None
    return pc.if_else(pa.array(same), pa.nulls(len(value), pa.string()), value)


def compact(table: pa.Table, *, keep: tuple[str, ...] = (), narrow: bool = False
            ) -> pa.Table:
    """``table`` with each string column (also inside lists and structs) that repeats
    its values enough dictionary-encoded, and (``narrow``) 64-bit integers that fit in
    32 bits narrowed, but the columns ``keep``. The values read back are the same; only
    the bytes on disk change (a table only ever read row by row, as JSON, is narrowed)."""
    for i, name in enumerate(table.column_names):
        if name in keep:
            continue
        column = table.column(i)
        packed = _compact_array(column.combine_chunks(), narrow)
        if packed.type != column.type:
            table = table.set_column(i, name, packed)
    return table


def _compact_array(arr: pa.Array, narrow: bool) -> pa.Array:
    kind = arr.type
    if narrow and pa.types.is_int64(kind) and len(arr):
        low, high = pc.min_max(arr).values()
        fits = low.as_py() is None or (low.as_py() >= -(1 << 31) and high.as_py() < 1 << 31)
        return arr.cast(pa.int32()) if fits else arr
    if pa.types.is_string(kind):
        encoded = pc.dictionary_encode(arr)
        size = len(encoded.dictionary)
        index = pa.int8() if size < 1 << 7 else pa.int16() if size < 1 << 15 else pa.int32()
        encoded = encoded.cast(pa.dictionary(index, pa.string()))
        return encoded if encoded.nbytes < 0.75 * arr.nbytes else arr
    if pa.types.is_list(kind) and arr.offset == 0:
        assert isinstance(arr, pa.ListArray)
        inner = _compact_array(arr.values, narrow)
        if inner.type == arr.values.type:
            return arr
        return pa.ListArray.from_arrays(arr.offsets, inner,
                                        mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_struct(kind) and arr.offset == 0 and not arr.null_count:
        assert isinstance(arr, pa.StructArray)
        children = [_compact_array(arr.field(k), narrow) for k in range(kind.num_fields)]
        if all(c.type == arr.field(k).type for k, c in enumerate(children)):
            return arr
        return pa.StructArray.from_arrays(
            children, fields=[pa.field(kind.field(k).name, c.type)
                              for k, c in enumerate(children)])
    return arr


def plain(table: pa.Table) -> pa.Table:
    """``table`` with dictionary-encoded columns decoded (as a run's tables have them)."""
    if not any(pa.types.is_dictionary(f.type) for f in table.schema):
        return table
    return table.cast(pa.schema([pa.field(f.name, f.type.value_type) if
                                 pa.types.is_dictionary(f.type) else f for f in table.schema]))


def id_type(values: npt.NDArray[np.int64]) -> pa.DataType:
    """int32 for record ids that fit (half the bytes of a key file's id column)."""
    return pa.int32() if not len(values) or int(values.max()) < 1 << 31 else pa.int64()


def by_entity_hash(table: pa.Table, spill: Path) -> pa.Table:
    h, _ = hash_strings(table.column("entity_id")) if table.num_rows else (
        np.zeros(0, np.uint64), None)
    order = np.argsort(h, kind="stable")
    return mapped(table.append_column(HASH, pa.array(h, pa.uint64())), order, spill)


def mapped(table: pa.Table, rows: npt.NDArray[np.int64] | None, spill: Path) -> pa.Table:
    """``table``'s ``rows`` (all, when None) with each column as one chunk, built one
    column at a time into a file of ``spill`` and read back memory-mapped: a large run's
    index is written with one column in the process's own memory, not the whole table
    (the mapped pages are the page cache's, which the kernel can drop)."""
    columns = []
    taken = None if rows is None else pa.array(rows, pa.int64())
    for i, name in enumerate(table.column_names):
        column = table.column(name)
        if taken is not None:
            column = column.take(taken)
        elif column.num_chunks == 1:
            columns.append(column)
            continue
        single = pa.table({name: column.combine_chunks()})
        path = spill / f"{len(list(spill.iterdir()))}-{i}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, single.schema) as writer:
            writer.write_table(single)
        del single, column
        columns.append(read_arrow(path).column(0))
    return pa.table(columns, schema=table.schema)


def write_arrow(table: pa.Table, path: Path, spill: Path | None = None, *,
                compression: str | None = None) -> None:
    """One record batch (the resolver reads each column as one array, without a copy);
    given ``spill``, a table of many chunks is made one through it (:func:`mapped`)."""
    if spill is not None and any(c.num_chunks > 1 for c in table.columns):
        table = mapped(table, None, spill)
    options = ipc.IpcWriteOptions(compression=compression)
    with pa.OSFile(str(path), "wb") as sink, \
            ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table.combine_chunks())


def read_arrow(path: Path) -> pa.Table:
    """A memory-mapped Arrow IPC file (its buffers are the file's pages, read on use)."""
    source = pa.memory_map(str(path), "r")
    return ipc.open_file(source).read_all()
