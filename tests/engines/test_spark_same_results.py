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
