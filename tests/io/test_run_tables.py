"""A run folder's tables read back in every form: one file, and the log of parts an
incremental run leaves (hand-checked rows), its compaction and its limit on parts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.errors import LinkageError
from linkage.io.outputs import is_complete_run, write_json
from linkage.io.run_log import append_run_table, compact_run
from linkage.io.run_tables import has_run_table, log_table, read_run_table, run_table_names

BASE = pa.table({"record_id": pa.array([0, 1, 2, 3], pa.int64()),
                 "entity_id": ["A", "A", "B", "C"],
                 "cluster_size": pa.array([2, 2, 1, 1], pa.int32())})


def _run(folder: Path, tables: dict[str, pa.Table]) -> Path:
    """A complete run folder holding ``tables`` as single files."""
    folder.mkdir(parents=True)
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
    _listed(folder)
    return folder


def _listed(folder: Path) -> None:
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "run.json"
             and p.relative_to(folder).parts[0] != "index"}
    write_json({"name": "t", "files": files}, folder / "run.json")


def _step(previous: Path, out: Path, added: pa.Table, deleted: dict[str, list[int]],
          max_parts: int = 8) -> Path:
    """The next run: ``records`` as a log on ``previous``'s."""
    out.mkdir(parents=True)
    append_run_table(previous, out, "records", added,
                     {k: pa.array(v, pa.int64()) for k, v in deleted.items()},
                     max_parts=max_parts)
    _listed(out)
    return out


def _rows(run: Path) -> list[tuple[int, str, int]]:
    table = read_run_table(run, "records")
    return sorted(zip(*(table[c].to_pylist() for c in ("record_id", "entity_id",
                                                      "cluster_size")), strict=True))


def test_a_log_reads_as_its_base_less_the_deletions_plus_the_additions(tmp_path: Path) -> None:
    run1 = _run(tmp_path / "run1", {"records": BASE})
    # run 2: record 3 is retired, records 0 and 1 move to entity D, record 4 arrives
    run2 = _step(run1, tmp_path / "run2",
                 pa.table({"record_id": [0, 1, 4], "entity_id": ["D", "D", "D"],
                           "cluster_size": [3, 3, 3]}), {"record_id": [0, 1, 3]})
    # run 3: record 4 (added by run 2) leaves, so does record 2 (of the base)
    run3 = _step(run2, tmp_path / "run3", pa.table({"record_id": [0, 1],
                                                    "entity_id": ["D", "D"],
                                                    "cluster_size": [2, 2]}),
                 {"record_id": [0, 1, 4, 2]})
    assert _rows(run2) == [(0, "D", 3), (1, "D", 3), (2, "B", 1), (4, "D", 3)]
    assert _rows(run3) == [(0, "D", 2), (1, "D", 2)]
    assert _rows(run1) == [(0, "A", 2), (1, "A", 2), (2, "B", 1), (3, "C", 1)]
    # the base is the first run's file itself, not a copy; each run adds two parts
    assert (run3 / "records__base.parquet").stat().st_ino == \
        (run1 / "records.parquet").stat().st_ino
    assert sorted(p.name for p in run3.glob("records*")) == [
        "records__add_0001.parquet", "records__add_0002.parquet", "records__base.parquet",
        "records__del_0001.parquet", "records__del_0002.parquet"]
    assert is_complete_run(run3)
    assert has_run_table(run3, "records") and run_table_names(run3) == ["records"]
    # the types are the base's, whatever the run's tables had
    assert read_run_table(run3, "records").schema == BASE.schema
    only = read_run_table(run2, "records", columns=["entity_id", "nope"])
    assert only.column_names == ["entity_id"]
    assert sorted(only["entity_id"].to_pylist()) == ["B", "D", "D", "D"]


def test_a_deletion_file_drops_a_row_matching_any_of_its_columns(tmp_path: Path) -> None:
    pairs = pa.table({"id_l": pa.array([0, 0, 1], pa.int64()),
                      "id_r": pa.array([1, 2, 2], pa.int64()), "w": [1.0, 2.0, 3.0]})
    run1 = _run(tmp_path / "run1", {"pairs": pairs})
    run2 = tmp_path / "run2"
    run2.mkdir()
    append_run_table(run1, run2, "pairs", pa.table({"id_l": [2], "id_r": [5], "w": [9.0]}),
                     {"id_l": pa.array([1], pa.int64()), "id_r": pa.array([1], pa.int64())})
    got = read_run_table(run2, "pairs").to_pylist()
    assert got == [{"id_l": 0, "id_r": 2, "w": 2.0}, {"id_l": 2, "id_r": 5, "w": 9.0}]


def test_a_log_past_its_limit_is_written_as_one_file(tmp_path: Path) -> None:
    run = _run(tmp_path / "run0", {"records": BASE})
    for i in range(1, 4):
        run = _step(run, tmp_path / f"run{i}",
                    pa.table({"record_id": [10 + i], "entity_id": [f"N{i}"],
                              "cluster_size": [1]}), {"record_id": [i - 1]}, max_parts=2)
    # runs 1 and 2 made parts; run 3 would have made a third: one file instead
    assert log_table(tmp_path / "run2", "records") is not None
    assert not (run / "records__base.parquet").exists()
    assert (run / "records.parquet").is_file()
    assert _rows(run) == [(3, "C", 1), (11, "N1", 1), (12, "N2", 1), (13, "N3", 1)]


def test_compaction_writes_each_log_as_one_file_in_a_complete_run(tmp_path: Path) -> None:
    run1 = _run(tmp_path / "run1", {"records": BASE, "quality": pa.table({"q": [1]})})
    (run1 / "worklists").mkdir()
    (run1 / "worklists" / "household.csv").write_text("a,b\r\n", encoding="utf-8")
    _listed(run1)
    run2 = _step(run1, tmp_path / "run2", pa.table({"record_id": [7], "entity_id": ["Z"],
                                                    "cluster_size": [1]}),
                 {"record_id": [3]})
    # the other files of run 2, as a run would have them (linked from run 1 here)
    (run2 / "worklists").mkdir()
    (run2 / "worklists" / "household.csv").hardlink_to(run1 / "worklists" / "household.csv")
    (run2 / "quality.parquet").hardlink_to(run1 / "quality.parquet")
    (run2 / "index").mkdir()
    (run2 / "index" / "manifest.json").write_text("{}", encoding="utf-8")
    _listed(run2)
    before = _rows(run2)
    summary = json.loads((run2 / "run.json").read_text(encoding="utf-8"))
    assert compact_run(run2) == ["records"]
    assert sorted(p.name for p in run2.iterdir()) == [
        "index", "quality.parquet", "records.parquet", "run.json", "worklists"]
    assert _rows(run2) == before == [(0, "A", 2), (1, "A", 2), (2, "B", 1), (7, "Z", 1)]
    assert is_complete_run(run2)
    after = json.loads((run2 / "run.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in after.items() if k != "files"} == \
        {k: v for k, v in summary.items() if k != "files"}
    assert (run2 / "index" / "manifest.json").read_text(encoding="utf-8") == "{}"
    assert compact_run(run2) == []  # nothing left to compact
    # the earlier run is untouched (its files were linked, never written)
    assert _rows(run1) == [(0, "A", 2), (1, "A", 2), (2, "B", 1), (3, "C", 1)]


def test_an_incomplete_log_or_run_is_refused(tmp_path: Path) -> None:
    run1 = _run(tmp_path / "run1", {"records": BASE})
    run2 = _step(run1, tmp_path / "run2", BASE.slice(0, 0), {"record_id": [0]})
    (run2 / "records__del_0001.parquet").unlink()
    with pytest.raises(ValueError, match="parts of table records are incomplete"):
        read_run_table(run2, "records")
    with pytest.raises(LinkageError, match="not a complete run folder"):
        compact_run(run2)


def test_a_run_that_changes_nothing_adds_no_part(tmp_path: Path) -> None:
    run1 = _run(tmp_path / "run1", {"records": BASE})
    run2 = _step(run1, tmp_path / "run2", BASE.slice(0, 0), {"record_id": []})
    assert [p.name for p in run2.glob("*.parquet")] == ["records.parquet"]
    run3 = _step(run2, tmp_path / "run3", pa.table({"record_id": [9], "entity_id": ["N"],
                                                    "cluster_size": [1]}), {"record_id": []})
    run4 = _step(run3, tmp_path / "run4", BASE.slice(0, 0), {"record_id": []})
    assert sorted(p.name for p in run4.glob("*.parquet")) == [
        "records__add_0001.parquet", "records__base.parquet", "records__del_0001.parquet"]
    assert _rows(run4) == _rows(run3) == [*_rows(run1), (9, "N", 1)]
    assert (run4 / "records__add_0001.parquet").stat().st_ino == \
        (run3 / "records__add_0001.parquet").stat().st_ino


def test_a_run_folder_may_be_named_by_a_string(tmp_path: Path) -> None:
    run = _run(tmp_path / "run1", {"records": BASE})
    assert read_run_table(str(run), "records", columns=["entity_id"]).column(
        "entity_id").to_pylist() == ["A", "A", "B", "C"]
    assert has_run_table(str(run), "records") and run_table_names(str(run)) == ["records"]
