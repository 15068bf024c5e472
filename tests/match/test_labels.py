"""A user's labels: reading pair and cluster files, the threshold sweep (hand-checked),
its chart, evaluating a run folder, and m refined from labelled matches."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.cli import main
from linkage.errors import SourceError
from linkage.evaluate import evaluate_labels
from linkage.match.compare import Comparison
from linkage.match.labels import (
    m_from_labels,
    read_labels,
    read_pair_labels,
    sweep,
    sweep_svg,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_pair_labels_skip_blanks_and_name_a_bad_value(tmp_path: Path) -> None:
    good = _write(tmp_path / "pairs.csv",
                  "source_l,source_key_l,source_r,source_key_r,label\n"
                  "tax,1,tax,2,match\ntax,1,tax,3,\ntax,2,tax,3,non_match\ntax,3,tax,4,1\n")
    labels = read_pair_labels(good)
    assert labels.column("is_match").to_pylist() == [True, False, True]
    assert labels.column("source_key_r").to_pylist() == ["2", "3", "4"]
    bad = _write(tmp_path / "bad.csv",
                 "source_l,source_key_l,source_r,source_key_r,label\ntax,1,tax,2,maybe\n")
    with pytest.raises(SourceError, match="maybe") as info:
        read_pair_labels(bad)
    assert info.value.row == 2 and info.value.field == "label"


def test_cluster_labels_become_every_pair(tmp_path: Path) -> None:
    path = _write(tmp_path / "clusters.csv",
                  "source,source_key,cluster\na,1,x\na,2,x\nb,7,y\n")
    labels = read_labels(path)
    assert labels.num_rows == 3
    assert labels.column("is_match").to_pylist() == [True, False, False]


def test_sweep_by_hand() -> None:
    prob = np.array([0.95, 0.6, 0.3, np.nan])  # the last pair was no candidate
    truth = np.array([True, False, True, True])
    row = sweep(prob, truth, [0.5])[0]
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 2)
    assert row["precision"] == 0.5
    assert row["recall"] == pytest.approx(1 / 3)
    assert row["f1"] == pytest.approx(0.4)
    low = sweep(prob, truth, [0.2])[0]
    assert (low["tp"], low["fp"], low["fn"]) == (2, 1, 1)


def test_sweep_chart_is_svg_with_three_lines() -> None:
    rows = sweep(np.array([0.9, 0.4]), np.array([True, False]))
    svg = sweep_svg(rows, marker=0.9)
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 3


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["a", "a", "b", "b"], "source_key": ["1", "2", "1", "2"],
        "entity_id": ["P1", "P1", "P2", "P3"]}), run / "records.parquet")
    pq.write_table(pa.table({
        "id_l": pa.array([0, 0, 2], pa.int64()), "id_r": pa.array([1, 2, 3], pa.int64()),
        "match_probability": [0.97, 0.2, 0.6]}), run / "pairs.parquet")
    return run


def test_evaluate_a_run_against_labels(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    labels = _write(tmp_path / "labels.csv",
                    "source_l,source_key_l,source_r,source_key_r,label\n"
                    "a,1,a,2,match\na,1,b,1,non_match\nb,1,b,2,match\nb,2,x,9,match\n")
    result = evaluate_labels(run, labels, thresholds=[0.5, 0.9])
    assert result["labelled_pairs"] == 3 and result["unknown_records"] == 1
    at_half, at_ninety = result["sweep"]
    assert (at_half["tp"], at_half["fp"], at_half["fn"]) == (2, 0, 0)
    assert (at_ninety["tp"], at_ninety["fn"]) == (1, 1)
    # the run itself linked (0, 1) only: b/1 and b/2 are different entities
    assert result["run"]["tp"] == 1 and result["run"]["fn"] == 1


def test_labels_read_a_run_whose_tables_are_logs(tmp_path: Path) -> None:
    """An incremental run's records and pairs are logs (base + parts): read merged, the
    night's new entity of b/2 and its new pair count, the retired record's do not."""
    from linkage.io.run_log import append_run_table

    first = _run_folder(tmp_path)
    night = tmp_path / "night"
    night.mkdir()
    # b/2 (record 3) is now P2's; record 1 (a/2) is retired, its pair goes with it
    append_run_table(first, night, "records", pa.table({
        "record_id": pa.array([3], pa.int64()), "source": ["b"], "source_key": ["2"],
        "entity_id": ["P2"]}), {"record_id": pa.array([1, 3], pa.int64())})
    append_run_table(first, night, "pairs", pa.table({
        "id_l": pa.array([2], pa.int64()), "id_r": pa.array([3], pa.int64()),
        "match_probability": [0.95]}),
        {"id_l": pa.array([1], pa.int64()), "id_r": pa.array([1, 3], pa.int64())})
    assert not (night / "records.parquet").exists()
    labels = _write(tmp_path / "labels.csv",
                    "source_l,source_key_l,source_r,source_key_r,label\n"
                    "a,1,a,2,match\nb,1,b,2,match\n")
    result = evaluate_labels(night, labels, thresholds=[0.9])
    assert result["labelled_pairs"] == 1 and result["unknown_records"] == 1
    assert (result["sweep"][0]["tp"], result["sweep"][0]["fn"]) == (1, 0)
    assert (result["run"]["tp"], result["run"]["fn"]) == (1, 0)


def test_cli_evaluate_labels_prints_the_sweep_and_writes_the_chart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_folder(tmp_path)
    labels = _write(tmp_path / "labels.csv",
                    "source_l,source_key_l,source_r,source_key_r,label\na,1,a,2,match\n")
    assert main(["evaluate", "--run", str(run), "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("threshold  precision")
    assert (tmp_path / "labels_sweep.svg").read_text(encoding="utf-8").startswith("<svg")


def test_m_from_labels_moves_towards_the_labelled_levels() -> None:
    comp = Comparison(name="a", field="a", method="exact")
    vectors = pa.table({"gamma_a": pa.array([0] * 30 + [1] * 10 + [-1] * 5, pa.int8())})
    prior = {"a": np.array([0.1, 0.9])}
    m = m_from_labels(vectors, [comp], prior, prior_pairs=10)
    # (30 + 1) / (40 + 10) and (10 + 9) / 50; nulls do not count
    assert m["a"].tolist() == pytest.approx([0.62, 0.38])
