"""Every kind of bad input in the generated corpus, through the real command line.

For each case: exit 0 (with a flag where the input was bad) or exit 2 with a message
naming the source, never a traceback; every record read is in the output; no input file
is modified and no file appears beside them (a query cannot write); and no full ID number
or phone of the data is printed or written to run.json or report.html.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fuzz_corpus import Case, all_cases, clean_source, people, write_pipeline

from linkage.cli import main

CASES = all_cases()
CLEAN = people(12, seed=1, prefix="C")
FUZZED = people(12, seed=2, prefix="F")
PERSONAL = [v for r in CLEAN + FUZZED for v in (r["身份证号"], r["手机"])]


def test_the_corpus_is_large_and_covers_every_format() -> None:
    assert len(CASES) >= 100
    assert {c.fmt for c in CASES} == {"csv", "xlsx", "parquet", "arrow", "sqlite", "duckdb"}
    encodings = {c.name.split("-")[1] for c in CASES if c.name.startswith("csv-utf")
                 or c.name.startswith("csv-gb")}
    assert {"utf", "gb18030", "gbk"} <= encodings


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (outputs aside) -> its digest."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if "out" in path.relative_to(folder).parts[:1] or path.name.startswith(".out."):
            continue
        out[str(path.relative_to(folder))] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir")
    return out


def run_case(case: Case, tmp: Path, capsys: pytest.CaptureFixture[str],
             caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp / "in"
    folder.mkdir()
    built = case.build(folder, FUZZED)
    pipeline = write_pipeline(folder, [clean_source(folder, CLEAN), built.source])
    before = _snapshot(tmp)
    out = tmp / "out"
    with caplog.at_level(logging.INFO):
        code = main(["run", str(pipeline), "--out", str(out)])
    printed = capsys.readouterr()
    shown = printed.out + printed.err + caplog.text
    assert "Traceback" not in shown
    assert code in (0, 2), f"exit {code}: {printed.err[-800:]}"
    if case.expect in ("ok", "flag"):
        assert code == 0, printed.err[-800:]
    if case.expect == "error":
        assert code == 2, "expected a clear error, the run went through"
    if code == 2:
        assert "source 'fuzzed/person'" in printed.err, printed.err
        # ... and where: the row and field at fault, or the path or query itself
        assert "field '" in printed.err or ", row " in printed.err, printed.err
        assert printed.err.startswith("linkage: error: ")
        assert not out.exists()
    else:
        records = pq.read_table(out / "records.parquet")
        summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
        assert summary["outputs"]["records"] == records.num_rows
        mine = records.filter(pc.equal(records["source"], "fuzzed"))
        if built.records is not None:
            assert mine.num_rows == built.records
        assert records.filter(pc.equal(records["source"], "clean")).num_rows == len(CLEAN)
        assert pc.count_distinct(records["record_id"]).as_py() == records.num_rows
        # a key is never shared: nothing is tied together by a blank or repeated key
        keys = pc.binary_join_element_wise(records["source"], records["source_key"], "\x1f")
        assert pc.count_distinct(keys).as_py() == records.num_rows
        flagged = pc.sum(pc.greater(pc.list_value_length(mine["flags"]), 0)).as_py() or 0
        if case.expect == "flag":
            assert flagged > 0, "bad input went through without a flag"
        shown += (out / "run.json").read_text(encoding="utf-8")
        shown += (out / "report.html").read_text(encoding="utf-8")
    assert _snapshot(tmp) == before, "an input was modified or a file was created"
    leaked = [v for v in PERSONAL if v in shown]
    assert not leaked, f"{len(leaked)} personal value(s) shown in full"
    assert "\x1b" not in printed.out + printed.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   caplog: pytest.LogCaptureFixture) -> None:
    if case.fmt == "xlsx":
        pytest.importorskip("openpyxl")
    run_case(case, tmp_path, capsys, caplog)


@pytest.mark.parametrize("name", ["xlsx-cell-at-XFD1048576", "csv-utf-8-escape-codes-in-name",
                                  "duckdb-copy-then-select", "parquet-ids-as-float64"])
def test_bad_input_in_a_real_process(name: str, tmp_path: Path) -> None:
    """The installed command in its own process: no signal, no traceback, the exit code."""
    case = next(c for c in CASES if c.name == name)
    folder = tmp_path / "in"
    folder.mkdir()
    built = case.build(folder, FUZZED)
    pipeline = write_pipeline(folder, [clean_source(folder, CLEAN), built.source])
    done = subprocess.run([sys.executable, "-m", "linkage.cli", "run", str(pipeline),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 2), done.stderr[-800:]  # a signal gives a negative code
    assert "Traceback" not in done.stderr
    assert (done.returncode == 2) == (case.expect == "error")
    assert not [v for v in PERSONAL if v in done.stdout + done.stderr]
    assert "\x1b" not in done.stdout + done.stderr
