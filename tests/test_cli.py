"""The command line: clear messages and exit code 2 instead of tracebacks."""

from __future__ import annotations

import json
import re
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


# --- the command for nightly builds: flags, exit codes, gates, explain --------------------


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    import linkage

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"linkage {linkage.__version__}"


@pytest.mark.parametrize("value", ["-5", "0", "many"])
def test_generate_with_a_bad_count_exits_2_with_a_clear_message(
        value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "--persons", value, "--out", str(tmp_path / "g")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --persons" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()


def test_exit_codes_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("0    finished", "1    internal error", "2    bad input or configuration",
                 "3    a quality gate"):
        assert line in out


def test_an_internal_error_exits_1_without_a_traceback(
        tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import linkage.io.outputs

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk said 11010519491231002X")

    monkeypatch.setattr(linkage.io.outputs, "write_outputs", broken)
    code = main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error: RuntimeError" in err and "this is a bug" in err
    assert "Traceback" not in err and "11010519491231002X" not in err


def test_quiet_json_logs_carry_timestamps_and_progress_off_a_terminal(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--log-format", "json", "--log-level", "info", "run",
                 str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "o")])
    assert code == 0
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert all(x["time"].endswith("Z") and "T" in x["time"] for x in lines)
    messages = [x["message"] for x in lines]
    # a line per finished step, including writing the outputs
    assert any("person.block done" in m for m in messages)
    assert any(m.startswith("wrote ") for m in messages)
    # --quiet: no summary on stdout and no log lines below errors
    assert main(["--quiet", "run", str(tiny_dir / "pipeline.toml"), "--out",
                 str(tmp_path / "q")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def _with_gates(tiny_dir: Path, gates: str) -> Path:
    path = tiny_dir / "pipeline.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[gates]\n" + gates, encoding="utf-8")
    return path


def test_a_failed_quality_gate_exits_3_after_writing_every_output(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = _with_gates(tiny_dir, "min_records = 13\nmax_identity_conflicts = 0\n")
    out = tmp_path / "o"
    assert main(["run", str(pipeline), "--out", str(out)]) == 3
    printed, err = capsys.readouterr()
    assert "quality gate(s) failed: min_records: 12 (limit >= 13) FAILED" in err
    assert "max_identity_conflicts: 0 (limit <= 0) ok" in printed
    assert (out / "run.json").is_file() and (out / "golden_person.parquet").is_file()
    gates = json.loads((out / "run.json").read_text(encoding="utf-8"))["gates"]
    assert [(g["gate"], g["passed"]) for g in gates] == [("max_identity_conflicts", True),
                                                         ("min_records", False)]


def test_max_new_merges_fails_a_build_whose_entities_merge(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(first)]) == 0
    # The next delivery of the household file has H003 carrying H001's identity: two
    # entities of the first run now merge.
    household = tiny_dir / "household.csv"
    lines = household.read_text(encoding="utf-8").splitlines()
    h001 = next(x for x in lines if x.startswith("H001,")).split(",")
    at = next(i for i, x in enumerate(lines) if x.startswith("H003,"))
    lines[at] = ",".join(["H003", *h001[1:]])
    household.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipeline = _with_gates(tiny_dir, "max_new_merges = 0.01\n")
    assert main(["run", str(pipeline), "--out", str(second), "--previous", str(first)]) == 3
    assert "max_new_merges" in capsys.readouterr().err
    assert (second / "entity_changes.parquet").is_file()


def test_bad_gates_are_configuration_errors(tiny_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = (tiny_dir / "pipeline.toml").read_text(encoding="utf-8")
    pipeline = _with_gates(tiny_dir, "max_new_merges = 2.0\n")
    assert main(["run", str(pipeline), "--out", str(tmp_path / "o")]) == 2
    assert "gates: max_new_merges is a share of 0..1, got 2.0" in capsys.readouterr().err
    pipeline.write_text(text, encoding="utf-8")
    _with_gates(tiny_dir, "max_merges = 1\n")
    assert main(["run", str(pipeline), "--out", str(tmp_path / "o")]) == 2
    assert "gates.max_merges: unknown key (known: max_new_merges" in capsys.readouterr().err


def test_explain_a_saved_run_by_department_keys(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["explain", str(out), "--left", "household:H004", "--right", "tax:T3"]) == 0
    text = capsys.readouterr().out
    assert "household:H004 vs tax:T3" in text
    assert "name" in text and "id_number" in text and " | " in text
    assert "\n  linked" in text
    assert "500" not in text or "*" in text  # identifiers are masked
    svg = tmp_path / "pair.svg"
    assert main(["explain", str(out), "--left", "household:H001", "--right", "tax:T2",
                 "--json", "--svg", str(svg)]) == 0
    import xml.etree.ElementTree as ET

    chart = ET.parse(svg).getroot()
    titles = " ".join(t.text or "" for t in chart.iter("{http://www.w3.org/2000/svg}title"))
    assert "[张伟 | 买买提·艾力]" in titles and "[110*************2X | 650" in titles
    texts = [t.text or "" for t in chart.iter("{http://www.w3.org/2000/svg}text")]
    assert "not linked: no blocking pass paired these records" in texts
    data = json.loads(capsys.readouterr().out)
    assert data["linked"] is False and data["rule"] == "no blocking pass paired these records"
    assert main(["explain", str(out), "--left", "household:H404", "--right", "tax:T2"]) == 2
    assert "household:H404: no such record" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["explain", str(out), "--left", "household:", "--right", "tax:T2"])
    assert info.value.code == 2


def test_off_a_terminal_each_finished_step_is_a_timestamped_log_line(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.splitlines()
    steps = [line for line in err
             if re.search(r" INFO linkage\.progress: person\.\w+ done: ", line)]
    assert len(steps) == 8  # the eight stages of the one entity type
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", steps[0])
    assert any("wrote " in line for line in err)


def test_on_a_terminal_a_bar_covers_the_stages_evaluation_and_writing(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "demo", "--out",
                             str(tmp_path / "demo")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = seen.decode("utf-8", errors="replace")
    # each bar draws itself when it starts (its last state may be cleared unseen)
    assert re.search(r"linkage: +\d+%\|", text), text[-2000:]
    assert "linkage: evaluate: " in text and "linkage: write: " in text, text[-2000:]
    assert "linkage.progress" not in text  # a bar, not log lines


def test_with_json_logs_errors_and_failed_gates_are_json_records_too(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = _with_gates(tiny_dir, "min_records = 13\n")
    assert main(["--log-format", "json", "--quiet", "run", str(pipeline), "--out",
                 str(tmp_path / "o")]) == 3
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["logger"]) for r in records] == [("error", "linkage.cli")]
    assert "min_records: 12 (limit >= 13) FAILED" in records[0]["message"]
    (tiny_dir / "tax.csv").unlink()
    assert main(["--log-format", "json", "run", str(pipeline), "--out",
                 str(tmp_path / "p")]) == 2
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert records[-1]["level"] == "error" and "file not found" in records[-1]["message"]


def test_evaluate_command_agrees_with_the_run(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A metric does not depend on how it is called: ``linkage evaluate`` on a run folder
    gives the identity checks the run itself computed (it needs the status columns, else
    every invalid ID number would count as a second identity), and skipping evaluation
    with ``--no-evaluate`` leaves run.json without metrics."""
    data, run, bare = tmp_path / "synth", tmp_path / "run", tmp_path / "bare"
    assert main(["generate", "--persons", "600", "--enterprises", "150", "--seed", "3",
                 "--out", str(data)]) == 0
    assert main(["run", str(data / "pipeline.toml"), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--truth", str(data), "--run", str(run)]) == 0
    by_command = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    in_run = json.loads((run / "run.json").read_text(encoding="utf-8"))["metrics"]
    for etype, label in (("person", "id_numbers"), ("enterprise", "org_codes")):
        key = f"clusters_with_two_valid_{label}"
        assert by_command[etype][key] == in_run[etype][key] == 0
        assert by_command[etype]["pairwise"] == in_run[etype]["pairwise"]
    assert main(["run", str(data / "pipeline.toml"), "--out", str(bare), "--no-evaluate"]) == 0
    assert json.loads((bare / "run.json").read_text(encoding="utf-8"))["metrics"] is None


def test_report_language_and_worklists(tiny_dir: Path, tmp_path: Path) -> None:
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "zh")]) == 0
    assert main(["run", str(tiny_dir / "pipeline.toml"), "--out", str(tmp_path / "en"),
                 "--lang", "en"]) == 0
    assert "运行概况" in (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    assert "Run summary" in (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert sorted(p.suffix for p in (tmp_path / "zh" / "worklists").iterdir()) == \
        [".csv"] * 3 + [".xlsx"] * 3
