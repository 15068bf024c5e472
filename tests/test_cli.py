"""The command line: clear messages and exit code 2 instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linkage.cli import main


def test_missing_source_file_is_a_clear_error(tiny_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tiny_dir / "tax.csv").unlink()
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "source 'tax/person'" in err and "file not found" in err
    assert "Traceback" not in err


def test_absent_mapped_column_is_a_clear_error(tiny_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = (tiny_dir / "pipeline.toml").read_text(encoding="utf-8")
    (tiny_dir / "pipeline.toml").write_text(text.replace('phone = "PHONE"', 'phone = "TEL"'),
                                            encoding="utf-8")
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "'TEL'" in err and "source 'tax/person'" in err


def test_undecodable_file_is_a_clear_error(tiny_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    text = (tiny_dir / "pipeline.toml").read_text(encoding="utf-8")
    (tiny_dir / "pipeline.toml").write_text(
        text.replace('encoding = "gb18030"', 'encoding = "utf-8"'), encoding="utf-8")
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "source 'social_security/person'" in err and "gb18030" in err


def test_invalid_pipeline_file_lists_problems(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text('seed = "x"\n[[sources]]\ndepartment = "tax"\n', encoding="utf-8")
    code = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "seed: expected int" in err
    assert "sources[0].entity_type: required key is missing" in err


def test_run_writes_outputs_and_prints_summary(tiny_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "household" in printed and "6 entities" in printed
    for name in ("records", "pairs", "golden_person", "conflicts", "quality"):
        assert (out / f"{name}.parquet").is_file(), name
    assert (out / "run.json").is_file()
    assert not list(out.glob(".*.tmp"))


def test_demo_runs_offline_on_shipped_sample(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "records read per department" in printed
    assert "pairwise precision" in printed
    f1s = [float(line.rsplit("F1", 1)[1]) for line in printed.splitlines()
           if "pairwise precision" in line]
    assert f1s and min(f1s) >= 0.9, printed
    assert (out / "golden_person.parquet").is_file()
    assert (out / "golden_enterprise.parquet").is_file()
    # With ground truth beside the data, the blocking report has pair completeness.
    blocking = json.loads((out / "run.json").read_text(encoding="utf-8"))["blocking"]
    for etype in ("person", "enterprise"):
        assert blocking[etype]["truth_pairs"] > 0
        assert blocking[etype]["pair_completeness"] >= 0.95


def test_run_on_the_hand_written_sample_pipeline(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The pipeline file shown in the README runs on the sample data as printed there."""
    pipeline = Path(__file__).resolve().parents[1] / "datasets" / "handwritten.toml"
    assert main(["run", str(pipeline), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if "pairwise precision" in x)
    assert float(line.rsplit("F1", 1)[1]) >= 0.9, printed
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert pipeline.read_text(encoding="utf-8").strip() in readme


def test_generate_run_evaluate_round_trip(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data, run = tmp_path / "synth", tmp_path / "run"
    assert main(["generate", "--persons", "200", "--enterprises", "60", "--seed", "5",
                 "--out", str(data)]) == 0
    assert (data / "pipeline.toml").is_file() and (data / "truth").is_dir()
    assert main(["run", str(data / "pipeline.toml"), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--truth", str(data), "--run", str(run)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = json.loads(last)
    assert metrics["person"]["pairwise"]["f1"] >= 0.8
    assert metrics["enterprise"]["pairwise"]["f1"] >= 0.8


def test_rerun_from_previous_output_keeps_entity_ids(tiny_dir: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(first)]) == 0
    # The tax department's file arrives without its last row: that entity loses a record.
    tax = tiny_dir / "tax.csv"
    tax.write_bytes(b"".join(tax.read_bytes().splitlines(keepends=True)[:-1]))
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(second),
                 "--previous", str(first)]) == 0
    before = {(r["source"], r["source_key"]): r["entity_id"]
              for r in pq.read_table(first / "records.parquet").to_pylist()}
    after = {(r["source"], r["source_key"]): r["entity_id"]
             for r in pq.read_table(second / "records.parquet").to_pylist()}
    assert len(after) == len(before) - 1
    assert all(after[k] == before[k] for k in after)
    changes = pq.read_table(second / "entity_changes.parquet").to_pylist()
    assert changes == [], changes


def test_previous_that_is_not_a_run_directory_is_a_clear_error(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "o"),
                 "--previous", str(tmp_path)])
    assert code == 2
    assert "no records.parquet" in capsys.readouterr().err


def test_generate_takes_error_rates_from_a_toml_file(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rates = tmp_path / "rates.toml"
    rates.write_text("id_typo = 0.02\n[department_rates.courts]\nid_missing = 0.5\n",
                     encoding="utf-8")
    out = tmp_path / "g"
    assert main(["generate", "--persons", "300", "--enterprises", "50", "--seed", "2",
                 "--out", str(out), "--config", str(rates)]) == 0
    config = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["config"]
    assert config["id_typo"] == 0.02
    # One department's override merges into the defaults instead of replacing them.
    assert config["department_rates"]["courts"]["id_missing"] == 0.5
    assert config["department_rates"]["courts"]["id_masked"] == 0.9
    bad = tmp_path / "bad.toml"
    bad.write_text('bogus = 1\n[coverage]\nhousehold = "x"\n', encoding="utf-8")
    assert main(["generate", "--persons", "10", "--enterprises", "1", "--out",
                 str(tmp_path / "b"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bogus: unknown key" in err and "coverage.household: expected float" in err


def test_report_language_and_worklists(tiny_dir: Path, tmp_path: Path) -> None:
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "zh")]) == 0
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "en"),
                 "--lang", "en"]) == 0
    assert "运行概况" in (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    assert "Run summary" in (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert sorted(p.suffix for p in (tmp_path / "zh" / "worklists").iterdir()) == \
        [".csv"] * 3 + [".xlsx"] * 3
