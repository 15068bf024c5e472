"""Clustering: components, cannot-link repair, weak bridges, stable ids, networkx oracle."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.master.cluster import cluster, components


def _records(n: int, ids: list[str | None] | None = None, sources: list[str] | None = None,
             record_ids: list[int] | None = None) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "record_id": pa.array(record_ids if record_ids is not None else list(range(n)),
                              pa.int64()),
        "source": pa.array(sources or ["household"] * n, pa.string()),
        "source_key": pa.array([f"k{i}" for i in range(n)], pa.string()),
        "entity_type": pa.array(["person"] * n, pa.string()),
    }
    if ids is not None:
        cols["id_number"] = pa.array(ids, pa.string())
        cols["id_number__status"] = pa.array(["missing" if v is None else "ok" for v in ids])
    return pa.table(cols)


def _scored(pairs: list[tuple[int, int, float]], **extra: list[bool]) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "id_l": pa.array([a for a, _, _ in pairs], pa.int64()),
        "id_r": pa.array([b for _, b, _ in pairs], pa.int64()),
        "match_weight": pa.array([10 * p for _, _, p in pairs], pa.float64()),
        "match_probability": pa.array([p for _, _, p in pairs], pa.float64()),
    }
    for name, values in extra.items():
        cols[name] = pa.array(values, pa.bool_())
    return pa.table(cols)


def _groups(out: pa.Table) -> list[list[int]]:
    by: dict[str, list[int]] = {}
    for rid, eid in zip(out["record_id"].to_pylist(), out["entity_id"].to_pylist(), strict=True):
        by.setdefault(eid, []).append(rid)
    return sorted(sorted(g) for g in by.values())


def test_threshold_and_singletons() -> None:
    out = cluster(_records(4), _scored([(0, 1, 0.95), (1, 2, 0.5)]), entity_type="person",
                  threshold=0.9)
    assert out.num_rows == 4
    assert _groups(out) == [[0, 1], [2], [3]]
    assert out["cluster_size"].to_pylist() == [2, 2, 1, 1]
    assert out["entity_id"][0].as_py().startswith("P")


def test_must_link_and_cannot_link() -> None:
    scored = _scored([(0, 1, 0.1), (1, 2, 0.99)], must_link=[True, False],
                     cannot_link=[False, True])
    out = cluster(_records(3), scored, entity_type="person", threshold=0.9)
    assert _groups(out) == [[0, 1], [2]]


def test_repair_cuts_weakest_edge_between_two_ids() -> None:
    # 0,1 share ID X; 2,3 share ID Y; record 4 has no ID and bridges weakly.
    recs = _records(5, ids=["X", "X", "Y", "Y", None])
    scored = _scored([(0, 1, 0.99), (2, 3, 0.99), (1, 4, 0.97), (3, 4, 0.92)])
    out = cluster(recs, scored, entity_type="person", threshold=0.9,
                  identity_fields=["id_number"])
    assert _groups(out) == [[0, 1, 4], [2, 3]]
    assert all(out["repaired"].to_pylist())
    # Without identity fields nothing is split.
    plain = cluster(recs, scored, entity_type="person", threshold=0.9)
    assert _groups(plain) == [[0, 1, 2, 3, 4]]


def test_repair_ignores_invalid_ids() -> None:
    recs = _records(2, ids=["X", "Y"]).set_column(
        5, "id_number__status", pa.array(["ok", "bad_check"]))
    out = cluster(recs, _scored([(0, 1, 0.99)]), entity_type="person", threshold=0.9,
                  identity_fields=["id_number"])
    assert _groups(out) == [[0, 1]]


def test_weak_bridge_flag_and_quality_figures() -> None:
    # Two triangles joined by one edge at 0.91 (weak: below (0.9 + 1) / 2).
    tri = [(0, 1, 0.99), (1, 2, 0.99), (0, 2, 0.99), (3, 4, 0.99), (4, 5, 0.99), (3, 5, 0.99)]
    out = cluster(_records(6), _scored([*tri, (2, 3, 0.91)]), entity_type="person",
                  threshold=0.9)
    assert out["weak_bridge"].to_pylist() == [True] * 6
    assert out["n_edges"][0].as_py() == 7
    assert abs(out["density"][0].as_py() - 7 / 15) < 1e-12
    assert out["weakest_probability"][0].as_py() == 0.91
    strong = cluster(_records(6), _scored([*tri, (2, 3, 0.99)]), entity_type="person",
                     threshold=0.9)
    assert strong["weak_bridge"].to_pylist() == [False] * 6


def test_ids_stable_under_reordering_and_record_ids() -> None:
    recs = _records(4, sources=["tax", "household", "tax", "courts"])
    scored = _scored([(0, 1, 0.99), (2, 3, 0.99)])
    first = cluster(recs, scored, entity_type="person", threshold=0.9)
    # Same records, reversed row order and shifted record ids.
    perm = [3, 2, 1, 0]
    shifted = recs.take(pa.array(perm)).set_column(
        0, "record_id", pa.array([100 + i for i in perm], pa.int64()))
    scored2 = _scored([(100, 101, 0.99), (102, 103, 0.99)])
    second = cluster(shifted, scored2, entity_type="person", threshold=0.9)
    key = dict(zip(recs["source_key"].to_pylist(), first["entity_id"].to_pylist(), strict=True))
    key2 = {shifted["source_key"][i].as_py(): second["entity_id"][j].as_py()
            for j, rid in enumerate(second["record_id"].to_pylist())
            for i, r in enumerate(shifted["record_id"].to_pylist()) if r == rid}
    assert key == key2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_components_match_networkx_and_partition(n: int, data: st.DataObject) -> None:
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                               max_size=60))
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    labels = components(n, left, right)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    expected = sorted(sorted(c) for c in nx.connected_components(graph))
    got: dict[int, list[int]] = {}
    for node, lab in enumerate(labels.tolist()):
        got.setdefault(lab, []).append(node)
    assert sorted(got.values()) == expected
    # Through the public function: every record exactly once, sizes consistent.
    pairs = [(a, b, 0.99) for a, b in edges if a != b]
    out = cluster(_records(n), _scored(pairs), entity_type="person", threshold=0.9)
    assert sorted(out["record_id"].to_pylist()) == list(range(n))
    assert _groups(out) == expected


def test_derived_identity_column_uses_its_fields_status() -> None:
    # Two enterprises' records hold different org codes inside their credit codes; a legacy
    # registration number (no org code) links to either without a conflict.
    recs = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["market", "tax", "courts", "customs"],
        "source_key": ["m", "t", "c", "x"],
        "credit_code__org_code": ["M000100Y4", "M000100Y4", None, "600037341"],
        "credit_code__status": ["ok", "ok", "ok", "bad_check"],
    })
    scored = _scored([(0, 1, 0.99), (1, 2, 0.95), (2, 3, 0.93)])
    out = cluster(recs, scored, entity_type="enterprise", threshold=0.9,
                  identity_fields=["credit_code__org_code"])
    # Record 3's code failed its check, so it is no identity evidence: nothing is split.
    assert _groups(out) == [[0, 1, 2, 3]]
    assert out["entity_id"][0].as_py().startswith("E")
    valid = recs.set_column(4, "credit_code__status", pa.array(["ok"] * 4))
    out = cluster(valid, scored, entity_type="enterprise", threshold=0.9,
                  identity_fields=["credit_code__org_code"])
    assert _groups(out) == [[0, 1, 2], [3]]


def test_cluster_summary_one_row_per_entity() -> None:
    from linkage.master.cluster import cluster_summary

    out = cluster(_records(4), _scored([(0, 1, 0.95), (1, 2, 0.99)]), entity_type="person",
                  threshold=0.9)
    summary = cluster_summary(out)
    assert summary.num_rows == 2
    assert sorted(summary["cluster_size"].to_pylist()) == [1, 3]
    assert summary["entity_id"].to_pylist() == sorted(summary["entity_id"].to_pylist())
    big = summary.filter(pa.compute.equal(summary["cluster_size"], 3)).to_pylist()[0]
    assert big["n_edges"] == 2 and big["weakest_probability"] == 0.95


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), data=st.data())
def test_no_cluster_holds_two_valid_identities(n: int, data: st.DataObject) -> None:
    ids = data.draw(st.lists(st.sampled_from(["A", "B", "C", None]), min_size=n, max_size=n))
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                         st.floats(0.9, 1.0)), max_size=60))
    cannot = data.draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    pairs = [(a, b, p) for a, b, p in edges if a != b]
    flags = [c for (a, b, _), c in zip(edges, cannot, strict=True) if a != b]
    scored = _scored(pairs, cannot_link=flags)
    out = cluster(_records(n, ids=ids), scored, entity_type="person", threshold=0.9,
                  identity_fields=["id_number"])
    members: dict[str, set[str]] = {}
    entity = dict(zip(out["record_id"].to_pylist(), out["entity_id"].to_pylist(), strict=True))
    for rid, value in enumerate(ids):
        if value is not None:
            members.setdefault(entity[rid], set()).add(value)
    assert all(len(v) == 1 for v in members.values())
    for (a, b, _), c in zip(pairs, flags, strict=True):
        if c:
            assert entity[a] != entity[b]
    # Every record is in exactly one cluster, and cluster sizes are consistent.
    assert sorted(out["record_id"].to_pylist()) == list(range(n))
    sizes: dict[str, int] = {}
    for e in entity.values():
        sizes[e] = sizes.get(e, 0) + 1
    assert out["cluster_size"].to_pylist() == [sizes[entity[r]] for r in range(n)]


def test_dictionary_encoded_sources_give_the_same_ids() -> None:
    recs = _records(4, sources=["tax", "household", "tax", "courts"])
    scored = _scored([(0, 1, 0.99), (2, 3, 0.99)])
    plain = cluster(recs, scored, entity_type="person", threshold=0.9)
    encoded = recs.set_column(1, "source", pa.compute.dictionary_encode(recs["source"]))
    again = cluster(encoded, scored, entity_type="person", threshold=0.9)
    assert again["entity_id"].to_pylist() == plain["entity_id"].to_pylist()


def test_link_mask_applies_threshold_must_and_cannot_link() -> None:
    from linkage.master.cluster import link_mask

    scored = pa.table({
        "id_l": pa.array([0, 1, 2, 3], pa.int64()), "id_r": pa.array([1, 2, 3, 4], pa.int64()),
        "match_weight": [5.0, -5.0, 9.0, -9.0], "match_probability": [0.97, 0.03, 0.999, 0.001],
        "must_link": [False, False, False, True], "cannot_link": [False, False, True, False],
    })
    assert link_mask(scored, 0.9).tolist() == [True, False, False, True]
    assert link_mask(scored.drop_columns(["must_link", "cannot_link"]), 0.9).tolist() == [
        True, False, True, False]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9),
                          st.sampled_from([0.91, 0.93, 0.97, 0.99])), min_size=1, max_size=30))
def test_weak_bridges_match_networkx_on_each_cluster(edges: list[tuple[int, int, float]]) -> None:
    """The contracted computation flags exactly the clusters where networkx, on the whole
    cluster (a pair scored twice counts once, at its best), finds a bridge below 0.95."""
    edges = [(a, b, p) for a, b, p in edges if a != b]
    if not edges:
        return
    out = cluster(_records(10), _scored(edges), entity_type="person", threshold=0.9,
                  weak_bridge_probability=0.95)
    graph = nx.Graph()
    for a, b, p in edges:
        best = max(p, graph[a][b]["p"]) if graph.has_edge(a, b) else p
        graph.add_edge(a, b, p=best)
    expected = {}
    for nodes in nx.connected_components(graph):
        sub = graph.subgraph(nodes)
        weak = len(nodes) >= 3 and any(sub[a][b]["p"] < 0.95 for a, b in nx.bridges(sub))
        expected.update(dict.fromkeys(nodes, weak))
    flags = out["weak_bridge"].to_pylist()
    assert [flags[i] for i in sorted(expected)] == [expected[i] for i in sorted(expected)]
