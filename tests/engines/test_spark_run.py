"""The Spark engine end to end on the hand-checked tiny pipeline: `linkage run --engine
spark` writes the run folder, and a Spark DataFrame handed in replaces a source file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

import linkage as lk
from linkage.cli import main
from linkage.config import load_pipeline
from linkage.engines.spark.run import run_spark

#: the fixture's six true people (tests/fixtures/tiny/pipeline.toml)
EXPECTED = {frozenset(x) for x in (("H001", "S01"), ("H002", "T1"), ("H003", "S02"),
                                   ("H004", "S03", "T3"), ("H005", "T2"), ("S04",))}


def _groups(rows: list[dict[str, Any]]) -> set[frozenset[str]]:
    by: dict[str, set[str]] = {}
    for r in rows:
        by.setdefault(r["entity_id"], set()).add(r["source_key"])
    return {frozenset(v) for v in by.values()}


def test_cli_engine_spark_writes_the_run_folder(spark: Any, tiny_dir: Path,
                                                tmp_path: Path,
                                                capsys: Any) -> None:
    out = tmp_path / "run"
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(out), "--engine",
                 "spark", "--spark-conf", "spark.sql.shuffle.partitions=4"])
    assert code == 0
    assert "linkage run (spark): tiny" in capsys.readouterr().out
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert summary["engine"] == "spark"
    assert summary["outputs"]["records"] == 12
    assert summary["outputs"]["person"]["entities"] == 6
    assert summary["inputs"] == {"household": {"person": 5}, "social_security":
                                 {"person": 4}, "tax": {"person": 3}}
    records = pq.read_table(out / "records")  # a folder partitioned by entity_type
    assert (out / "records" / "entity_type=person").is_dir()
    assert _groups(records.select(["source_key", "entity_id"]).to_pylist()) == EXPECTED
    golden = pq.read_table(out / "golden_person")
    assert golden.num_rows == 6
    assert (out / "model_person.json").is_file() and (out / "quality.parquet").is_file()


def test_dataframe_handed_in_replaces_a_source(spark: Any, tiny_dir: Path) -> None:
    config = load_pipeline(tiny_dir / "pipeline.toml")
    household = pcsv.read_csv(tiny_dir / "household.csv",
                              convert_options=pcsv.ConvertOptions(
                                  column_types={"联系电话": "string", "公民身份号码": "string"}))
    frame = spark.createDataFrame(household.to_pandas()).repartition(2)
    (tiny_dir / "household.csv").unlink()  # the frame, not the file, must be read
    result = run_spark(config, spark=spark, frames={"household": frame}, n_buckets=2)
    got = result.records.select("source", "source_key", "entity_id").toArrow()
    assert _groups(got.to_pylist()) == EXPECTED
    local = lk.Pipeline(load_pipeline(Path(__file__).parents[1] / "fixtures" / "tiny" /
                                      "pipeline.toml")).run()
    assert {(r["source"], r["source_key"], r["entity_id"]) for r in got.to_pylist()} == \
        {(r["source"], r["source_key"], r["entity_id"])
         for r in local.records.select(["source", "source_key", "entity_id"]).to_pylist()}
