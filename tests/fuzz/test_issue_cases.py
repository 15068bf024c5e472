"""The failures issue 12 lists, each through the command line on generated people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fuzz_corpus import (
    HEADER,
    _src,
    clean_source,
    csv_text,
    id_number,
    people,
    write_pipeline,
)

from linkage.cli import main

PEOPLE = people(30, seed=3, prefix="P")


def _run(pipeline: Path, out: Path, *extra: str) -> int:
    return main(["run", str(pipeline), "--out", str(out), *extra])


def _entities(out: Path, source: str) -> list[str]:
    records = pq.read_table(out / "records.parquet")
    return records.filter(pc.equal(records["source"], source))["entity_id"].to_pylist()


@pytest.mark.parametrize("key", ["", "SAME"], ids=["blank", "duplicate"])
def test_blank_or_duplicate_keys_never_merge_people(key: str, tmp_path: Path) -> None:
    rows = [{**r, "编号": key} for r in PEOPLE]
    (tmp_path / "bad.csv").write_text(csv_text(rows), encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [{**_src("bad.csv"), "department": "bad"}])
    assert _run(pipeline, tmp_path / "out") == 0
    ids = _entities(tmp_path / "out", "bad")
    assert len(ids) == 30 and len(set(ids)) == 30
    golden = pq.read_table(tmp_path / "out" / "golden_person.parquet")
    assert golden.num_rows == 30


def _float_twins() -> tuple[str, str]:
    """Two different valid ID numbers that are the same float64, which prints as a third
    valid ID number: exactly the alteration that can pass the check character."""
    by_float: dict[float, str] = {}
    for seq in range(1000):
        for day in range(1, 29):
            real = id_number(110105, f"198001{day:02d}", seq)
            if real[-1] == "X":
                continue
            shown = str(int(float(real)))
            if shown == real or not _valid(shown):
                continue
            twin = by_float.get(float(real))
            if twin is not None and twin != real:
                return twin, real
            by_float[float(real)] = real
    raise AssertionError("no float twins found")


def _valid(text: str) -> bool:
    return len(text) == 18 and id_number(int(text[:6]), text[6:14], int(text[14:17])) == text


def test_ids_that_went_through_a_float_never_force_a_link(tmp_path: Path) -> None:
    a, b = _float_twins()
    rows = [{**PEOPLE[0], "身份证号": a}, {**PEOPLE[1], "身份证号": b}, *PEOPLE[2:10]]
    data: dict[str, Any] = {h: [r[h] for r in rows] for h in HEADER}
    data["身份证号"] = pa.array([float(r["身份证号"]) for r in rows], pa.float64())
    pq.write_table(pa.table(data), tmp_path / "num.parquet")
    pipeline = write_pipeline(tmp_path, [{**_src("num.parquet"), "department": "num"}])
    assert _run(pipeline, tmp_path / "out") == 0
    records = pq.read_table(tmp_path / "out" / "records.parquet").to_pylist()
    first, second = records[0], records[1]
    assert first["id_number"] == second["id_number"]  # the float made them one number
    assert first["entity_id"] != second["entity_id"]  # ... but it forces nothing
    assert any(f.startswith("id_number:from_float") for f in first["flags"])


def test_a_source_inside_out_is_refused_before_the_run(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({h: [r[h] for r in PEOPLE] for h in HEADER}),
                   out / "records.parquet")
    before = (out / "records.parquet").read_bytes()
    pipeline = write_pipeline(tmp_path, [_src("out/records.parquet")])
    assert _run(pipeline, out) == 2
    assert "holds an input of this run" in capsys.readouterr().err
    assert (out / "records.parquet").read_bytes() == before


def test_out_naming_a_file_fails_before_the_work(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("keep me", encoding="utf-8")
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE), encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    assert _run(pipeline, tmp_path / "afile") == 2
    err = capsys.readouterr().err
    assert err.startswith("linkage: error: --out") and "existing file" in err
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("text, expected", [
    ("seed = -1", "seed must be a whole number from 0"),
])
def test_bad_seed_is_a_config_error(text: str, expected: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE), encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    pipeline.write_text(pipeline.read_text(encoding="utf-8").replace("seed = 1", text),
                        encoding="utf-8")
    assert _run(pipeline, tmp_path / "out") == 2
    assert expected in capsys.readouterr().err


def test_a_model_file_that_is_not_a_model(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE), encoding="utf-8")
    (tmp_path / "model.json").write_text("[1, 2]", encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    pipeline.write_text(pipeline.read_text(encoding="utf-8").replace(
        'identity_fields = ["id_number"]', 'identity_fields = ["id_number"]\n'
        'model = "model.json"'), encoding="utf-8")
    assert _run(pipeline, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "not a linkage Fellegi-Sunter model file" in err and "Traceback" not in err


def test_a_foreign_truth_folder_costs_no_outputs(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE), encoding="utf-8")
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "records.parquet").write_text(csv_text(PEOPLE), encoding="utf-8")  # not Parquet
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    pipeline.write_text('truth = "truth"\n' + pipeline.read_text(encoding="utf-8"),
                        encoding="utf-8")
    assert _run(pipeline, tmp_path / "out") == 0
    summary = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert summary["metrics"] is None and summary["outputs"]["records"] == 30
    # evaluating against a truth file that is not Parquet is a clear error
    code = main(["evaluate", "--truth", str(truth), "--run", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot evaluate" in err and "Traceback" not in err


def test_previous_run_without_records(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE), encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    previous = tmp_path / "prev"
    previous.mkdir()
    names = ["source", "source_key", "entity_type", "entity_id"]
    pq.write_table(pa.table({n: pa.array([], pa.string()) for n in names}),
                   previous / "records.parquet")
    assert _run(pipeline, tmp_path / "out", "--previous", str(previous)) == 0
    assert len(set(_entities(tmp_path / "out", "fuzzed"))) == 30


def test_a_header_less_file_error_shows_no_personal_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.csv").write_text(csv_text(PEOPLE).split("\n", 1)[1], encoding="utf-8")
    pipeline = write_pipeline(tmp_path, [_src("s.csv")])
    assert _run(pipeline, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "mapped column(s) not in the file" in err
    first = PEOPLE[0]  # the row taken for a header
    assert first["身份证号"] not in err and first["手机"] not in err


def test_report_masks_by_content_whatever_the_field_is_called(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fields named sfzh / mobile, ID numbers as department keys, IDs and phones in
    # addresses, escape codes in the department name
    rows = [{**r, "编号": r["身份证号"], "住址": f"{r['住址']} 电话{r['手机']}"} for r in PEOPLE]
    (tmp_path / "s.csv").write_text(csv_text(rows), encoding="utf-8")
    columns = {"name": "姓名", "sfzh": "身份证号", "mobile": "手机", "address": "住址"}
    source = {**_src("s.csv"), "department": "tax\u001b[2J", "columns": columns}
    clean = {**clean_source(tmp_path, PEOPLE), "columns": columns}
    pipeline = write_pipeline(tmp_path, [source, clean])
    text = pipeline.read_text(encoding="utf-8").split("\n[person]")[0]
    text += """
[person]
identity_fields = ["sfzh"]
[person.fields]
name = "person_name"
sfzh = "id_number"
mobile = "phone"
address = "address"
[[person.blocking]]
name = "id"
keys = ["sfzh"]
[[person.comparisons]]
name = "name"
field = "name"
method = "jaro_winkler"
thresholds = [0.8]
[[person.comparisons]]
name = "sfzh"
field = "sfzh"
method = "exact"
[[person.comparisons]]
name = "mobile"
field = "mobile"
method = "exact"
"""
    pipeline.write_text(text, encoding="utf-8")
    assert _run(pipeline, tmp_path / "out") == 0
    printed = capsys.readouterr()
    shown = printed.out + printed.err
    shown += (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    shown += (tmp_path / "out" / "run.json").read_text(encoding="utf-8")
    leaked = [v for r in PEOPLE for v in (r["身份证号"], r["手机"]) if v in shown]
    assert not leaked
    assert "\x1b" not in printed.out and "tax\\x1b[2J" in printed.out
