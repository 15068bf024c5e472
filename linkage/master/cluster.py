"""Cluster stage: links -> entities, repaired so no entity holds two different identities.

A link is a scored pair with ``match_probability >= threshold`` or ``must_link``; a pair
flagged ``cannot_link`` is never a link. Connected components of the links are the first
clusters (``scipy.sparse.csgraph``: whole arrays, no per-record Python).

Repair: a component that contains two records with different *valid* values of an identity
field (ID number, credit code), or both ends of a cannot-link pair, is rebuilt greedily from
its strongest edge down, refusing every edge that would join two groups that may not be one
entity. The refused edges are exactly the weakest ones that had to go. Only the few broken
components are visited in Python.

Quality figures per cluster (repeated on each member row): number of edges kept, density,
weakest edge, whether repair split it, and ``weak_bridge``: the cluster (3+ records) hangs
together through a bridge edge whose probability is below ``weak_bridge_probability``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from linkage.master.groups import distinct_per_group, record_rank
from linkage.schemas import CLUSTERS, RECORD_BASE, SCORED_PAIRS, require_columns

log = logging.getLogger(__name__)

__all__ = ["ENTITY_PREFIX", "cluster", "cluster_summary", "components", "default_entity_ids",
           "entity_prefix"]

#: First character of entity ids per entity type.
ENTITY_PREFIX = {"person": "P", "enterprise": "E"}

CLUSTER_EXTRA = pa.schema(
    [
        ("n_edges", pa.int64()),
        ("density", pa.float64()),
        ("weakest_probability", pa.float64()),
        ("weakest_weight", pa.float64()),
        ("repaired", pa.bool_()),
        ("weak_bridge", pa.bool_()),
    ]
)


def entity_prefix(entity_type: str) -> str:
    """``"P"`` for persons, ``"E"`` for enterprises, else the type's name and a colon
    (``restaurant:``): a declared type's ids never collide with another type's, even when
    both start with one letter (``paper`` and ``person``)."""
    if entity_type in ENTITY_PREFIX:
        return ENTITY_PREFIX[entity_type]
    return f"{entity_type}:" if entity_type else "X"


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label (0..k-1, numbered by smallest member) of nodes ``0..n-1``."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    data = np.ones(len(left), dtype=np.int8)
    graph = coo_matrix((data, (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    # Renumber by first occurrence so labels do not depend on scipy's internal order.
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return np.asarray(rank[labels], dtype=np.int64)


@dataclass
class _Edges:
    left: np.ndarray  # record positions
    right: np.ndarray
    probability: np.ndarray
    weight: np.ndarray
    must: np.ndarray


def cluster(
    records: pa.Table,
    scored: pa.Table,
    *,
    entity_type: str,
    threshold: float,
    identity_fields: Sequence[str] = (),
    weak_bridge_probability: float | None = None,
) -> pa.Table:
    """One Clusters row per record (singletons too), sorted by ``record_id``.

    ``weak_bridge_probability`` defaults to halfway between ``threshold`` and 1.
    """
    require_columns(records, pa.schema([RECORD_BASE.field("record_id"),
                                        RECORD_BASE.field("source"),
                                        RECORD_BASE.field("source_key")]), what="cluster records")
    require_columns(scored, SCORED_PAIRS, what="cluster scored pairs")
    weak_p = (threshold + 1.0) / 2.0 if weak_bridge_probability is None else weak_bridge_probability
    n = records.num_rows
    ids = _np(records["record_id"], np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]

    left = _positions(_np(scored["id_l"], np.int64), sorted_ids, order)
    right = _positions(_np(scored["id_r"], np.int64), sorted_ids, order)
    prob = _np(scored["match_probability"], np.float64, fill=0.0)
    weight = _np(scored["match_weight"], np.float64, fill=-np.inf)
    must = _bool_column(scored, "must_link")
    cannot = _bool_column(scored, "cannot_link")
    known = (left >= 0) & (right >= 0) & (left != right)
    is_link = known & link_mask(scored, threshold)
    edges = _Edges(left[is_link], right[is_link], prob[is_link], weight[is_link], must[is_link])
    cl_left, cl_right = left[known & cannot], right[known & cannot]

    labels = components(n, edges.left, edges.right)
    identity = _identity_codes(records, identity_fields)
    broken = _broken_components(labels, identity, cl_left, cl_right)
    keep = np.ones(len(edges.left), dtype=bool)
    repaired_nodes = np.zeros(n, dtype=bool)
    if len(broken):
        keep = _repair(labels, broken, edges, identity, cl_left, cl_right)
        repaired_nodes = np.isin(labels, broken)
        labels = components(n, edges.left[keep], edges.right[keep])
        log.info("cluster %s: repaired %d component(s) by cutting %d edge(s)",
                 entity_type, len(broken), int((~keep).sum()))

    kept = _Edges(edges.left[keep], edges.right[keep], edges.probability[keep],
                  edges.weight[keep], edges.must[keep])
    n_clusters = int(labels.max()) + 1 if n else 0
    size = np.bincount(labels, minlength=n_clusters).astype(np.int64)
    edge_label = labels[kept.left]
    n_edges = np.bincount(edge_label, minlength=n_clusters).astype(np.int64)
    weakest_p = np.full(n_clusters, np.inf)
    np.minimum.at(weakest_p, edge_label, kept.probability)
    weakest_w = np.full(n_clusters, np.inf)
    np.minimum.at(weakest_w, edge_label, kept.weight)
    repaired = np.zeros(n_clusters, dtype=bool)
    repaired[labels[repaired_nodes]] = True
    bridge = _weak_bridges(labels, size, weakest_p, kept, weak_p)

    entity_ids = default_entity_ids(records, labels, n_clusters, entity_type)
    pairs_possible = size * (size - 1) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(size > 1, n_edges / np.maximum(pairs_possible, 1.0), np.nan)
    has_edge = n_edges > 0
    out = pa.table(
        {
            "record_id": pa.array(ids, pa.int64()),
            "entity_type": pa.array(np.full(n, entity_type, dtype=object), pa.string()),
            "entity_id": entity_ids.take(pa.array(labels)),
            "cluster_size": pa.array(size[labels], pa.int64()),
            "n_edges": pa.array(n_edges[labels], pa.int64()),
            "density": pa.array(density[labels], pa.float64(), mask=np.isnan(density[labels])),
            "weakest_probability": pa.array(weakest_p[labels], pa.float64(),
                                            mask=~has_edge[labels]),
            "weakest_weight": pa.array(weakest_w[labels], pa.float64(), mask=~has_edge[labels]),
            "repaired": pa.array(repaired[labels], pa.bool_()),
            "weak_bridge": pa.array(bridge[labels], pa.bool_()),
        }
    )
    out = out.take(pa.array(order))
    log.info("cluster %s: %d records -> %d entities (%d multi-record, %d weak bridges)",
             entity_type, n, n_clusters, int((size > 1).sum()), int(bridge.sum()))
    assert out.schema.names[: len(CLUSTERS)] == CLUSTERS.names
    return out


def cluster_summary(clusters: pa.Table) -> pa.Table:
    """One row per entity with its quality figures, sorted by entity id."""
    figures = [c for c in ("cluster_size", *CLUSTER_EXTRA.names) if c in clusters.column_names]
    keys = ["entity_type", "entity_id"] if "entity_type" in clusters.column_names else [
        "entity_id"]
    table = clusters.group_by(keys, use_threads=False).aggregate(
        [(c, "first") for c in figures])
    table = table.rename_columns([*keys, *figures])
    return table.sort_by([(k, "ascending") for k in keys])


def default_entity_ids(
    records: pa.Table, labels: np.ndarray, n_clusters: int, entity_type: str
) -> pa.Array:
    """Per cluster label: prefix + hash of the member with the smallest (source, source_key).

    Depends only on who the members are, never on row order or record ids, so a repeated run
    or reordered sources give the same ids.
    """
    if n_clusters == 0:
        return pa.array([], pa.string())
    rank = record_rank(records)
    by_key = np.empty(records.num_rows, dtype=np.int64)
    by_key[rank] = np.arange(records.num_rows)
    best = np.full(n_clusters, np.iinfo(np.int64).max)
    np.minimum.at(best, labels, rank)
    rep = by_key[best]
    sources = records["source"].take(pa.array(rep)).to_pylist()
    keys = records["source_key"].take(pa.array(rep)).to_pylist()
    prefix = entity_prefix(entity_type)
    return pa.array([prefix + member_hash(s, k) for s, k in zip(sources, keys, strict=True)],
                    pa.string())


def member_hash(source: str | None, source_key: str | None, salt: str = "") -> str:
    """16 hex digits naming a record by its department and the department's own key."""
    text = f"{source or ''}\x1f{source_key or ''}\x1f{salt}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


# --- helpers -------------------------------------------------------------------------------


def _np(column: pa.ChunkedArray | pa.Array, dtype: type, fill: float | None = None) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if fill is not None:
        column = pc.fill_null(column, fill)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=dtype)


def link_mask(scored: pa.Table, threshold: float) -> np.ndarray:
    """Which scored pairs are links: probability at or above ``threshold`` or must-link,
    and never a cannot-link pair (the rule :func:`cluster` applies)."""
    prob = _np(scored["match_probability"], np.float64, fill=0.0)
    must = _bool_column(scored, "must_link")
    cannot = _bool_column(scored, "cannot_link")
    links: np.ndarray = ((prob >= threshold) | must) & ~cannot
    return links


def _bool_column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    column = pc.fill_null(pc.cast(table[name], pa.bool_()), False)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=bool)


def _positions(values: np.ndarray, sorted_ids: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Record position of each id, -1 where the id is not among the records."""
    if len(sorted_ids) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    at = np.searchsorted(sorted_ids, values)
    at_clipped = np.minimum(at, len(sorted_ids) - 1)
    found = sorted_ids[at_clipped] == values
    return np.where(found, order[at_clipped], -1).astype(np.int64)


def _identity_codes(records: pa.Table, fields: Sequence[str]) -> list[np.ndarray]:
    """Per identity field (or derived column): a code per record for its valid value, -1
    when none."""
    out: list[np.ndarray] = []
    for name in fields:
        if name not in records.column_names:
            continue
        values = records[name].combine_chunks()
        valid = pc.is_valid(values)
        # A derived column (``credit_code__org_code``) is valid when its field is.
        status_name = f"{name}__status"
        if status_name not in records.column_names:
            status_name = f"{name.split('__', 1)[0]}__status"
        if status_name in records.column_names:
            ok = pc.fill_null(pc.starts_with(records[status_name], "ok"), False)
            valid = pc.and_(valid, ok)
        # a value whose digits went through a float (the reader marks it) proves nothing
        unreliable = f"{name.split('__', 1)[0]}__unreliable"
        if unreliable in records.column_names:
            valid = pc.and_(valid, pc.invert(pc.fill_null(records[unreliable], False)))
        encoded = pc.dictionary_encode(values)
        codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False),
                           dtype=np.int64)
        codes[~np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)] = -1
        out.append(codes)
    return out


def _broken_components(
    labels: np.ndarray, identity: list[np.ndarray], cl_left: np.ndarray, cl_right: np.ndarray
) -> np.ndarray:
    """Labels of components holding two different valid identity values or a cannot-link."""
    bad: list[np.ndarray] = []
    for codes in identity:
        has = codes >= 0
        count = distinct_per_group(labels[has], codes[has], int(labels.max(initial=0)) + 1)
        bad.append(np.flatnonzero(count > 1))
    same = labels[cl_left] == labels[cl_right]
    bad.append(labels[cl_left][same])
    return np.unique(np.concatenate(bad)) if bad else np.zeros(0, dtype=np.int64)


def _repair(
    labels: np.ndarray,
    broken: np.ndarray,
    edges: _Edges,
    identity: list[np.ndarray],
    cl_left: np.ndarray,
    cl_right: np.ndarray,
) -> np.ndarray:
    """Keep-mask over ``edges``: greedy strongest-first union that refuses conflicting joins."""
    keep = np.ones(len(edges.left), dtype=bool)
    in_broken = np.isin(labels[edges.left], broken)
    idx = np.flatnonzero(in_broken)
    # Strongest first: must-links, then probability, then weight, then positions (determinism).
    order = np.lexsort((edges.right[idx], edges.left[idx], -edges.weight[idx],
                        -edges.probability[idx], ~edges.must[idx]))
    idx = idx[order]
    parent: dict[int, int] = {}
    values: dict[int, list[set[int]]] = {}
    forbid: dict[int, set[int]] = {}
    cannot_map: dict[int, set[int]] = {}
    # Only the cannot-links inside broken components matter here (there may be hundreds
    # of thousands elsewhere: a Python object for each would cost more than the repair).
    inside = np.isin(labels[cl_left], broken) & np.isin(labels[cl_right], broken)
    for a, b in zip(cl_left[inside].tolist(), cl_right[inside].tolist(), strict=True):
        cannot_map.setdefault(a, set()).add(b)
        cannot_map.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def init(x: int) -> None:
        if x in parent:
            return
        parent[x] = x
        values[x] = [{int(c[x])} if c[x] >= 0 else set() for c in identity]
        forbid[x] = set(cannot_map.get(x, ()))

    for e in idx.tolist():
        a, b = int(edges.left[e]), int(edges.right[e])
        init(a)
        init(b)
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        clash = any(va and vb and va != vb for va, vb in zip(values[ra], values[rb], strict=True))
        if not clash:
            clash = any(find(x) == rb for x in forbid[ra]) or any(
                find(x) == ra for x in forbid[rb])
        if clash:
            keep[e] = False
            continue
        if len(forbid[ra]) < len(forbid[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        values[ra] = [va | vb for va, vb in zip(values[ra], values[rb], strict=True)]
        forbid[ra] |= forbid[rb]
    return keep


def _weak_bridges(
    labels: np.ndarray, size: np.ndarray, weakest_p: np.ndarray, kept: _Edges, weak_p: float
) -> np.ndarray:
    """Per cluster: True when a bridge edge below ``weak_p`` holds 3+ records together.

    Strong edges (``>= weak_p``; a pair scored twice counts once, at its best) are
    contracted first (connected components over arrays): a weak edge inside one strong
    group is never a bridge, and a weak edge is a bridge of the cluster exactly when it is
    one of the small graph of weak edges between strong groups. Only that graph, one
    Python object per weak edge, goes to networkx, all clusters at once."""
    flag = np.zeros(len(size), dtype=bool)
    candidates = np.flatnonzero((size >= 3) & (weakest_p < weak_p))
    if not len(candidates):
        return flag
    sel = np.flatnonzero(np.isin(labels[kept.left], candidates))
    lo = np.minimum(kept.left[sel], kept.right[sel])
    hi = np.maximum(kept.left[sel], kept.right[sel])
    prob = kept.probability[sel]
    # One edge per record pair, at its highest probability.
    order = np.lexsort((-prob, hi, lo))
    lo, hi, prob = lo[order], hi[order], prob[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, prob = lo[first], hi[first], prob[first]
    strong = prob >= weak_p
    group = components(len(labels), lo[strong], hi[strong])
    ga, gb = group[lo[~strong]], group[hi[~strong]]
    across = ga != gb
    ga, gb = np.minimum(ga[across], gb[across]), np.maximum(ga[across], gb[across])
    if not len(ga):
        return flag
    # Two weak edges between the same strong groups: neither is a bridge.
    pairs, count = np.unique(np.stack([ga, gb], axis=1), axis=0, return_counts=True)
    graph = nx.Graph()
    graph.add_edges_from(map(tuple, pairs.tolist()))
    single = {(int(a), int(b)) for (a, b), c in zip(pairs.tolist(), count.tolist(),
                                                    strict=True) if c == 1}
    member = np.empty(int(group.max()) + 1, dtype=np.int64)
    member[group] = np.arange(len(group))
    for a, b in nx.bridges(graph):
        if (min(a, b), max(a, b)) in single:
            flag[labels[member[a]]] = True
    return flag
