"""The Spark engine gives the embedded engine's results: the same record-to-entity
partition (the same entity ids, which name a cluster by its members), the same golden
values, sources and rules, the same legal-representative and employer edges, and the same
report, review queue and worklists, on the shipped sample and on a generated set. One
Spark run per data set, shared by the tests that read it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import linkage as lk
from linkage.config import load_pipeline
from linkage.engines.spark.outputs import write_spark_outputs
from linkage.engines.spark.run import run_spark
from linkage.io.report import render_report
from linkage.io.worklists import write_worklists
from linkage.master.review import write_review
from linkage.synth.departmental import reshape_departmental
from linkage.synth.generate import generate

SAMPLE = Path(lk.__file__).parent / "data" / "sample" / "pipeline.toml"


def _partition(records: pa.Table) -> set[tuple[str, str, str]]:
    return {(r["source"], r["source_key"], r["entity_id"])
            for r in records.select(["source", "source_key", "entity_id"]).to_pylist()}


def _golden_rows(golden: pa.Table, fields: list[str]) -> dict[str, dict[str, Any]]:
    columns = [c for f in fields for c in (f, f"{f}__source", f"{f}__rule")
               if c in golden.column_names]
    return {r["entity_id"]: {c: r[c] for c in columns}
            for r in golden.select(["entity_id", *columns]).to_pylist()}


def _same_partition_and_golden(config: Any, local: Any, remote: Any) -> tuple[int, int]:
    got = remote.records.select("source", "source_key", "entity_id").toArrow()
    assert got.num_rows == local.records.num_rows
    assert _partition(got) == _partition(local.records)
    checked = 0
    for etype, entity in local.entities.items():
        section = config.entity(etype)
        assert section is not None
        mine = remote.golden(etype).toArrow()
        assert mine.num_rows == entity.golden.num_rows
        assert _golden_rows(mine, list(section.fields)) == \
            _golden_rows(entity.golden, list(section.fields))
        checked += mine.num_rows
    return got.num_rows, checked


def _compare_engines(path: Path, spark: Any) -> tuple[int, int]:
    config = load_pipeline(path)
    return _same_partition_and_golden(config, lk.Pipeline(config).run(),
                                      run_spark(config, spark=spark, n_buckets=3))


def _edges(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by([(c, "ascending") for c in table.column_names[:2]]).to_pylist()


@pytest.fixture(scope="module")
def sample(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One embedded and one Spark run of the shipped sample, the Spark one written out (a
    copy whose review band is wide enough that both types have a review queue)."""
    folder = tmp_path_factory.mktemp("sample") / "sample"
    shutil.copytree(SAMPLE.parent, folder)
    text = (folder / "pipeline.toml").read_text(encoding="utf-8")
    text += "\n[person.review]\nband_bits = 60\n\n[enterprise.review]\nband_bits = 60\n"
    (folder / "pipeline.toml").write_text(text, encoding="utf-8")
    config = load_pipeline(folder / "pipeline.toml")
    local = lk.Pipeline(config).run()
    remote = run_spark(config, spark=spark, n_buckets=3)
    out = tmp_path_factory.mktemp("spark_sample") / "run"
    write_spark_outputs(remote, out)
    return SimpleNamespace(config=config, local=local, remote=remote, out=out)


def test_sample_same_partition_and_golden(sample: SimpleNamespace) -> None:
    """Golden values include the enterprise legal_rep_name the person entity settles."""
    n_records, n_golden = _same_partition_and_golden(sample.config, sample.local, sample.remote)
    assert n_records > 900 and n_golden > 300


def test_sample_same_model(sample: SimpleNamespace) -> None:
    """The default per-pass fit gives the same model on both engines."""
    for etype, entity in sample.local.entities.items():
        mine, theirs = sample.remote.entities[etype].model, entity.model
        assert theirs.config.fit == "sessions" and len(theirs.sessions_) >= 5
        assert mine.sessions_ == theirs.sessions_
        assert mine.prior_ == pytest.approx(theirs.prior_, rel=1e-9)
        for name in theirs.m_:
            assert np.allclose(mine.m_[name], theirs.m_[name], rtol=1e-9, atol=0)
            assert np.allclose(mine.u_[name], theirs.u_[name], rtol=1e-9, atol=0)


def test_sample_same_legal_representatives(sample: SimpleNamespace) -> None:
    local = sample.local.legal_reps
    assert local.num_rows > 100
    assert _edges(pq.read_table(sample.out / "legal_reps")) == _edges(local)


def test_sample_same_linkage_metrics(sample: SimpleNamespace) -> None:
    """Pairwise and B-cubed figures against the sample's truth, counted by Spark."""
    local, remote = sample.local.metrics, sample.remote.metrics
    assert remote is not None and remote["not_on_spark"] == ["golden", "conflicts",
                                                             "standardisation"]
    for key in ("records_in_run", "records_in_truth", "records_matched"):
        assert remote[key] == local[key] > 900
    for etype in ("person", "enterprise"):
        mine, theirs = remote[etype], local[etype]
        for key in ("records", "predicted_entities", "true_entities",
                    "clusters_with_two_valid_id_numbers", "clusters_with_two_valid_org_codes"):
            assert mine.get(key) == theirs.get(key), (etype, key)
        for kind in ("pairwise", "bcubed"):
            assert mine[kind] == pytest.approx(theirs[kind], rel=1e-12), (etype, kind)
        assert 0.9 < mine["pairwise"]["f1"] <= 1.0
    summary = json.loads((sample.out / "run.json").read_text(encoding="utf-8"))
    assert summary["metrics"]["person"]["pairwise"]["true_pairs"] == \
        local["person"]["pairwise"]["true_pairs"]


def _sections(html: str) -> dict[str, str]:
    """The report's sections by id, without the run summary and the blocking section (the
    engines word their summaries and blocking reports differently)."""
    found = dict(re.findall(r'<section id="([a-z_]+)">(.*?)</section>', html, flags=re.S))
    return {k: v for k, v in found.items() if k not in ("summary", "blocking")}


def test_sample_same_report(sample: SimpleNamespace) -> None:
    """report.html shows the same histogram, model, example pairs, clusters, golden rules,
    legal representatives, scorecard and top conflicts on both engines."""
    mine = _sections((sample.out / "report.html").read_text(encoding="utf-8"))
    theirs = _sections(render_report(sample.local))
    assert set(mine) == {"weights", "model", "examples", "clusters", "golden", "legal_reps",
                         "changes", "quality", "conflicts"}
    for key in theirs:
        assert mine[key] == theirs[key], key
    assert "<svg" in mine["weights"] and mine["legal_reps"].count("<tr>") > 20
    summary = json.loads((sample.out / "run.json").read_text(encoding="utf-8"))
    assert summary["gates"] == [] and "report.html" in summary["files"]


def test_sample_same_review_queue_and_worklists(sample: SimpleNamespace,
                                                tmp_path: Path) -> None:
    for etype, entity in sample.local.entities.items():
        assert entity.review is not None and entity.review.num_rows > 10
        expected = write_review(entity.review, tmp_path / f"review_{etype}.csv").read_bytes()
        assert (sample.out / f"review_{etype}.csv").read_bytes() == expected
    written = write_worklists(sample.local.conflicts, sample.config.sources, tmp_path)
    csvs = sorted(p.name for p in written.values() if p.suffix == ".csv")
    assert len(csvs) >= 5
    for name in csvs:
        assert (sample.out / "worklists" / name).read_bytes() == \
            (tmp_path / "worklists" / name).read_bytes(), name
    assert {p.name for p in (sample.out / "worklists").iterdir()} == \
        {p.name for p in written.values()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(persons=1200, enterprises=300, seed=7, out=out)
    reshape_departmental(out, seed=7)  # the layout whose persons carry their employer
    return out


def test_generated_same_partition_golden_and_employers(spark: Any, generated: Path) -> None:
    """Persons and enterprises: the same partition and golden values (the employer code
    the enterprise register settles included), and the same employer and legal
    representative edges."""
    config = load_pipeline(generated / "pipeline.toml")
    local = lk.Pipeline(config).run()
    remote = run_spark(config, spark=spark, n_buckets=3)
    n_records, _ = _same_partition_and_golden(config, local, remote)
    assert n_records > 1500
    assert local.employers is not None and local.employers.num_rows > 100
    assert _edges(remote.employers.toArrow()) == _edges(local.employers)
    assert _edges(remote.legal_reps.toArrow()) == _edges(local.legal_reps)


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
