"""Resolving single records and batches against the hand-checked tiny run (entities
{H001,S01} {H002,T1} {H003,S02} {H004,S03,T3} {H005,T2} {S04})."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkage.service import NEW, ResolveError, Resolver


def _entity_of(run: Path, key: str) -> str:
    records = pq.read_table(run / "records.parquet")
    row = records.filter(pc.equal(records.column("source_key"), key))
    return str(row.column("entity_id")[0].as_py())


def test_exact_record_in_department_columns(tiny_run: Path) -> None:
    resolver = Resolver.open(tiny_run)
    hit = resolver.resolve({"记录号": "H001", "姓名": "张伟", "公民身份号码": "11010519491231002X",
                            "出生日期": "1949-12-31", "联系电话": "13800138000",
                            "住址": "北京市朝阳区建国路88号"}, department="household")
    assert hit["status"] == "matched"
    assert hit["entity_id"] == _entity_of(tiny_run, "H001") == _entity_of(tiny_run, "S01")
    assert {c["source_key"] for c in hit["candidates"] if c["link"]} == {"H001", "S01"}
    assert hit["golden"]["entity_id"] == hit["entity_id"]
    assert hit["golden"]["id_number"] == "11010519491231002X"
    assert hit["match_probability"] > 0.99
    contributions = hit["candidates"][0]["explanation"]["contributions"]
    assert {c["name"] for c in contributions} == {"name", "id_number", "birth_date", "phone",
                                                  "address"}


def test_canonical_fields_and_conflicts(tiny_run: Path) -> None:
    resolver = Resolver.open(tiny_run)
    # no ID number, dates written another way: name + birth date + phone still link
    hit = resolver.resolve({"name": "陈静", "birth_date": "1985年3月2日", "phone": "13633334444"})
    assert hit["entity_id"] == _entity_of(tiny_run, "H004")
    linked = {c["source_key"] for c in hit["candidates"] if c["link"]}
    assert linked == {"H004", "S03", "T3"}
    conflicts = pq.read_table(tiny_run / "conflicts.parquet")
    expected = conflicts.filter(pc.equal(conflicts.column("entity_id"), hit["entity_id"]))
    assert sorted((c["field"], c["kind"]) for c in hit["conflicts"]) == sorted(
        zip(expected.column("field").to_pylist(), expected.column("kind").to_pylist(),
            strict=True))
    assert ("id_number", "missing") in {(c["field"], c["kind"]) for c in hit["conflicts"]}


def test_a_stranger_is_new(tiny_run: Path) -> None:
    resolver = Resolver.open(tiny_run)
    hit = resolver.resolve({"name": "赵六", "id_number": "110101199001011237",
                            "birth_date": "1990-01-01"})
    assert hit["entity_id"] == NEW and hit["status"] == "new"
    assert hit["golden"] is None and hit["conflicts"] == []
    # sharing only a birth date with 张伟 is a candidate, not a link
    hit = resolver.resolve({"name": "钱七", "birth_date": "1949-12-31"})
    assert hit["entity_id"] == NEW
    assert hit["candidates"] and not any(c["link"] for c in hit["candidates"])


@pytest.mark.parametrize(("record", "kwargs", "message"), [
    ({"nmae": "张伟"}, {}, "unknown field(s) 'nmae'"),
    ({"name": "张伟"}, {"department": "customs"}, "unknown department 'customs'"),
    ({"name": {"first": "伟"}}, {}, "must be text or a number"),
    ({"name": None, "phone": ""}, {}, "no field has a value"),
    ({"name": "张伟"}, {"entity_type": "enterprise"}, "unknown entity type 'enterprise'"),
    ({"name": "张" * 2000}, {}, "longer than 1000"),
])
def test_bad_input_is_a_clear_error(tiny_run: Path, record: dict[str, object],
                                    kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ResolveError, match=r"record 0|unknown") as err:
        Resolver.open(tiny_run).resolve(record, **kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_resolve_many_agrees_with_the_run_and_changes_nothing(tiny_run: Path) -> None:
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((tiny_run / "index").rglob("*")) if p.is_file()}
    records = pq.read_table(tiny_run / "records.parquet")
    fields = ["name", "id_number", "birth_date", "phone", "address"]
    batch = pa.table({f: records.column(f"{f}__raw") for f in fields})
    resolved = Resolver.open(tiny_run).resolve_many(batch)
    assert resolved.entities.column("entity_id").to_pylist() == \
        records.column("entity_id").to_pylist()
    # each record finds at least itself among its candidates
    assert min(resolved.entities.column("candidates").to_pylist()) >= 1
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((tiny_run / "index").rglob("*")) if p.is_file()}
    assert before == after


def test_entity_lookup(tiny_run: Path) -> None:
    resolver = Resolver.open(tiny_run)
    entity_id = _entity_of(tiny_run, "T3")
    found = resolver.entity(entity_id)
    assert found is not None
    assert sorted(r["source_key"] for r in found["records"]) == ["H004", "S03", "T3"]
    assert found["golden"]["name"] == "陈静"
    assert resolver.entity("P0000000000000000") is None


_PERSON_FIELDS = ["name", "id_number", "birth_date", "sex", "phone", "address"]


def _raw_queries(run: Path) -> list[tuple[dict[str, object], str]]:
    """Every record of the run as a counter would type it (its raw values), with the
    entity the run gave it."""
    rows = pq.read_table(run / "records.parquet").to_pylist()
    out = []
    for row in rows:
        query = {f: row[f"{f}__raw"] for f in _PERSON_FIELDS if row[f"{f}__raw"] not in (None, "")}
        if query:
            out.append((query, str(row["entity_id"])))
    return out


def test_resolve_gives_each_record_of_the_run_its_entity(synth_run: Path) -> None:
    resolver = Resolver.open(synth_run)
    queries = _raw_queries(synth_run)
    assert len(queries) > 500
    for query, entity in queries:
        assert resolver.resolve(query, explain=False)["entity_id"] == entity, query


def test_resolve_agrees_with_resolve_many(synth_run: Path) -> None:
    """The single-record path (no tables) and the batch path (the run's stage functions)
    give the same entity, probability, candidates and explanations."""
    resolver = Resolver.open(synth_run)
    ti = resolver.index.types["person"]
    for query, _ in _raw_queries(synth_run)[::7]:
        one = resolver.resolve(query)
        batch = resolver.resolve_many([query])
        row = batch.entities.to_pylist()[0]
        assert (one["entity_id"], one["status"]) == (row["entity_id"], row["status"])
        assert one["match_probability"] == pytest.approx(row["match_probability"], abs=0.0)
        pairs = batch.pairs.to_pylist()
        vectors = batch.vectors.to_pylist()
        by_id = {p["record_id"]: (p, v) for p, v in zip(pairs, vectors, strict=True)}
        assert len(one["candidates"]) == min(len(pairs), 10)
        for cand in one["candidates"]:
            pair, vector = by_id[cand["record_id"]]
            assert cand["match_weight"] == pair["match_weight"]
            assert cand["match_probability"] == pair["match_probability"]
            assert cand["link"] == pair["link"]
            assert cand["explanation"] == ti.model.explain(vector).to_dict()
