"""Stable ids across runs: repeat, add, remove, reorder, merge and split scenarios."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.master.cluster import cluster
from linkage.master.entity_ids import ENTITY_CHANGES, assign_entity_ids


def _run(members: list[list[tuple[str, str]]], previous: pa.Table | None = None,
         reverse: bool = False) -> tuple[pa.Table, pa.Table, dict[tuple[str, str], str]]:
    """Cluster records given as groups of (source, key); returns clusters, changes, key->id."""
    flat = [(s, k, g) for g, group in enumerate(members) for s, k in group]
    if reverse:
        flat.reverse()
    records = pa.table({
        "record_id": pa.array(range(len(flat)), pa.int64()),
        "source": [s for s, _, _ in flat],
        "source_key": [k for _, k, _ in flat],
        "entity_type": ["person"] * len(flat),
    })
    pairs = [(i, j) for i in range(len(flat)) for j in range(i + 1, len(flat))
             if flat[i][2] == flat[j][2]]
    scored = pa.table({"id_l": pa.array([a for a, _ in pairs], pa.int64()),
                       "id_r": pa.array([b for _, b in pairs], pa.int64()),
                       "match_weight": pa.array([9.0] * len(pairs), pa.float64()),
                       "match_probability": pa.array([0.99] * len(pairs), pa.float64())})
    clusters = cluster(records, scored, entity_type="person", threshold=0.9)
    clusters, changes = assign_entity_ids(clusters, records, previous)
    by_key = {(s, k): e for (s, k, _), e in zip(flat, clusters["entity_id"].to_pylist(),
                                                 strict=True)}
    return clusters, changes, by_key


def _previous(ids: dict[tuple[str, str], str]) -> pa.Table:
    return pa.table({"source": [s for s, _ in ids], "source_key": [k for _, k in ids],
                     "entity_type": ["person"] * len(ids), "entity_id": list(ids.values())})


BASE = [[("tax", "t1"), ("household", "h1")], [("tax", "t2")], [("courts", "c3"), ("tax", "t3")]]


def _changes(changes: pa.Table) -> list[tuple[str, list[str], list[str]]]:
    return [(r["change"], r["old_ids"], r["new_ids"]) for r in changes.to_pylist()]


def test_first_run_has_no_log_and_repeat_changes_nothing() -> None:
    _, changes, first = _run(BASE)
    assert changes.num_rows == 0 and changes.schema == ENTITY_CHANGES
    _, changes, again = _run(BASE, _previous(first))
    assert again == first
    assert changes.num_rows == 0
    # Reordered sources, no history: same ids anyway.
    _, _, reordered = _run(BASE, reverse=True)
    assert reordered == first


def test_joining_record_keeps_id_even_with_a_smaller_key() -> None:
    _, _, first = _run(BASE)
    grown = [[("courts", "c0"), *BASE[0]], BASE[1], BASE[2], [("household", "h9")]]
    _, changes, second = _run(grown, _previous(first))
    assert second[("courts", "c0")] == first[("tax", "t1")]
    assert second[("tax", "t2")] == first[("tax", "t2")]
    # Without history the smallest member changed, so would the id: history matters.
    _, _, fresh = _run(grown)
    assert fresh[("courts", "c0")] != first[("tax", "t1")]
    new_id = second[("household", "h9")]
    assert _changes(changes) == [("new", [], [new_id])]


def test_removed_records_and_retired_entity() -> None:
    _, _, first = _run(BASE)
    shrunk = [[("tax", "t1")], [("courts", "c3"), ("tax", "t3")]]
    _, changes, second = _run(shrunk, _previous(first))
    assert second[("tax", "t1")] == first[("tax", "t1")]
    assert _changes(changes) == [("retired", [first[("tax", "t2")]], [])]


def test_merge_keeps_the_larger_entity_id() -> None:
    _, _, first = _run(BASE)
    merged = [[*BASE[0], ("tax", "t2")], BASE[2]]
    _, changes, second = _run(merged, _previous(first))
    big, small = first[("tax", "t1")], first[("tax", "t2")]
    assert second[("tax", "t2")] == big
    assert _changes(changes) == [("merge", sorted([big, small]), [big])]


def test_split_keeps_id_on_the_larger_part_and_never_reuses_ids() -> None:
    group = [("a", "1"), ("a", "2"), ("a", "3")]
    _, _, first = _run([group, [("b", "9")]])
    old = first[("a", "1")]
    # The smallest member leaves: its default id would be the old id; it must not be reused.
    _, changes, second = _run([[("a", "1")], [("a", "2"), ("a", "3")], [("b", "9")]],
                              _previous(first))
    assert second[("a", "2")] == old
    assert second[("a", "1")] not in set(first.values())
    assert _changes(changes) == [("split", [old], sorted([old, second[("a", "1")]]))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=25),
       st.lists(st.integers(0, 5), min_size=1, max_size=25))
def test_assignment_properties(first: list[int], second: list[int]) -> None:
    """Groups of record keys k0..kn in two runs: distinct clusters get distinct ids, fresh
    ids are never old ones, and rerunning on the own output changes nothing."""
    def groups(labels: list[int]) -> list[list[tuple[str, str]]]:
        by: dict[int, list[tuple[str, str]]] = {}
        for i, g in enumerate(labels):
            by.setdefault(g, []).append(("s", f"k{i:02d}"))
        return list(by.values())

    _, _, old = _run(groups(first))
    _, changes, new = _run(groups(second), _previous(old))
    new_groups = groups(second)
    ids = [new[g[0]] for g in new_groups]
    assert len(set(ids)) == len(ids)
    assert all(new[k] == new[g[0]] for g in new_groups for k in g)
    old_ids = set(old.values())
    for g in new_groups:
        olds = {old[k] for k in g if k in old}
        if not olds:
            assert new[g[0]] not in old_ids
    # Every merge lists the old ids of its records; every split the new ids of its records.
    for row in changes.to_pylist():
        if row["change"] == "merge":
            members = [k for k, v in new.items() if v == row["new_ids"][0]]
            assert sorted({old[k] for k in members if k in old}) == row["old_ids"]
        if row["change"] == "split":
            members = [k for k, v in old.items() if v == row["old_ids"][0] and k in new]
            assert sorted({new[k] for k in members}) == row["new_ids"]
    _, again_changes, again = _run(new_groups, _previous(new))
    assert again == new and again_changes.num_rows == 0
