"""Incremental runs on the hand-checked tiny run ({H001,S01} {H002,T1} {H003,S02}
{H004,S03,T3} {H005,T2} {S04}): a household delta adds, changes and deletes records."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from nightly_delta import HOUSEHOLD_HEADER, nightly_household

from linkage.config import load_pipeline
from linkage.errors import ConfigError
from linkage.io.outputs import is_complete_run, write_outputs
from linkage.io.run_tables import log_table, read_run_table
from linkage.pipeline import Pipeline
from linkage.service import Resolver
from linkage.service.incremental import read_with_deltas, run_incremental

HEADER = HOUSEHOLD_HEADER
DELTA = [
    # a new version of H002: another phone
    ["H002", "李娜", "440524188001010014", "1880-01-01", "13911110000",
     "广东省汕头市潮阳区棉城镇1号", "2025-01-01", ""],
    # a new household record of the person S04 is
    ["H006", "刘洋", "510107199207173314", "1992-07-17", "13455556666",
     "四川省成都市武侯区人民南路5号", "2025-01-01", ""],
    # somebody nobody knew
    ["H007", "孙丽", "330106198808080026", "1988-08-08", "13566667777",
     "浙江省杭州市西湖区文三路7号", "2025-01-01", ""],
    # H005 leaves the household registry
    ["H005", "", "", "", "", "", "2025-01-01", "1"],
]


def _entities(run: Path) -> dict[str, str]:
    rows = read_run_table(run, "records", columns=["source_key", "entity_id"])
    return dict(zip(rows["source_key"].to_pylist(), rows["entity_id"].to_pylist(),
                    strict=True))


def _groups(entities: dict[str, str]) -> set[frozenset[str]]:
    out: dict[str, set[str]] = {}
    for key, entity in entities.items():
        out.setdefault(entity, set()).add(key)
    return {frozenset(g) for g in out.values()}


def _with_delta(tiny_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_run.parent / "tiny", folder)
    nightly_household(folder, DELTA)
    return folder


def test_a_delta_adds_changes_and_deletes(tiny_run: Path, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    before = _entities(tiny_run)
    with caplog.at_level("INFO", logger="linkage.service.incremental_tables"):
        done = run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2")
    # the run's writers take the changes: no complete table of the master was built
    assert not [r for r in caplog.records if "built when read" in r.getMessage()]
    assert done.counts["person"] == {"batch": 4, "new": 2, "changed": 1, "deleted": 1,
                                     "unchanged": 0, "superseded_in_batch": 0}
    # where the writing went, part by part; the run's time counts the steps once each
    assert {"write.tables", "write.report", "write.worklists", "write.index"} <= \
        set(done.timings)
    assert done.seconds == pytest.approx(sum(done.timings[k] for k in (
        "read", "person.total", "reports", "write")))
    after = _entities(tmp_path / "run2")
    assert sorted(after) == sorted({*before, "H006", "H007"} - {"H005"})
    # untouched entities, and the touched ones that keep most records, keep their ids
    for key in ("H001", "S01", "H003", "S02", "H004", "S03", "T3", "H002", "T1", "T2", "S04"):
        assert after[key] == before[key], key
    assert after["H006"] == before["S04"]  # joined the person it is
    assert after["H007"] not in before.values()  # a fresh id
    records = read_run_table(tmp_path / "run2", "records").to_pylist()
    h002 = next(r for r in records if r["source_key"] == "H002")
    assert h002["phone"] == "13911110000" and h002["record_id"] > 11  # the new version
    changes = read_run_table(tmp_path / "run2", "entity_changes").to_pylist()
    assert [(c["change"], c["new_ids"]) for c in changes] == [("new", [after["H007"]])]
    golden = read_run_table(tmp_path / "run2", "golden_person").to_pylist()
    assert {g["entity_id"] for g in golden} == set(after.values())
    assert next(g for g in golden if g["entity_id"] == after["H002"])["phone"] == \
        "13911110000"  # the golden record follows the newer value
    assert (tmp_path / "run2" / "run.json").is_file()
    # the new run folder is a master in its own right
    hit = Resolver.open(tmp_path / "run2").resolve({"name": "孙丽",
                                                    "id_number": "330106198808080026"})
    assert hit["entity_id"] == after["H007"]


def test_incremental_agrees_with_a_full_run_on_the_union(tiny_run: Path,
                                                         tmp_path: Path) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "inc")
    # a full run of the nightly pipeline itself (base and delta sources) reads the delta
    # rows as new versions and retirements: the same records, linked alike
    result = Pipeline.from_toml(folder / "nightly.toml").run(
        read_with_deltas(load_pipeline(folder / "nightly.toml")))
    nightly = dict(zip(result.records["source_key"].to_pylist(),
                       result.records["entity_id"].to_pylist(), strict=True))
    h002 = result.records.filter(pc.equal(result.records["source_key"], "H002"))
    assert h002["phone"].to_pylist() == ["13911110000"]
    with (folder / "household.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    delta = {r[0]: r[:7] for r in DELTA}
    union = [rows[0]] + [delta.pop(r[0], r) for r in rows[1:] if r[0] != "H005"]
    union += [r for k, r in delta.items() if k != "H005"]
    with (folder / "household.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(union)
    write_outputs(Pipeline.from_toml(folder / "pipeline.toml").run(), tmp_path / "full")
    inc, full = _entities(tmp_path / "inc"), _entities(tmp_path / "full")
    assert sorted(inc) == sorted(full) == sorted(nightly)
    assert _groups(inc) == _groups(full)
    assert _groups(nightly) == _groups(full)


def test_a_changed_model_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    spec = (folder / "nightly.toml").read_text(encoding="utf-8")
    (folder / "nightly.toml").write_text(spec.replace("thresholds = [0.8]",
                                                      "thresholds = [0.7]"), encoding="utf-8")
    with pytest.raises(ConfigError, match="differ from the previous run's model"):
        run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2")


def test_the_command(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from linkage.cli import main

    folder = _with_delta(tiny_run, tmp_path)
    assert main(["run", str(folder / "nightly.toml"), "--incremental",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--incremental needs --previous" in capsys.readouterr().err
    assert main(["run", str(folder / "nightly.toml"), "--previous", str(tiny_run),
                 "--incremental", "--out", str(tmp_path / "run2")]) == 0
    assert "new 2, changed 1, deleted 1" in capsys.readouterr().out
    assert (tmp_path / "run2" / "index" / "manifest.json").is_file()


def test_the_index_compacted_is_the_index_built_afresh(tiny_run: Path, tmp_path: Path) -> None:
    from linkage.service.index_parts import compact_index
    from linkage.service.index_write import build_index

    folder = _with_delta(tiny_run, tmp_path)
    run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2")
    # the night's index: the master's files linked, the changes as a part
    assert (tmp_path / "run2" / "index" / "person" / "part_0001").is_dir()
    assert compact_index(tmp_path / "run2")
    shutil.copytree(tmp_path / "run2", tmp_path / "fresh")
    build_index(tmp_path / "fresh")
    merged_dir = tmp_path / "run2" / "index" / "person"
    fresh_dir = tmp_path / "fresh" / "index" / "person"
    for path in sorted(merged_dir.glob("*.arrow")):
        merged = _read_ipc(path)
        fresh = _read_ipc(fresh_dir / path.name)
        if path.name.startswith(("keys_", "members", "tf_")):
            assert merged.equals(fresh), path.name  # the same sorted hashes and ids
        else:  # (a run folder's clusters have fewer columns than the run's)
            shared = [c for c in merged.column_names if c in fresh.column_names]
            assert sorted(map(str, merged.select(shared).to_pylist())) == \
                sorted(map(str, fresh.select(shared).to_pylist())), path.name


def _read_ipc(path: Path) -> Any:
    import pyarrow.ipc as ipc

    with ipc.open_file(str(path)) as reader:
        return reader.read_all()


def test_a_second_source_of_a_department_must_say_it_is_a_delta(tiny_run: Path,
                                                                tmp_path: Path) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    assert sum(s.delta for s in load_pipeline(folder / "nightly.toml").sources) == 1
    spec = (folder / "nightly.toml").read_text(encoding="utf-8")
    (folder / "plain.toml").write_text(spec.replace("delta = true\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="mark a batch of new versions of its records "
                                          "delta = true"):
        load_pipeline(folder / "plain.toml")


def test_department_quality_is_updated_to_what_scoring_everything_gives(
        tiny_run: Path, tmp_path: Path) -> None:
    from linkage.master.quality import source_quality

    folder = _with_delta(tiny_run, tmp_path)
    run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2")
    run2 = tmp_path / "run2"
    records = read_run_table(run2, "records")
    fields = list(load_pipeline(folder / "nightly.toml").entity("person").fields)  # type: ignore[union-attr]
    whole = source_quality(records, records.select(["record_id", "entity_id"]),
                           read_run_table(run2, "golden_person"), fields=fields)
    updated = read_run_table(run2, "quality")
    assert updated.num_rows == whole.num_rows > 0
    # H005 left the household registry; H006 and H007 joined it
    household = updated.filter(pc.and_(pc.equal(updated["source"], "household"),
                                       pc.equal(updated["field"], "*")))
    assert household["n_records"].to_pylist() == [6]
    for name in whole.column_names:
        got, want = updated[name].to_pylist(), whole[name].to_pylist()
        if name in ("consistency", "overall"):  # a sum of shares: updated, not summed anew
            assert got == pytest.approx(want, rel=1e-12, nan_ok=True), name
        else:
            assert got == want, name


def test_the_worklists_are_the_departments_own_files(tiny_run: Path, tmp_path: Path) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2")
    before = {p.name: p for p in (tiny_run / "worklists").iterdir()}
    after = {p.name: p for p in (tmp_path / "run2" / "worklists").iterdir()}
    # the household delta source shares household's worklist: no second sheet or CSV name
    assert sorted(after) == sorted(before)
    fresh = tmp_path / "fresh"
    from python_calamine import CalamineWorkbook

    from linkage.io.worklists import worklist_rows, write_worklists

    conflicts = read_run_table(tmp_path / "run2", "conflicts")
    sources = load_pipeline(folder / "nightly.toml").sources
    write_worklists(conflicts, sources, fresh)
    old_conflicts = read_run_table(tiny_run, "conflicts")
    changed = 0
    for name, path in after.items():
        if name.endswith(".csv"):
            # updated from the previous run's: the bytes a full write of the merged
            # conflicts gives
            assert path.read_bytes() == (fresh / "worklists" / name).read_bytes(), name
            continue
        # the workbook: the night's changes, the rows that came and went
        source = next(s for s in sources if s.department == path.stem and not s.delta)
        was = {tuple(r) for r in worklist_rows(old_conflicts, source)[1:]}
        now = {tuple(r) for r in worklist_rows(conflicts, source)[1:]}
        book = CalamineWorkbook.from_path(str(path))
        rows = [[str(c) for c in r] for r in book.get_sheet_by_name(
            book.sheet_names[0]).to_python()]
        assert book.sheet_names[0].endswith("本次变动")
        assert sorted(tuple(r) for r in rows[1:]) == sorted(
            [("新增", *r) for r in now - was] + [("无需再改", *r) for r in was - now]), name
        changed += len(rows) - 1
    assert changed  # the batch changed some department's list


# --- the run folder as a log on the previous run's files ------------------------------

LOGS = ("records", "pairs", "golden_person", "conflicts")


def _tables(run: Path) -> dict[str, list[str]]:
    out = {}
    for name in (*LOGS, "quality"):
        table = read_run_table(run, name)
        out[name] = sorted(map(str, table.select(sorted(table.column_names)).to_pylist()))
    return out


def test_two_nights_then_compaction(tiny_run: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    report_counts_are_whole: Any) -> None:
    folder = _with_delta(tiny_run, tmp_path)
    run2, run3 = tmp_path / "run2", tmp_path / "run3"
    run_incremental(folder / "nightly.toml", tiny_run, run2)
    for name in LOGS:  # the master's own file is the base, linked, not rewritten
        log = log_table(run2, name)
        assert log is not None and len(log.adds) == 1, name
        assert log.base.stat().st_ino == (tiny_run / f"{name}.parquet").stat().st_ino
    assert is_complete_run(run2)
    night2 = _entities(run2)
    # the second night: H007 (new last night) leaves, H006 moves house
    with (folder / "household_delta.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, [
            "H006", "刘洋", "510107199207173314", "1992-07-17", "13455556666",
            "四川省成都市锦江区春熙路9号", "2025-02-01", ""],
            ["H007", "", "", "", "", "", "2025-02-01", "1"]])
    done = run_incremental(folder / "nightly.toml", run2, run3)
    assert done.counts["person"]["changed"] == 1 and done.counts["person"]["deleted"] == 1
    for night in (run2, run3):  # the report's counts updated twice: the whole tables'
        report_counts_are_whole(night)
    night3 = _entities(run3)
    assert sorted(night3) == sorted(set(night2) - {"H007"})
    assert all(night3[k] == night2[k] for k in night3)  # nobody else moved
    records = read_run_table(run3, "records")
    h006 = [r for r in records.to_pylist() if r["source_key"] == "H006"]
    assert [r["address"] for r in h006] == ["四川省成都市锦江区春熙路9号"]
    for name in LOGS:  # last night's parts are linked, tonight's added
        log = log_table(run3, name)
        assert log is not None and len(log.adds) == 2, name
        assert log.adds[0].stat().st_ino == (run2 / log.adds[0].name).stat().st_ino
    golden = read_run_table(run3, "golden_person")
    assert sorted(golden["entity_id"].to_pylist()) == sorted(set(night3.values()))
    before = _tables(run3)
    assert len(list((run3 / "index" / "person").glob("part_*"))) == 2  # the index's log
    hit = Resolver.open(run3).resolve({"name": "刘洋", "id_number": "510107199207173314"})
    assert hit["entity_id"] == night3["H006"]
    from linkage.cli import main

    # the CLI's readers take the log too: the pair H006 (moved tonight) and S04
    capsys.readouterr()
    assert main(["explain", str(run3), "--left", "household:H006", "--right",
                 "social_security:S04"]) == 0
    assert "household:H006 vs social_security:S04" in capsys.readouterr().out
    assert main(["compact", str(run3)]) == 0
    assert "index" in capsys.readouterr().out.split("compacted", 1)[1]
    assert not list((run3 / "index" / "person").glob("part_*"))
    for name in LOGS:
        assert (run3 / f"{name}.parquet").is_file() and log_table(run3, name) is None
    assert _tables(run3) == before
    assert is_complete_run(run3)
    # the worklists' workbooks are complete again: a full write's bytes
    from linkage.io.worklists import write_worklists

    write_worklists(read_run_table(run3, "conflicts"), load_pipeline(
        folder / "nightly.toml").sources, tmp_path / "fresh")
    for book in (tmp_path / "fresh" / "worklists").glob("*.xlsx"):
        assert (run3 / "worklists" / book.name).read_bytes() == book.read_bytes(), book.name
    assert Resolver.open(run3).resolve({"name": "刘洋", "id_number": "510107199207173314"}
                                       )["entity_id"] == night3["H006"]
    # the nights before keep their own view
    assert _entities(run2) == night2
    # and a compacted run is a master the next night starts from like any other
    run_incremental(folder / "nightly.toml", run3, tmp_path / "run4")
    assert _entities(tmp_path / "run4") == night3


def test_the_carried_over_rows_are_the_master_without_the_retired_ones() -> None:
    import numpy as np
    import pyarrow as pa

    from linkage.service.incremental_tables import without

    table = pa.table({"a": list(range(200)), "b": [str(i) for i in range(200)]})
    # a few rows: zero-copy slices between them; many: one filter
    for rows in ([0, 5, 6, 199], list(range(0, 200, 2)), [], [7]):
        got = without(table, np.array(rows, dtype=np.int64))
        assert got.column("a").to_pylist() == [i for i in range(200) if i not in rows]
        assert got.column("b").to_pylist() == [str(i) for i in range(200) if i not in rows]


def test_a_previous_run_without_report_counts_has_them_counted_once(
        tiny_run: Path, tmp_path: Path, report_counts_are_whole: Any) -> None:
    from linkage.io.report_counts import COUNTS_FILE, TOP_FILE

    folder = _with_delta(tiny_run, tmp_path)
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    (old / COUNTS_FILE).unlink()  # a run folder written before the counts were kept
    (old / TOP_FILE).unlink()
    run_incremental(folder / "nightly.toml", old, tmp_path / "run2")
    report_counts_are_whole(tmp_path / "run2")
    run_incremental(folder / "nightly.toml", tiny_run, tmp_path / "run2b")
    assert (tmp_path / "run2" / COUNTS_FILE).read_bytes() == \
        (tmp_path / "run2b" / COUNTS_FILE).read_bytes()


def test_kept_top_conflicts_too_few_after_a_night_are_ranked_from_the_whole_table(
        tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        report_counts_are_whole: Any) -> None:
    from linkage.io.outputs import write_counts
    from linkage.io.report_counts import ReportCounts, read_counts
    from linkage.service import incremental_report

    folder = _with_delta(tiny_run, tmp_path)
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    kept = read_counts(old)
    assert kept is not None and kept.top.num_rows > 1
    # the previous run kept one row of many: not enough for the page after any night
    write_counts(ReportCounts(kept.types, kept.top.slice(0, 1), False), old)
    asked: list[str] = []

    def reading(run: Path, name: str, **kw: Any) -> Any:
        asked.append(name)
        return read_run_table(run, name, **kw)

    monkeypatch.setattr(incremental_report, "read_run_table", reading)
    run_incremental(folder / "nightly.toml", old, tmp_path / "run2")
    assert asked == ["conflicts"]
    report_counts_are_whole(tmp_path / "run2")
