"""The Spark engine end to end on the hand-checked tiny pipeline: `linkage run --engine
spark` writes the run folder, and a Spark DataFrame handed in replaces a source file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

import linkage as lk
from linkage.cli import main
from linkage.config import load_pipeline
from linkage.engines.spark.run import run_spark
from linkage.service.index import MasterIndex

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
    with (tiny_dir / "pipeline.toml").open("a", encoding="utf-8") as f:
        f.write("\n[gates]\nmin_records = 100\nmax_flagged_records = 1.0\n")
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(out), "--engine",
                 "spark", "--spark-conf", "spark.sql.shuffle.partitions=4", "--lang", "en"])
    assert code == 3  # the outputs are written, and the build fails on the gate
    printed = capsys.readouterr()
    assert "linkage run (spark): tiny" in printed.out
    assert "min_records: 12 (limit >= 100) FAILED" in printed.out
    assert "max_flagged_records" in printed.out and "quality gate(s) failed" in printed.err
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [(g["gate"], g["passed"]) for g in summary["gates"]] == [
        ("max_flagged_records", True), ("min_records", False)]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in report and "6 golden records" in report
    assert (out / "review_person.csv").is_file()
    assert {p.name for p in (out / "worklists").iterdir()} >= {"tax.csv", "tax.xlsx"}
    # a pair of the Spark run explained from its Parquet folders, as for an embedded run
    capsys.readouterr()
    assert main(["explain", str(out), "--left", "household:H004", "--right", "tax:T3"]) == 0
    explained = capsys.readouterr().out
    assert "household:H004 vs tax:T3" in explained and "\n  linked" in explained
    assert main(["explain", str(out), "--left", "household:H001", "--right", "tax:T2"]) == 0
    assert "\n  linked" not in capsys.readouterr().out  # two different people
    # the master index is built afterwards on one machine, from the Parquet folders
    assert main(["index", str(out)]) == 0
    index = MasterIndex.open(out).types["person"]
    assert index.golden.num_rows == 6 and index.records.num_rows == 12
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


def test_review_decisions_on_spark_as_embedded(spark: Any, tiny_dir: Path) -> None:
    """A reviewer's decisions (and the m they train) act on Spark as on the embedded engine:
    the same partition (a non-match splits a true pair; the match of two people with
    different valid ID numbers is still kept apart by the identity repair) and m."""
    (tiny_dir / "review.csv").write_text(
        "source_l,source_key_l,source_r,source_key_r,decision\n"
        "household,H001,social_security,S01,non_match\n"
        "household,H005,social_security,S04,match\n", encoding="utf-8")
    pipeline = tiny_dir / "pipeline.toml"
    text = pipeline.read_text(encoding="utf-8")
    pipeline.write_text(text + '\n[person.review]\ndecisions = "review.csv"\ntrain = true\n',
                        encoding="utf-8")
    config = load_pipeline(tiny_dir / "pipeline.toml")
    local = lk.Pipeline(config).run()
    result = run_spark(config, spark=spark, n_buckets=2)
    got = result.records.select("source", "source_key", "entity_id").toArrow().to_pylist()
    assert {(r["source"], r["source_key"], r["entity_id"]) for r in got} == \
        {(r["source"], r["source_key"], r["entity_id"])
         for r in local.records.select(["source", "source_key", "entity_id"]).to_pylist()}
    groups = _groups(got)
    assert frozenset({"H001", "S01"}) in EXPECTED  # one person without the decision
    assert not any({"H001", "S01"} <= g for g in groups)
    mine, theirs = result.entities["person"].model.m_, local.entities["person"].model.m_
    assert mine.keys() == theirs.keys()
    assert all(np.allclose(mine[k], theirs[k]) for k in mine)
