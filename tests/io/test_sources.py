"""Reading departmental files: encodings, formats, column mapping, and nothing lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.config import SourceConfig
from linkage.errors import SourceError
from linkage.io.sources import read_records, read_source

COLUMNS = {"name": "姓名", "id_number": "身份证号"}


def _source(path: Path, **kw: object) -> SourceConfig:
    base: dict[str, object] = {
        "department": "tax", "entity_type": "person", "path": path, "key": "编号",
        "columns": COLUMNS,
    }
    base.update(kw)
    return SourceConfig(**base)  # type: ignore[arg-type]


def test_gb18030_csv_is_decoded_and_mapped(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("编号,姓名,身份证号\n1,张伟,0011\n2,李娜,\n".encode("gb18030"))
    table = read_source(_source(path, encoding="gb18030"), first_record_id=10)
    assert table.column("record_id").to_pylist() == [10, 11]
    assert table.column("name").to_pylist() == ["张伟", "李娜"]
    # Leading zeros survive: every cell is read as text.
    assert table.column("id_number").to_pylist() == ["0011", ""]
    assert table.column("source").to_pylist() == ["tax", "tax"]
    assert table.column("source_row").to_pylist() == [1, 2]


def test_utf8_bom_is_tolerated_even_when_declared_plain_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("编号,姓名,身份证号\n1,张伟,x\n".encode("utf-8-sig"))
    table = read_source(_source(path, encoding="utf-8"))
    assert table.column("source_key").to_pylist() == ["1"]


def test_undecodable_file_names_source_row_and_suggests_encoding(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("编号,姓名,身份证号\n1,a,b\n".encode() + "2,张伟,c\n".encode("gb18030"))
    with pytest.raises(SourceError) as info:
        read_source(_source(path, encoding="utf-8"))
    message = str(info.value)
    assert "source 'tax/person'" in message
    assert "row 2" in message
    assert "gb18030" in message


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        read_source(_source(tmp_path / "nope.csv"))


def test_absent_mapped_column_lists_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,名字,身份证号\n1,张伟,x\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        read_source(_source(path))
    message = str(info.value)
    assert "'姓名'" in message and "'名字'" in message and "columns.name" in message


def test_malformed_rows_and_duplicate_keys_are_flagged_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名,身份证号\n1,张伟,x\n2,李娜\n1,王芳,y\n3,a,b,c\n",
                    encoding="utf-8")
    table = read_source(_source(path))
    rows = {r["source_row"]: r for r in table.to_pylist()}
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[1]["flags"] == ["source_key:duplicate"]
    assert rows[3]["flags"] == ["source_key:duplicate"]
    assert rows[2]["flags"] == ["row:malformed (expected 3 fields, got 2)"]
    assert rows[2]["name"] is None
    assert rows[4]["flags"] == ["row:malformed (expected 3 fields, got 4)"]
    assert table.column("record_id").to_pylist() == [0, 1, 2, 3]


def test_rows_swallowed_by_an_open_quote_are_given_back(tmp_path: Path) -> None:
    # row 2 opens a quote it never closes: a CSV reader runs it on to the next quote, so
    # rows 3 and 4 would vanish inside one malformed row; each joined line is re-split
    path = tmp_path / "s.csv"
    path.write_text('编号,姓名,身份证号\n1,张伟,x\n2,"李娜,y\n3,王芳,z\n4,赵六,"w\n5,钱七,v\n',
                    encoding="utf-8")
    table = read_source(_source(path))
    rows = {r["source_row"]: r for r in table.to_pylist()}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert [rows[r]["name"] for r in (1, 3, 4, 5)] == ["张伟", "王芳", "赵六", "钱七"]
    assert rows[4]["id_number"] == "w"  # a quote opened on a line runs to its end
    assert rows[2]["flags"] == ["row:malformed (expected 3 fields, got 2; a quote left open "
                                "joined the lines after it)"]
    recovered = ["row:recovered (an open quote had joined it to the row before; re-split by "
                 "line)"]
    assert rows[3]["flags"] == rows[4]["flags"] == recovered
    assert rows[1]["flags"] == rows[5]["flags"] == []


def test_update_time_parsed_with_snapshot_fallback_and_bad_dates_flagged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名,身份证号,更新\n1,a,x,2024年5月1日\n2,b,y,\n3,c,z,someday\n",
                    encoding="utf-8")
    table = read_source(_source(path, updated_at="更新", snapshot_date="2024-06-30"))
    assert table.column("updated_at").to_pylist() == [
        dt.date(2024, 5, 1), dt.date(2024, 6, 30), dt.date(2024, 6, 30)]
    assert table.column("flags").to_pylist() == [[], [], ["updated_at:bad_date"]]


def test_implausible_update_times_are_flagged_and_replaced(tmp_path: Path) -> None:
    # 1850 is a typo (2999 is not even read as a date), and a record cannot have been
    # updated after its export (the snapshot date itself is fine); "most recent" must not
    # trust any of them
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名,身份证号,更新\n1,a,x,1850-01-01\n2,b,y,2999-12-31\n"
                    "3,c,z,2024-07-01\n4,d,w,2024-06-30\n5,e,v,1900-01-01\n",
                    encoding="utf-8")
    table = read_source(_source(path, updated_at="更新", snapshot_date="2024-06-30"))
    snapshot = dt.date(2024, 6, 30)
    assert table.column("updated_at").to_pylist() == [
        snapshot, snapshot, snapshot, snapshot, dt.date(1900, 1, 1)]
    flag, unread = ["updated_at:implausible"], ["updated_at:bad_date"]
    assert table.column("flags").to_pylist() == [flag, unread, flag, [], []]
    # without a snapshot date only the fixed bounds apply, and the time becomes unknown
    table = read_source(_source(path, updated_at="更新"))
    assert table.column("updated_at").to_pylist() == [
        None, None, dt.date(2024, 7, 1), snapshot, dt.date(1900, 1, 1)]
    assert table.column("flags").to_pylist() == [flag, unread, [], [], []]


def test_parquet_numbers_become_text_without_decimal_point(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"编号": [1, 2], "姓名": ["张伟", None],
                             "身份证号": [110105.0, 2.5]}), path)
    table = read_source(_source(path))
    assert table.column("source_key").to_pylist() == ["1", "2"]
    assert table.column("id_number").to_pylist() == ["110105", "2.5"]
    assert table.column("name").to_pylist() == ["张伟", None]


def test_xlsx_is_read_as_text(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "s.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "姓名", "身份证号"])
    sheet.append(["A1", "张伟", "11010519491231002X"])
    sheet.append([2, "李娜", 1101960123])  # a number cell: read back without ".0"
    book.save(path)
    table = read_source(_source(path))
    assert table.column("source_key").to_pylist() == ["A1", "2"]
    assert table.column("id_number").to_pylist() == ["11010519491231002X", "1101960123"]


def test_read_records_from_memory() -> None:
    data = pa.table({"k": ["a", "b"], "n": ["张伟", "李娜"]})
    table = read_records(data, department="courts", entity_type="person", key="k",
                         columns={"name": "n"})
    assert table.column("source").to_pylist() == ["courts", "courts"]
    assert table.column("name").to_pylist() == ["张伟", "李娜"]



def test_sqlite_query_is_read_as_text_without_touching_the_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "dept.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE people (编号 INTEGER, 姓名 TEXT, 身份证号, 在册 INTEGER)")
        # SQLite lets one column hold numbers and text; a whole float keeps no ".0"
        con.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", [
            (1, "张伟", "11010519491231002X", 1), (2, "李娜", 110105.0, 1),
            (3, None, None, 0), (2, "王芳", "x", 1)])
    before = path.read_bytes()
    table = read_source(_source(
        path, query="SELECT 编号, 姓名, 身份证号 FROM people WHERE 在册 = 1 ORDER BY 编号"))
    # a duplicated key ties nothing together: each row gets its own
    assert table.column("source_key").to_pylist() == [
        "1", "<dept.sqlite row 2>", "<dept.sqlite row 3>"]
    assert table.column("source_key__given").to_pylist() == [None, "2", "2"]
    assert table.column("name").to_pylist() == ["张伟", "李娜", "王芳"]
    assert table.column("id_number").to_pylist() == ["11010519491231002X", "110105", "x"]
    assert table.column("source_row").to_pylist() == [1, 2, 3]
    assert table.column("flags").to_pylist() == [
        [], ["source_key:duplicate"], ["source_key:duplicate"]]
    assert path.read_bytes() == before  # opened read-only
    with pytest.raises(SourceError, match=r"tax/person.*no such table"):
        read_source(_source(path, query="SELECT * FROM nobody"))
    with pytest.raises(SourceError, match=r"mapped column\(s\) not in the file.*姓名"):
        read_source(_source(path, query="SELECT 编号, 身份证号 FROM people"))


def test_duckdb_query_is_read_as_text(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "dept.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people (编号 INTEGER, 姓名 VARCHAR, 身份证号 VARCHAR, "
                    "更新 DATE)")
        con.execute("INSERT INTO people VALUES (1, '张伟', '0011', DATE '2024-05-01'), "
                    "(2, NULL, NULL, NULL)")
    table = read_source(_source(path, query="SELECT * FROM people ORDER BY 编号",
                                updated_at="更新"))
    assert table.column("source_key").to_pylist() == ["1", "2"]
    assert table.column("id_number").to_pylist() == ["0011", None]
    assert table.column("updated_at").to_pylist() == [dt.date(2024, 5, 1), None]


def test_database_sources_need_a_query_and_files_refuse_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a query"):
        _source(tmp_path / "d.sqlite")
    with pytest.raises(ValueError, match="query is for database sources"):
        _source(tmp_path / "d.csv", query="SELECT 1")
