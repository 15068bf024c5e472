"""The Spark engine gives the embedded engine's results: the same record-to-entity
partition (the same entity ids, which name a cluster by its members) and the same golden
values, sources and rules, on the shipped sample and on a generated set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import linkage as lk
from linkage.config import load_pipeline
from linkage.engines.spark.run import run_spark
from linkage.synth.generate import generate

SAMPLE = Path(lk.__file__).parent / "data" / "sample" / "pipeline.toml"
#: golden fields the legal-representative step rewrites after golden records are built
#: (it needs persons and enterprises side by side; not on Spark yet)
AFTER_LEGAL_REPS = ("legal_rep_name",)


def _partition(records: pa.Table) -> set[tuple[str, str, str]]:
    return {(r["source"], r["source_key"], r["entity_id"])
            for r in records.select(["source", "source_key", "entity_id"]).to_pylist()}


def _golden_rows(golden: pa.Table, fields: list[str]) -> dict[str, dict[str, Any]]:
    columns = [c for f in fields for c in (f, f"{f}__source", f"{f}__rule")
               if c in golden.column_names]
    return {r["entity_id"]: {c: r[c] for c in columns}
            for r in golden.select(["entity_id", *columns]).to_pylist()}


def _compare_engines(path: Path, spark: Any) -> tuple[int, int]:
    config = load_pipeline(path)
    local = lk.Pipeline(config).run()
    remote = run_spark(config, spark=spark, n_buckets=3)
    got = remote.records.select("source", "source_key", "entity_id").toArrow()
    assert got.num_rows == local.records.num_rows
    assert _partition(got) == _partition(local.records)
    checked = 0
    for etype, entity in local.entities.items():
        section = config.entity(etype)
        assert section is not None
        fields = [f for f in section.fields if f not in AFTER_LEGAL_REPS]
        mine = remote.golden(etype).toArrow()
        assert mine.num_rows == entity.golden.num_rows
        assert _golden_rows(mine, fields) == _golden_rows(entity.golden, fields)
        checked += mine.num_rows
    return got.num_rows, checked


def test_sample_same_partition_and_golden(spark: Any) -> None:
    n_records, n_golden = _compare_engines(SAMPLE, spark)
    assert n_records > 900 and n_golden > 300


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth2k")
    generate(persons=2000, enterprises=0, seed=7, out=out)
    return out


def test_generated_2k_same_partition_and_golden(spark: Any, generated: Path) -> None:
    path = next(p for p in (generated / "pipeline.toml", generated / "persons.toml")
                if p.is_file())
    n_records, _ = _compare_engines(path, spark)
    assert n_records > 2000


def test_cross_column_blocking_same_partition(spark: Any, tmp_path: Path) -> None:
    """A former name (曾用名) links the courts record filed under it on both engines (the
    cross-column pass keys each record by its former name and by its name)."""
    from linkage.match.presets import section_toml
    from linkage.standardisers.checksums import id_check_char

    people = []  # the hand-checked case of tests/match/test_cross_links.py
    for i in range(40):
        birth = f"19{60 + i % 30}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        body = f"110101{birth.replace('-', '')}{i % 1000:03d}"
        people.append({"name": "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"[i % 20]
                       + "伟芳娜敏静丽强磊军洋勇艳杰涛明超英华平刚"[(i * 7) % 20]
                       + "伟芳娜敏静丽强磊军洋勇艳杰涛明超英华平刚"[(i * 3) % 20],
                       "id": body + id_check_char(body), "birth": birth,
                       "sex": "男" if int(body[-1]) % 2 else "女",
                       "address": f"北京市东城区东华门街道{i + 1}号"})
    head = "k,name,former,id,birth,sex,address\n"
    (tmp_path / "household.csv").write_text(head + "".join(
        f"H{i},{p['name']},{'王小明' if i == 0 else ''},{p['id']},{p['birth']},{p['sex']},"
        f"{p['address']}\n" for i, p in enumerate(people)), encoding="utf-8")
    (tmp_path / "social.csv").write_text(head + "".join(
        f"S{i},{p['name']},,{p['id']},{p['birth']},{p['sex']},{p['address']}\n"
        for i, p in enumerate(people)), encoding="utf-8")
    (tmp_path / "courts.csv").write_text(
        head + f"C0,王小明,,,{people[0]['birth']},{people[0]['sex']},\n", encoding="utf-8")
    columns = ('name = "name"\nid_number = "id"\nbirth_date = "birth"\nsex = "sex"\n'
               'address = "address"\n')
    sources = "".join(
        f'[[sources]]\ndepartment = "{d}"\nentity_type = "person"\npath = "{f}"\n'
        f'key = "k"\n[sources.columns]\n{columns}{extra}\n'
        for d, f, extra in (("household", "household.csv", 'former_name = "former"\n'),
                            ("social_security", "social.csv", ""),
                            ("courts", "courts.csv", "")))
    (tmp_path / "pipeline.toml").write_text(
        f'name = "cross"\n\n{sources}\n{section_toml("person")}', encoding="utf-8")
    records, _ = _compare_engines(tmp_path / "pipeline.toml", spark)
    assert records == 81
    local = lk.Pipeline(load_pipeline(tmp_path / "pipeline.toml")).run()
    entity = {r["source_key"]: r["entity_id"]
              for r in local.records.select(["source_key", "entity_id"]).to_pylist()}
    assert entity["C0"] == entity["H0"] == entity["S0"]
