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


# --- hardening (issue 12): nothing lost, nothing merged -------------------------------------


def valid_id(region: int, birth: str, seq: int) -> str:
    """An 18-character ID number with its true check character."""
    body = f"{region:06d}{birth}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def test_blank_duplicate_and_absent_keys_get_keys_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名,身份证号\n,张伟,a\n  ,李娜,b\nK,王芳,c\nK,赵六,d\nL,钱七,e\n",
                    encoding="utf-8")
    table = read_source(_source(path))
    assert table.column("source_key").to_pylist() == [
        "<s.csv row 1>", "<s.csv row 2>", "<s.csv row 3>", "<s.csv row 4>", "L"]
    assert table.column("source_key__given").to_pylist() == ["", "  ", "K", "K", None]
    assert table.column("flags").to_pylist() == [
        ["source_key:missing"], ["source_key:missing"], ["source_key:duplicate"],
        ["source_key:duplicate"], []]
    # the same file gives the same keys (ids stay stable across runs)
    assert read_source(_source(path)).column("source_key").equals(table.column("source_key"))
    # a source without a key: every row keyed by its file and row, nothing flagged
    no_key = read_source(_source(path, key=None))
    assert no_key.column("source_key").to_pylist() == [f"<s.csv row {i}>" for i in range(1, 6)]
    assert no_key.column("flags").to_pylist() == [[]] * 5


def test_a_real_key_that_reads_like_a_derived_one_does_not_collide(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名,身份证号\n,a,x\n<s.csv row 1>,b,y\n", encoding="utf-8")
    keys = read_source(_source(path)).column("source_key").to_pylist()
    assert len(set(keys)) == 2


def test_stray_quotes_that_pair_up_across_rows_lose_no_row(tmp_path: Path) -> None:
    # four stray quotes at the start of a name: quotes 1-2 and 3-4 pair up and a CSV
    # reader makes one cell of the 45 rows between each pair
    lines = ["编号,姓名,身份证号"] + [f"{i},张{i},x{i}" for i in range(1, 201)]
    for i in (5, 50, 100, 150):
        lines[i] = f'{i},"张{i},x{i}'
    path = tmp_path / "s.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_source(_source(path))
    rows = {r["source_row"]: r for r in table.to_pylist()}
    assert sorted(rows) == list(range(1, 201))
    broken = sorted(r for r, v in rows.items() if v["flags"])
    assert broken == [5, 50, 100, 150]
    assert rows[6]["name"] == "张6" and rows[149]["id_number"] == "x149"
    # a quoted value that really spans lines (an address on two lines) is still one value
    path.write_text('编号,姓名,身份证号\n1,"张\n伟",x\n2,李娜,y\n', encoding="utf-8")
    assert read_source(_source(path)).column("name").to_pylist() == ["张\n伟", "李娜"]


def test_cr_only_line_ends_are_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("编号,姓名,身份证号\r1,张伟,x\r2,李娜,y\r".encode())
    table = read_source(_source(path))
    assert table.column("name").to_pylist() == ["张伟", "李娜"]


def test_huge_header_field_and_huge_cells(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("编号,姓名," + "h" * 200_000 + "\n1,a,b\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"row 0, field 'column 3'.*200,000 characters"):
        read_source(_source(path))
    path.write_text("编号,姓名,身份证号\n1," + "名" * (1 << 20) + ",x\n2,李娜,y\n",
                    encoding="utf-8")
    table = read_source(_source(path))
    assert table.column("name").to_pylist() == [None, "李娜"]
    assert table.column("flags").to_pylist()[0] == [
        "name:too_long (over 1000 characters; set aside)"]


def test_wide_header_is_checked_in_linear_time(tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(100_000)] + ["c5"]
    path = tmp_path / "s.csv"
    path.write_text(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"duplicate column name\(s\) \['c5'\]"):
        read_source(_source(path))


def test_parquet_nested_and_binary_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"编号": ["1", "2"], "姓名": [["a"], ["b"]], "身份证号": ["x", "y"]}),
                   path)
    with pytest.raises(SourceError, match=r"row 1, field '姓名'.*list<"):
        read_source(_source(path))
    pq.write_table(pa.table({"编号": ["1", "2"], "姓名": pa.array([b"ok", b"\xff\xfe"]),
                             "身份证号": ["x", "y"], "other": [{"a": 1}, {"a": 2}]}), path)
    with pytest.raises(SourceError, match=r"row 2, field '姓名'.*not UTF-8"):
        read_source(_source(path))
    # an unmapped nested column is no obstacle
    pq.write_table(pa.table({"编号": ["1"], "姓名": ["a"], "身份证号": ["x"],
                             "tags": [[1, 2]]}), path)
    assert read_source(_source(path)).column("name").to_pylist() == ["a"]


def test_ids_that_went_through_a_float_are_flagged_unreliable(tmp_path: Path) -> None:
    ids = [i for k in range(1, 20) if (i := valid_id(110105, "19491231", k))[-1] != "X"][:3]
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"编号": ["1", "2", "3", "4"],
                             "姓名": ["a", "b", "c", "d"],
                             "身份证号": [float(i) for i in ids] + [110105.0]}), path)
    table = read_source(_source(path))
    assert table.column("id_number__unreliable").to_pylist() == [True, True, True, False]
    assert all(f[0].startswith("id_number:from_float") for f in table.column("flags")
               .to_pylist()[:3])


def test_xlsx_ids_stored_as_numbers_are_flagged(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "s.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "姓名", "身份证号"])
    the_id = next(i for k in range(1, 20)
                  if (i := valid_id(110105, "19491231", k))[-1] != "X")
    sheet.append(["1", "张伟", int(the_id)])
    sheet.append(["2", "李娜", the_id])
    book.save(path)
    table = read_source(_source(path))
    assert table.column("id_number__unreliable").to_pylist() == [True, False]


def test_xlsx_hidden_first_sheet_is_skipped_and_duplicate_header_refused(
    tmp_path: Path,
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "s.xlsx"
    book = openpyxl.Workbook()
    hidden = book.active
    hidden.title = "old"
    hidden.append(["编号", "姓名", "身份证号"])
    hidden.append(["9", "旧表", "x"])
    hidden.sheet_state = "hidden"
    shown = book.create_sheet("data")
    shown.append(["编号", "姓名", "身份证号"])
    shown.append(["1", "张伟", "y"])
    book.save(path)
    assert read_source(_source(path)).column("name").to_pylist() == ["张伟"]
    assert read_source(_source(path, sheet="old")).column("name").to_pylist() == ["旧表"]
    book = openpyxl.Workbook()
    book.active.append(["编号", "姓名", "身份证号", "姓名"])
    book.active.append(["1", "a", "x", "b"])
    book.save(path)
    with pytest.raises(SourceError, match=r"row 0, field '姓名'.*duplicate column"):
        read_source(_source(path))


def test_xlsx_with_a_cell_far_away_is_refused_not_allocated(tmp_path: Path) -> None:
    # run in a child process: today's reader aborts the whole process on this 6 KB file
    import subprocess
    import sys

    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "s.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["编号", "姓名", "身份证号"])
    book.active.append(["1", "a", "x"])
    book.active["XFD1048576"] = "stray"
    book.save(path)
    code = ("import sys; from pathlib import Path; from linkage.config import SourceConfig\n"
            "from linkage.io.sources import read_source\nfrom linkage.errors import SourceError\n"
            f"s = SourceConfig(department='tax', entity_type='person', path=Path({str(path)!r}),"
            " key='编号', columns={'name': '姓名'})\n"
            "try:\n    read_source(s)\nexcept SourceError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "row 1048576, field 'column XFD'" in done.stdout


def test_sqlite_guards_refuse_every_write_and_create_no_file(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "dept.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode = WAL")  # a read would create -wal and -shm files
        con.execute("CREATE TABLE people (编号, 姓名, 身份证号)")
        con.execute("INSERT INTO people VALUES ('1', '张伟', 'x')")
    con.close()
    before = path.read_bytes()
    for query in ("VACUUM INTO 'copy.sqlite'", "ATTACH 'other.sqlite' AS o",
                  "SELECT * FROM people; SELECT 1", "PRAGMA table_info(people)",
                  "INSERT INTO people VALUES ('2', 'a', 'b')", "SELECT load_extension('x')"):
        with pytest.raises(SourceError, match=r"field 'query'"):
            read_source(_source(path, query=query))
    assert read_source(_source(path, query="SELECT * FROM people")).num_rows == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dept.sqlite"]
    assert path.read_bytes() == before


def test_duckdb_guards_refuse_every_write_and_outside_read(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "dept.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people (编号 VARCHAR, 姓名 VARCHAR, 身份证号 VARCHAR)")
        con.execute("INSERT INTO people VALUES ('1', '张伟', 'x')")
    outside = tmp_path / "outside.csv"
    outside.write_text("编号,姓名,身份证号\n1,a,b\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    for query in (f"COPY people TO '{tmp_path / 'x.csv'}'; SELECT * FROM people",
                  f"SELECT * FROM read_csv('{outside}')", "EXPORT DATABASE 'exp'",
                  "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1",
                  f"ATTACH '{tmp_path / 'o.duckdb'}' AS o"):
        with pytest.raises(SourceError, match=r"source 'tax/person'"):
            read_source(_source(path, query=query))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
