"""Stable entity ids across runs, and the log of merges and splits between two runs.

Without history an entity is named after its member with the smallest (department,
department key) (:func:`linkage.master.cluster.default_entity_ids`), which already survives a
repeated run and reordered sources. With the previous run's ``records.parquet``
(``source, source_key, entity_id``) ids are carried over:

* every previous id goes to the new cluster holding most of its old records (ties: the
  cluster with the smaller default id), so an entity keeps its id when records join it,
  when some of its records leave, and when it absorbs another entity;
* a cluster that wins several previous ids keeps the one with most records (ties: the
  smaller id); a cluster that wins none gets a fresh id, never one used before.

The change log has one row per event: ``merge`` (several old ids -> one new), ``split``
(one old id -> several new), ``new`` (an entity made only of new records) and ``retired``
(an old id none of whose records is left).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import SchemaError
from linkage.master.cluster import entity_prefix, member_hash
from linkage.master.groups import as_string, combine
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

__all__ = ["ENTITY_CHANGES", "assign_entity_ids"]

ENTITY_CHANGES = pa.schema(
    [
        ("entity_type", pa.string()),
        ("change", pa.string()),
        ("old_ids", pa.list_(pa.string())),
        ("new_ids", pa.list_(pa.string())),
        ("n_records", pa.int64()),
    ]
)


def assign_entity_ids(
    clusters: pa.Table, records: pa.Table, previous: pa.Table | None
) -> tuple[pa.Table, pa.Table]:
    """``clusters`` with ids carried over from ``previous``, and the change log.

    ``records`` supplies ``source`` and ``source_key`` for each ``record_id`` of
    ``clusters``. ``previous`` may hold several entity types; only rows of this one are used
    (by its ``entity_type`` column, else by the id's prefix).
    """
    require_fields(clusters, ("record_id", "entity_id"), what="assign_entity_ids(clusters)")
    require_fields(records, ("record_id", "source", "source_key"),
                   what="assign_entity_ids(records)")
    etype = (clusters["entity_type"][0].as_py()
             if "entity_type" in clusters.column_names and clusters.num_rows else None)
    if previous is None or clusters.num_rows == 0:
        return clusters, ENTITY_CHANGES.empty_table()
    require_fields(previous, ("source", "source_key", "entity_id"), what="previous records")
    previous = _same_type(previous, etype, clusters)

    keys = _member_keys(clusters, records)
    old_keys = _keys(previous)
    at = pc.index_in(keys, value_set=old_keys)
    old_id_of_key = as_string(previous["entity_id"])
    old_all = pc.unique(pc.drop_null(old_id_of_key)).sort()
    old_rank_of_key = np.asarray(pc.fill_null(pc.index_in(old_id_of_key, value_set=old_all), -1)
                                 .to_numpy(zero_copy_only=False), dtype=np.int64)
    pos = np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    # old id rank per record (a previous run without records of this type has none)
    old = (np.where(pos >= 0, old_rank_of_key[np.maximum(pos, 0)], -1) if len(old_rank_of_key)
           else np.full(len(pos), -1, dtype=np.int64))

    default_ids = as_string(clusters["entity_id"])
    new_all = pc.unique(default_ids).sort()
    new = np.asarray(pc.index_in(default_ids, value_set=new_all).to_numpy(zero_copy_only=False),
                     dtype=np.int64)  # cluster rank per record (by default id)
    n_new = len(new_all)

    # Overlap of each (new cluster, old id).
    has = old >= 0
    pair = combine(new[has], old[has])
    count = np.bincount(pair)
    p_new = np.zeros(len(count), dtype=np.int64)
    p_old = np.zeros(len(count), dtype=np.int64)
    p_new[pair] = new[has]
    p_old[pair] = old[has]
    # Each old id goes to the cluster holding most of its records (ties: smaller cluster rank).
    chosen = np.full(n_new, -1, dtype=np.int64)
    if len(count):
        by_old = np.lexsort((p_new, -count, p_old))
        first_old = by_old[np.r_[True, p_old[by_old][1:] != p_old[by_old][:-1]]]
        # Each cluster keeps, among the old ids it won, the one with most records (ties:
        # the smaller id).
        won = first_old[np.lexsort((p_old[first_old], -count[first_old], p_new[first_old]))]
        keep = won[np.r_[True, p_new[won][1:] != p_new[won][:-1]]]
        chosen[p_new[keep]] = p_old[keep]

    final = np.array(new_all.to_pylist(), dtype=object)
    old_names = np.array(old_all.to_pylist(), dtype=object)
    final[chosen >= 0] = old_names[chosen[chosen >= 0]]
    used = set(old_all.to_pylist())
    fresh = np.flatnonzero(chosen < 0)
    for c in fresh.tolist():
        name = final[c]
        salt = 0
        while name in used:
            salt += 1
            name = name[0] + member_hash(name, str(salt))
        final[c] = name
        used.add(name)
    out_ids = pa.array(final[new].tolist(), pa.string())
    out = clusters.set_column(clusters.schema.get_field_index("entity_id"), "entity_id", out_ids)

    changes = _changes(etype, final, old_names, new, old, p_new, p_old, count, chosen)
    log.info("entity ids %s: %d kept from the previous run, %d fresh; %d change(s) logged",
             etype, int((chosen >= 0).sum()), len(fresh), changes.num_rows)
    return out, changes


def _changes(
    etype: str | None,
    final: np.ndarray,
    old_names: np.ndarray,
    new: np.ndarray,
    old: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray,
    count: np.ndarray,
    chosen: np.ndarray,
) -> pa.Table:
    """The change log, built from the (new cluster, old id) overlap pairs on whole arrays."""
    n_new, n_old = len(final), len(old_names)
    new_names = pa.array(final.tolist(), pa.string())
    old_arr = pa.array(old_names.tolist(), pa.string())
    new_rank = np.empty(n_new, dtype=np.int64)
    new_rank[pc.sort_indices(new_names).to_numpy()] = np.arange(n_new)
    olds_per_new = np.bincount(p_new, minlength=n_new)
    news_per_old = np.bincount(p_old, minlength=n_old)
    size_new = np.bincount(new, minlength=n_new)
    moved = np.bincount(p_old, weights=count, minlength=n_old).astype(np.int64)
    parts: list[pa.Table] = []

    # Merges: one row per new cluster holding records of 2+ old ids (old ids sorted).
    sel = np.flatnonzero(olds_per_new[p_new] >= 2)
    sel = sel[np.lexsort((p_old[sel], p_new[sel]))]
    owners, starts = _groups(p_new[sel])
    parts.append(_table(etype, "merge", _lists(old_arr, p_old[sel], starts),
                        _singles(new_names, owners), size_new[owners]))
    # Splits: one row per old id whose records are now in 2+ clusters (new ids sorted).
    sel = np.flatnonzero(news_per_old[p_old] >= 2)
    sel = sel[np.lexsort((new_rank[p_new[sel]], p_old[sel]))]
    owners, starts = _groups(p_old[sel])
    parts.append(_table(etype, "split", _singles(old_arr, owners),
                        _lists(new_names, p_new[sel], starts), moved[owners]))
    fresh = np.flatnonzero(olds_per_new == 0)
    parts.append(_table(etype, "new", _empties(len(fresh)), _singles(new_names, fresh),
                        size_new[fresh]))
    gone = np.flatnonzero(news_per_old == 0)
    parts.append(_table(etype, "retired", _singles(old_arr, gone), _empties(len(gone)),
                        np.zeros(len(gone), dtype=np.int64)))
    table = pa.concat_tables(parts)
    if table.num_rows:
        blank = pa.array([[""]] * table.num_rows, pa.list_(pa.string()))
        first_old = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(
            table["old_ids"]), 0), table["old_ids"], blank), 0)
        first_new = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(
            table["new_ids"]), 0), table["new_ids"], blank), 0)
        table = table.take(pc.sort_indices(pa.table({"c": table["change"], "o": first_old,
                                                     "n": first_new}),
                                           sort_keys=[("c", "ascending"), ("o", "ascending"),
                                                      ("n", "ascending")]))
    return table


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted ``keys`` and where each run starts (plus the end)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[first], np.r_[first, len(keys)].astype(np.int64)


def _lists(names: pa.Array, index: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                    names.take(pa.array(index, pa.int64())))


def _singles(names: pa.Array, index: np.ndarray) -> pa.Array:
    return _lists(names, index, np.arange(len(index) + 1))


def _empties(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)),
                                    pa.array([], pa.string()))


def _table(etype: str | None, change: str, old_ids: pa.Array, new_ids: pa.Array,
           n_records: np.ndarray) -> pa.Table:
    n = len(old_ids)
    return pa.table({
        "entity_type": pa.array([etype] * n, pa.string()),
        "change": pa.array([change] * n, pa.string()),
        "old_ids": old_ids.cast(pa.list_(pa.string())),
        "new_ids": new_ids.cast(pa.list_(pa.string())),
        "n_records": pa.array(n_records, pa.int64()),
    }, schema=ENTITY_CHANGES)


def _same_type(previous: pa.Table, etype: str | None, clusters: pa.Table) -> pa.Table:
    if etype is None:
        return previous
    if "entity_type" in previous.column_names:
        return previous.filter(pc.fill_null(pc.equal(previous["entity_type"], etype), False))
    prefix = entity_prefix(etype)
    return previous.filter(pc.fill_null(pc.starts_with(as_string(previous["entity_id"]), prefix),
                                        False))


def _keys(table: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(pc.fill_null(as_string(table["source"]), ""),
                                       pc.fill_null(as_string(table["source_key"]), ""), "\x1f")


def _member_keys(clusters: pa.Table, records: pa.Table) -> pa.Array:
    """(source, source_key) key of each cluster row, via its record id."""
    found = pc.index_in(clusters["record_id"], value_set=records["record_id"].combine_chunks())
    if pc.any(pc.is_null(found)).as_py():
        raise SchemaError("assign_entity_ids: some cluster record ids are not in records")
    return _keys(records).take(found)
