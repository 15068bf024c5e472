"""Correction worklists: each department's values to correct, in its own names and encoding."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.config import SourceConfig
from linkage.io import worklists
from linkage.io.worklists import worklist_rows, write_worklists
from linkage.master.conflicts import find_conflicts
from linkage.master.golden import SurvivorshipConfig, build_golden

D = dt.date
PHONE = "13800138000"


def _run() -> tuple[pa.Table, list[SourceConfig]]:
    rows = [  # source, key, name, phone, phone raw, updated
        ("household", "HJ1", "王涛", PHONE, PHONE, D(2020, 1, 1)),
        ("social_security", "SB1", "王涛", PHONE, "138-0013-8000", D(2021, 1, 1)),
        ("tax", "SW1", "王滔", "13800183000", "+86 13800183000", D(2023, 1, 1)),
        ("tax", "SW2", "李娜", None, "", D(2023, 1, 1)),
        ("household", "HJ2", "李娜", "13900000000", "13900000000", D(2020, 1, 1)),
        ("courts", "FY1", "李娜", None, None, D(2022, 1, 1)),  # courts keep no phone
    ]
    n = len(rows)
    records = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": [r[0] for r in rows],
        "source_key": [r[1] for r in rows],
        "entity_type": ["person"] * n,
        "updated_at": pa.array([r[5] for r in rows], pa.date32()),
        "name": [r[2] for r in rows],
        "name__raw": [r[2] for r in rows],
        "name__status": ["ok"] * n,
        "phone": pa.array([r[3] for r in rows], pa.string()),
        "phone__raw": pa.array([r[4] for r in rows], pa.string()),
        "phone__status": ["ok" if r[3] else "missing" for r in rows],
    })
    clusters = pa.table({"record_id": pa.array(range(n), pa.int64()),
                         "entity_type": ["person"] * n,
                         "entity_id": ["P1", "P1", "P1", "P2", "P2", "P2"]})
    fields = ["name", "phone"]
    trust = {s: dict.fromkeys(fields, 0.5) for s in ("household", "social_security", "tax",
                                                      "courts")}
    golden = build_golden(records, clusters, fields=fields, trust=trust,
                          survivorship=SurvivorshipConfig(typo_fields=("phone",)))
    conflicts = find_conflicts(records, clusters, golden, fields=fields)
    tax = SourceConfig(department="tax", entity_type="person", path=Path("tax.csv"),
                       key="纳税人编号", columns={"name": "纳税人姓名", "phone": "联系方式"},
                       encoding="gb18030")
    courts = SourceConfig(department="courts", entity_type="person", path=Path("c.csv"),
                          key="当事人编号", columns={"name": "当事人姓名"})
    household = SourceConfig(department="household", entity_type="person", path=Path("h.csv"),
                             key="记录号", columns={"name": "姓名", "phone": "联系电话"})
    return conflicts, [tax, courts, household]


def test_a_department_sees_its_own_keys_columns_and_masked_values() -> None:
    conflicts, (tax, courts, household) = _run()
    rows = worklist_rows(conflicts, tax)
    assert rows[0] == ["纳税人编号", "字段", "本部门值", "标准值", "问题类型", "严重程度", "依据",
                       "实体编号"]
    body = sorted(tuple(r[:6]) for r in rows[1:])
    assert body == [
        ("SW1", "纳税人姓名", "王滔", "王涛", "同音或形近字", "中"),
        ("SW1", "联系方式", "+86**********00", "138******00", "录入错误", "中"),
        ("SW2", "联系方式", "", "139******00", "缺失", "低"),
    ]
    assert worklist_rows(conflicts, courts)[1:] == []  # no phone column: nothing missing
    assert worklist_rows(conflicts, household)[1:] == []  # its values are the golden ones


def test_files_are_written_per_department_in_its_encoding(tmp_path: Path) -> None:
    from python_calamine import CalamineWorkbook

    conflicts, sources = _run()
    written = write_worklists(conflicts, sources, tmp_path)
    folder = tmp_path / "worklists"
    assert sorted(p.name for p in folder.iterdir()) == [
        "courts.csv", "courts.xlsx", "household.csv", "household.xlsx", "tax.csv", "tax.xlsx"]
    text = (folder / "tax.csv").read_bytes().decode("gb18030")
    assert text.splitlines()[0] == "纳税人编号,字段,本部门值,标准值,问题类型,严重程度,依据,实体编号"
    assert "王滔" in text and PHONE not in text
    sheet = CalamineWorkbook.from_path(str(written["worklist_tax"])).get_sheet_by_name("人员")
    assert len(sheet.to_python()) == 4


def test_each_value_is_listed_once_under_what_its_own_department_did() -> None:
    from linkage.standardisers import standardise

    raw = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["household", "social_security", "tax"],
        "source_key": ["HJ1", "SB1", "SW1"],
        "entity_type": ["person"] * 3,
        "source_row": pa.array([1, 1, 1], pa.int64()),
        "updated_at": pa.array([D(2020, 1, 1), D(2021, 1, 1), D(2022, 1, 1)], pa.date32()),
        "name": ["朱婧晞", "朱婧希", "朱婧?"],  # the registry; a homophone; a stand-in
        "flags": pa.array([[]] * 3, pa.list_(pa.string())),
    })
    records = standardise(raw, {"name": "person_name"})
    clusters = pa.table({"record_id": pa.array(range(3), pa.int64()),
                         "entity_type": ["person"] * 3, "entity_id": ["P"] * 3})
    trust = {"household": {"name": 0.95}, "social_security": {"name": 0.8},
             "tax": {"name": 0.8}}
    golden = build_golden(records, clusters, fields=["name"], trust=trust,
                          survivorship=SurvivorshipConfig(default=("valid", "trust")))
    conflicts = find_conflicts(records, clusters, golden, fields=["name"])

    def rows(department: str) -> list[tuple[str, ...]]:
        source = SourceConfig(department=department, entity_type="person", path=Path("x.csv"),
                              key="编号", columns={"name": "姓名"})
        return [tuple(r[2:7]) for r in worklist_rows(conflicts, source)[1:]]

    assert rows("social_security") == [
        ("朱婧希", "朱婧晞", "同音或形近字", "中", "希/晞: same sound (xi/xi)")]
    assert len(rows("tax")) == 1 and rows("tax")[0][2] != "同音或形近字"
    assert rows("household") == []


def test_values_are_masked_as_the_report_masks_them() -> None:
    from linkage.io.worklists import _shown
    from linkage.privacy import mask

    values = [None, "", "1", "123456", "1234567", "11010519491231002X", "+86 138-0013-8000",
              "王涛", "广东省深圳市南山区"]
    shown = _shown(pa.array(values, pa.string()),
                   pa.array([True] * (len(values) - 1) + [False])).to_pylist()
    assert shown == ["" if v is None else mask(v) for v in values[:-1]] + [values[-1]]


def test_a_department_whose_worklist_is_unchanged_gets_the_previous_files(
        tmp_path: Path) -> None:
    import dataclasses

    import pyarrow.compute as pc

    conflicts, sources = _run()
    write_worklists(conflicts, sources, tmp_path / "before")
    before = tmp_path / "before" / "worklists"
    # the next run: tax's SW2 conflict is gone, the others' rows are as they were
    fewer = conflicts.filter(pc.invert(pc.equal(conflicts["entity_id"], "P2")))
    # a delta source of a department shares its base source's worklist
    delta = dataclasses.replace(sources[2], path=Path("h_delta.csv"), delta=True)
    write_worklists(fewer, [*sources, delta], tmp_path / "after", previous=tmp_path / "before")
    after = tmp_path / "after" / "worklists"
    assert sorted(p.name for p in after.iterdir()) == sorted(p.name for p in before.iterdir())
    fresh = tmp_path / "fresh"
    write_worklists(fewer, sources, fresh)
    for name in ("courts.xlsx", "household.xlsx", "tax.xlsx", "tax.csv", "household.csv"):
        # the same bytes a run without a previous one writes
        assert (after / name).read_bytes() == (fresh / "worklists" / name).read_bytes(), name
    same_inode = {p.name: (after / p.name).stat().st_ino == p.stat().st_ino
                  for p in before.glob("*.xlsx")}
    assert same_inode == {"courts.xlsx": True, "household.xlsx": True, "tax.xlsx": False}
    assert len((after / "tax.csv").read_bytes()) < len((before / "tax.csv").read_bytes())


def test_candidates_taken_a_slice_of_conflicts_at_a_time_give_the_same_worklists(
        monkeypatch: pytest.MonkeyPatch) -> None:
    conflicts, sources = _run()
    whole = [worklist_rows(conflicts, s) for s in sources]
    assert any(len(rows) > 1 for rows in whole)  # something to correct
    monkeypatch.setattr(worklists, "CONFLICT_SLICE", 1)
    assert [worklist_rows(conflicts, s) for s in sources] == whole
    empty = conflicts.slice(0, 0)
    assert [worklist_rows(empty, s) for s in sources] == [[r[0]] for r in whole]


def _sheet(path: Path, name: str) -> list[list[str]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return [[str(c) for c in row] for row in book.get_sheet_by_name(name).to_python()]


def test_an_incremental_run_updates_the_csvs_and_writes_the_nights_changes(
        tmp_path: Path) -> None:
    import pyarrow.compute as pc

    from linkage.io.worklists import complete_workbooks, write_worklist_changes

    conflicts, sources = _run()
    write_worklists(conflicts, sources, tmp_path / "before")
    # tonight both entities are touched: P1 comes back as P1b with its conflicts as they
    # were, P2's missing phone (tax's SW2) is no longer to correct
    p1 = conflicts.filter(pc.equal(conflicts["entity_id"], "P1"))
    now = p1.set_column(p1.column_names.index("entity_id"), "entity_id",
                        pa.array(["P1b"] * p1.num_rows))
    write_worklist_changes(tmp_path / "before", pa.array(["P1", "P2"]), now, sources,
                           tmp_path / "after")
    write_worklists(now, sources, tmp_path / "fresh")
    after, fresh = tmp_path / "after" / "worklists", tmp_path / "fresh" / "worklists"
    assert sorted(p.name for p in after.iterdir()) == sorted(p.name for p in fresh.iterdir())
    for name in ("tax.csv", "courts.csv", "household.csv"):
        # the same bytes a full write of the merged conflicts gives
        assert (after / name).read_bytes() == (fresh / name).read_bytes(), name
    before_tax, now_tax = worklist_rows(conflicts, sources[0]), worklist_rows(now, sources[0])
    assert [r[0] for r in before_tax[1:]] == ["SW1", "SW1", "SW2"]
    changes = _sheet(after / "tax.xlsx", "人员-本次变动")
    assert changes[0] == ["变动", *before_tax[0]]
    assert changes[1:] == [["新增", *r] for r in now_tax[1:]] + [
        ["无需再改", *r] for r in before_tax[1:]]
    assert [r[-1] for r in changes[1:]] == ["P1b", "P1b", "P1", "P1", "P2"]
    # a department with nothing to correct: an empty changes sheet
    assert _sheet(after / "courts.xlsx", "人员-本次变动")[1:] == []
    # compacting writes the complete workbooks again, from the CSVs
    out = tmp_path / "compact"
    (out / "worklists").mkdir(parents=True)
    written = complete_workbooks(tmp_path / "after", sources, out)
    assert sorted(p.name for p in written) == ["courts.xlsx", "household.xlsx", "tax.xlsx"]
    for path in written:
        assert path.read_bytes() == (fresh / path.name).read_bytes(), path.name


def test_without_a_previous_worklist_the_lists_are_written_whole(tmp_path: Path) -> None:
    import pyarrow.compute as pc

    from linkage.io.outputs import write_parquet
    from linkage.io.worklists import write_worklist_changes

    conflicts, sources = _run()
    (tmp_path / "before").mkdir()
    write_parquet(conflicts, tmp_path / "before" / "conflicts.parquet")
    p2 = pc.equal(conflicts["entity_id"], "P2")
    write_worklist_changes(tmp_path / "before", pa.array(["P2"]), conflicts.filter(p2),
                           sources, tmp_path / "after")
    write_worklists(conflicts, sources, tmp_path / "fresh")
    for path in (tmp_path / "fresh" / "worklists").iterdir():
        assert (tmp_path / "after" / "worklists" / path.name).read_bytes() == \
            path.read_bytes(), path.name


@pytest.mark.parametrize("where", ["kept", "new"])
def test_a_value_with_a_line_break_is_merged_as_a_full_write_gives(tmp_path: Path,
                                                                   where: str) -> None:
    import pyarrow.compute as pc

    from linkage.io.worklists import write_worklist_changes

    conflicts, sources = _run()

    def broken(table: pa.Table) -> pa.Table:  # keys with a line break in them
        rows = table.to_pylist()
        for row in rows:
            for candidate in row["candidates"]:
                candidate["source_key"] += "\r\n附"
        return pa.Table.from_pylist(rows, schema=table.schema)

    p1 = pc.equal(conflicts["entity_id"], "P1")
    p2 = conflicts.filter(pc.invert(p1))
    # tonight P1 is touched and comes back as P1b; P2 (SW2) is kept as it was
    now = conflicts.filter(p1)
    now = now.set_column(now.column_names.index("entity_id"), "entity_id",
                         pa.array(["P1b"] * now.num_rows))
    if where == "kept":
        p2 = broken(p2)
    else:
        now = broken(now)
    before = pa.concat_tables([conflicts.filter(p1), p2])
    write_worklists(before, sources, tmp_path / "before")
    write_worklist_changes(tmp_path / "before", pa.array(["P1"]), now, sources,
                           tmp_path / "after")
    write_worklists(pa.concat_tables([p2, now]), sources, tmp_path / "fresh")
    tax = (tmp_path / "after" / "worklists" / "tax.csv").read_bytes()
    assert "\r\n附".encode("gb18030") in tax  # a line break inside a value
    assert tax == (tmp_path / "fresh" / "worklists" / "tax.csv").read_bytes()
