"""What writing a master index whole (:mod:`linkage.service.index_write`) and writing an
incremental run's part of it (:mod:`linkage.service.index_parts`) share: the scratch
folder, key files written sorted, content hashes, term-frequency counts changed by a
batch, and tables cast back from their compact storage."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.config import EntityConfig
from linkage.service.index_files import SortedKeys
from linkage.service.index_tables import CONTENT, HASH, id_type, plain, write_arrow
from linkage.service.keys import content_hash, hash_strings

if TYPE_CHECKING:
    from linkage.service.index_write import IndexUpdate

__all__ = ["content_columns", "content_of", "fresh_folder", "merge_counts", "spill_beside",
           "tf_delta", "unpacked", "unpacked_schema", "unpacked_type", "updated_tf",
           "write_keys", "write_tf"]


@contextlib.contextmanager
def spill_beside(folder: Path) -> Iterator[Path]:
    """A scratch folder beside ``folder`` for :func:`mapped`, removed afterwards."""
    spill = folder.with_name(f"{folder.name}.spill")
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir()
    try:
        yield spill
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def unpacked_type(kind: pa.DataType) -> pa.DataType:
    """``kind`` as before :func:`compact`: dictionaries decoded, 32-bit integers wide."""
    if pa.types.is_dictionary(kind):
        return unpacked_type(kind.value_type)
    if pa.types.is_int32(kind):
        return pa.int64()
    if pa.types.is_list(kind):
        return pa.list_(unpacked_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(kind.field(k).name, unpacked_type(kind.field(k).type))
                          for k in range(kind.num_fields)])
    return kind


def unpacked_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, unpacked_type(f.type)) for f in schema])


def unpacked(table: pa.Table, like: pa.Schema) -> pa.Table:
    """``table`` cast to ``like``'s column types, unpacked (:func:`unpacked_type`)."""
    return table.cast(unpacked_schema(pa.schema([like.field(n) for n in table.column_names])))


def content_columns(table: pa.Table, fields: list[str], *, raw: bool) -> list[pa.ChunkedArray]:
    """The values a record's content hash is taken over: each field as the department
    gave it (``<field>__raw`` of a standardised record, ``raw``; the field itself of a
    source row) and updated_at; a column the table lacks counts as null."""
    names = [f"{f}__raw" if raw else f for f in fields] + ["updated_at"]
    n = table.num_rows
    return [table.column(c) if c in table.column_names
            else pa.chunked_array([pa.nulls(n, pa.string())]) for c in names]


def content_of(records: pa.Table, section: EntityConfig,
             update: IndexUpdate | None) -> npt.NDArray[np.uint64]:
    """Each record's content hash: the previous index's where it holds the record."""
    fields = list(section.fields)
    if update is None or CONTENT not in update.base.records.column_names:
        return content_hash(content_columns(records, fields, raw=True))
    ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    base = update.base
    pos = base.positions(ids)
    known = pos >= 0
    content = np.empty(len(ids), dtype=np.uint64)
    content[known] = np.asarray(base.records.column(CONTENT).take(pa.array(pos[known]))
                                .to_numpy(), dtype=np.uint64)
    fresh = np.flatnonzero(~known)
    if len(fresh):
        content[fresh] = content_hash(content_columns(
            records.take(pa.array(fresh)), fields, raw=True))
    return content


def tf_delta(update: IndexUpdate, field: str) -> tuple[npt.NDArray[np.uint64],
                                                          npt.NDArray[np.int64]]:
    """Value hashes whose counts change, and by how much (+1 added, -1 removed)."""
    removed = plain(update.base.records.select([field]).take(
        pa.array(update.base.positions(update.removed)))).column(field)
    h_add, p_add = hash_strings(update.added.column(field))
    h_rem, p_rem = hash_strings(removed)
    return (np.concatenate([h_add[p_add], h_rem[p_rem]]),
            np.concatenate([np.ones(int(p_add.sum()), dtype=np.int64),
                            -np.ones(int(p_rem.sum()), dtype=np.int64)]))


def merge_counts(old: SortedKeys, h: npt.NDArray[np.uint64],
                  delta: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.uint64],
                                                         npt.NDArray[np.int64], int]:
    """``old``'s counts changed by ``delta`` per hash; values whose count drops to 0 go.
    (The changed hashes are found in the sorted old ones by search: sorting the millions
    of old hashes again cost more than the rest of the update.)"""
    changed, inverse = np.unique(h, return_inverse=True)
    by = np.bincount(inverse, weights=delta, minlength=len(changed)).astype(np.int64)
    old_h = np.asarray(old.hashes, dtype=np.uint64)
    counts = np.array(old.values, dtype=np.int64)
    at = np.searchsorted(old_h, changed)
    known = at < len(old_h)
    known[known] = old_h[at[known]] == changed[known]
    counts[at[known]] += by[known]
    values = np.insert(old_h, at[~known], changed[~known])
    counts = np.insert(counts, at[~known], by[~known])
    alive = counts > 0
    return values[alive], counts[alive], int(delta.sum())


def fresh_folder(out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def write_keys(h: npt.NDArray[np.uint64], present: npt.NDArray[np.bool_],
                ids: pa.Array, path: Path) -> None:
    rid = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)[present]
    hv = h[present]
    order = np.argsort(hv, kind="stable")
    write_arrow(pa.table({HASH: pa.array(hv[order], pa.uint64()),
                          "record_id": pa.array(rid[order], id_type(rid))}), path)


def updated_tf(update: IndexUpdate, field: str, name: str) -> tuple[
        npt.NDArray[np.uint64], npt.NDArray[np.int64], int]:
    """Comparison ``name``'s value counts (over ``field``) after ``update``: the sorted
    hashes, their counts and the new total."""
    old, total = update.base.tf[name]
    values, counts, change = merge_counts(old, *tf_delta(update, field))
    return values, counts, total + change


def write_tf(values: npt.NDArray[np.uint64], counts: npt.NDArray[np.int64], path: Path) -> None:
    """A term-frequency file: value hash -> count, sorted by hash."""
    write_arrow(pa.table({HASH: pa.array(values, pa.uint64()),
                          "count": pa.array(counts.astype(np.int64))}), path)
