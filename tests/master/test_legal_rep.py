"""Legal representative resolution: by ID, by unique name, by name and place, or not at all."""

from __future__ import annotations

import pyarrow as pa

from linkage.master.legal_rep import LEGAL_REP_EDGES, resolve_legal_reps

ID_A = "11010519491231002X"
ID_B = "440524188001010014"


def _persons() -> tuple[pa.Table, pa.Table]:
    persons = pa.table({
        "record_id": pa.array([10, 11, 12, 13, 14, 15], pa.int64()),
        "name": ["张三", "张三", "李四", "王五", "王五", "赵六"],
        "id_number": [ID_A, ID_A, ID_B, None, None, "123"],
        "id_number__status": ["ok", "ok", "ok", "missing", "missing", "bad_check"],
        "address__city_code": ["1101", "1101", "4405", "3201", "4401", None],
    })
    clusters = pa.table({"record_id": pa.array([10, 11, 12, 13, 14, 15], pa.int64()),
                         "entity_id": ["PA", "PA", "PB", "PC", "PD", "PE"]})
    return persons, clusters


def _golden(rows: list[tuple[str, str | None, str | None]]) -> pa.Table:
    return pa.table({"entity_id": [r[0] for r in rows],
                     "legal_rep_name": pa.array([r[1] for r in rows], pa.string()),
                     "legal_rep_id": pa.array([r[2] for r in rows], pa.string())})


def test_resolution_methods() -> None:
    persons, clusters = _persons()
    golden = _golden([
        ("E1", "张三", ID_A),      # by ID (the name is not even needed)
        ("E2", "李某", ID_B),      # by ID although the name differs
        ("E3", "赵六", None),      # one person has the name
        ("E4", "王五", None),      # two persons named 王五: the place decides
        ("E5", "王五", None),      # two persons, no place evidence: no edge
        ("E6", "钱七", "123"),     # nobody: an invalid ID matches nothing
    ])
    enterprises = pa.table({"record_id": pa.array([0, 1, 2], pa.int64()),
                            "address__city_code": ["3201", "3201", "9999"]})
    ent_clusters = pa.table({"record_id": pa.array([0, 1, 2], pa.int64()),
                             "entity_id": ["E4", "E4", "E5"]})
    edges = resolve_legal_reps(golden, persons, clusters, enterprises=enterprises,
                               enterprise_clusters=ent_clusters)
    assert edges.schema == LEGAL_REP_EDGES
    got = [(r["enterprise_id"], r["person_id"], r["method"], r["confidence"])
           for r in edges.to_pylist()]
    assert got == [
        ("E1", "PA", "id", 1.0),
        ("E2", "PB", "id", 1.0),
        ("E3", "PE", "name_unique", 0.6),
        ("E4", "PC", "name_place", 0.5),
    ]


def test_shared_id_gives_ambiguous_edges() -> None:
    persons, clusters = _persons()
    # Record 12 also carries ID_A, but in its own entity: two persons share one ID.
    persons = persons.set_column(2, "id_number", pa.array([ID_A, ID_A, ID_A, None, None, "1"]))
    edges = resolve_legal_reps(_golden([("E1", "张三", ID_A)]), persons, clusters)
    assert [(r["person_id"], r["method"], r["confidence"]) for r in edges.to_pylist()] == [
        ("PA", "id_ambiguous", 0.5), ("PB", "id_ambiguous", 0.5)]


def test_no_representatives_gives_empty_table() -> None:
    persons, clusters = _persons()
    edges = resolve_legal_reps(_golden([("E1", None, None)]), persons, clusters)
    assert edges.num_rows == 0 and edges.schema == LEGAL_REP_EDGES


def test_prefer_person_names_takes_the_persons_spelling() -> None:
    from linkage.master.legal_rep import prefer_person_names

    golden = pa.table({
        "entity_id": ["E1", "E2"],
        "legal_rep_name": ["张叁", "李四"],
        "legal_rep_name__source": ["market", "market"],
        "legal_rep_name__record_id": pa.array([0, 2], pa.int64()),
        "legal_rep_name__rule": ["trust", "unanimous"],
        "legal_rep_name__updated_at": pa.array([None, None], pa.date32()),
    })
    enterprises = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["market", "tax", "market"],
        "source_key": ["m1", "t1", "m2"],
        "updated_at": pa.array([None, None, None], pa.date32()),
        "legal_rep_name": ["张叁", "张三", "李四"],
    })
    ent_clusters = pa.table({"record_id": pa.array([0, 1, 2], pa.int64()),
                             "entity_id": ["E1", "E1", "E2"]})
    edges = pa.table({"enterprise_id": ["E1", "E2"], "person_id": ["PA", "PB"],
                      "method": ["id", "name_unique"], "confidence": [1.0, 0.6],
                      "legal_rep_name": ["张叁", "李四"], "legal_rep_id": [ID_A, None]},
                     schema=LEGAL_REP_EDGES)
    people = pa.table({"entity_id": ["PA", "PB"], "name": ["张三", "李肆"]})
    out = prefer_person_names(golden, edges, people, enterprises, ent_clusters).to_pylist()
    assert (out[0]["legal_rep_name"], out[0]["legal_rep_name__source"],
            out[0]["legal_rep_name__record_id"], out[0]["legal_rep_name__rule"]) == (
        "张三", "tax", 1, "person_entity")
    # Only ID-resolved edges count, and only names an enterprise record wrote.
    assert out[1]["legal_rep_name"] == "李四" and out[1]["legal_rep_name__rule"] == "unanimous"


def test_prefer_person_names_restores_a_rare_character_stand_in() -> None:
    from linkage.master.legal_rep import prefer_person_names

    # Every enterprise record wrote 刘芬? (the system could not store 珺); the person the
    # representative's ID resolves to is registered as 刘芬珺.
    golden = pa.table({
        "entity_id": ["E1"],
        "legal_rep_name": ["刘芬?"],
        "legal_rep_name__source": ["market"],
        "legal_rep_name__record_id": pa.array([0], pa.int64()),
        "legal_rep_name__rule": ["unanimous"],
        "legal_rep_name__updated_at": pa.array([None], pa.date32()),
    })
    enterprises = pa.table({
        "record_id": pa.array([0, 1], pa.int64()),
        "source": ["market", "tax"],
        "source_key": ["m1", "t1"],
        "updated_at": pa.array([None, None], pa.date32()),
        "legal_rep_name": ["刘芬?", "刘芬?"],
    })
    ent_clusters = pa.table({"record_id": pa.array([0, 1], pa.int64()),
                             "entity_id": ["E1", "E1"]})
    edges = pa.table({"enterprise_id": ["E1"], "person_id": ["PA"], "method": ["id"],
                      "confidence": [1.0], "legal_rep_name": ["刘芬?"],
                      "legal_rep_id": [ID_A]}, schema=LEGAL_REP_EDGES)
    people = pa.table({"entity_id": ["PA"], "name": ["刘芬珺"],
                       "name__source": ["household"],
                       "name__record_id": pa.array([40], pa.int64()),
                       "name__updated_at": pa.array([None], pa.date32())})
    row = prefer_person_names(golden, edges, people, enterprises, ent_clusters).to_pylist()[0]
    assert (row["legal_rep_name"], row["legal_rep_name__source"],
            row["legal_rep_name__record_id"], row["legal_rep_name__rule"]) == (
        "刘芬珺", "household", 40, "person_entity")
    # A different name is not a stand-in: nothing changes.
    people = people.set_column(1, "name", pa.array(["刘芳珺"]))
    row = prefer_person_names(golden, edges, people, enterprises, ent_clusters).to_pylist()[0]
    assert row["legal_rep_name"] == "刘芬?" and row["legal_rep_name__rule"] == "unanimous"


def test_a_valid_id_held_by_nobody_is_never_overridden_by_the_name() -> None:
    persons, clusters = _persons()
    unheld = "360426199101010071"  # valid, but no person record holds it
    golden = _golden([
        ("E1", "张三", unheld),   # 张三 holds another valid ID (ID_A): no edge
        ("E2", "赵六", unheld),   # 赵六's only ID is invalid: no contradiction, name decides
        ("E3", "李四", None),     # no ID given: the unique name still decides
    ])
    edges = resolve_legal_reps(golden, persons, clusters)
    got = [(r["enterprise_id"], r["person_id"], r["method"]) for r in edges.to_pylist()]
    assert got == [("E2", "PE", "name_unique"), ("E3", "PB", "name_unique")]
