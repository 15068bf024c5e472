"""A generated corpus of bad input: more than a hundred kinds, over every source format.

Each :class:`Case` writes one departmental source into a folder (beside a clean source
that is the same in every case) and says what a run must do with it: ``"flag"`` (exit 0,
every record kept, at least one flagged), ``"ok"`` (exit 0, every record kept),
``"error"`` (exit 2 with a message naming the source) or ``"either"``. Nothing is checked
in: every file is made here, from a fixed seed.
"""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

HEADER = ["编号", "姓名", "身份证号", "出生日期", "手机", "住址", "更新日期"]
COLUMNS = {"name": "姓名", "id_number": "身份证号", "birth_date": "出生日期",
           "phone": "手机", "address": "住址"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
ROADS = ["中山路", "解放路", "人民路", "建设路", "和平路"]


def id_number(region: int, birth: str, seq: int) -> str:
    """An 18-character ID number with its true check character."""
    body = f"{region:06d}{birth}{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def people(n: int, seed: int, prefix: str) -> list[dict[str, str]]:
    """``n`` distinct people with valid ID numbers and mobile numbers (as text)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        year, month, day = rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)
        birth = f"{year}{month:02d}{day:02d}"
        rows.append({
            "编号": f"{prefix}{i + 1:03d}",
            "姓名": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            "身份证号": id_number(110105 + rng.randint(0, 3), birth, rng.randint(100, 999)),
            "出生日期": f"{year}-{month:02d}-{day:02d}",
            "手机": f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
            "住址": f"北京市朝阳区{rng.choice(ROADS)}{rng.randint(1, 200)}号",
            "更新日期": f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        })
    return rows


def csv_text(rows: list[dict[str, str]], header: list[str] = HEADER, sep: str = ",",
             end: str = "\n") -> str:
    lines = [sep.join(header)] + [sep.join(r.get(h, "") for h in header) for r in rows]
    return end.join(lines) + end


@dataclass(frozen=True)
class Built:
    """What a case wrote: its [[sources]] table and the records a run must keep."""

    source: dict[str, Any]
    records: int | None  # data rows the run must keep (None: not checked, e.g. an error)
    personal: tuple[str, ...] = ()  # extra personal values written that must not be shown


@dataclass(frozen=True)
class Case:
    name: str
    fmt: str
    expect: str  # "flag", "ok", "error", "either"
    build: Callable[[Path, list[dict[str, str]]], Built]


def _src(path: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"department": "fuzzed", "entity_type": "person", "path": path,
                            "key": "编号", "updated_at": "更新日期", "columns": dict(COLUMNS)}
    base.update(kw)
    return base


# --- CSV -------------------------------------------------------------------------------------

CSV_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk")


def _csv_case(name: str, expect: str, mutate: Callable[[list[dict[str, str]]], tuple[str, int]],
              encoding: str = "utf-8", **kw: Any) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        text, kept = mutate([dict(r) for r in rows])
        data = text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding,
                           errors="replace")
        (folder / "fuzzed.csv").write_bytes(data)
        return Built(_src("fuzzed.csv", encoding=encoding, **kw), kept)
    return Case(f"csv-{encoding}-{name}", "csv", expect, build)


def _raw_csv_case(name: str, expect: str, make: Callable[[list[dict[str, str]]], bytes],
                  records: int | None = None, **kw: Any) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        (folder / "fuzzed.csv").write_bytes(make([dict(r) for r in rows]))
        return Built(_src("fuzzed.csv", **kw), records)
    return Case(f"csv-{name}", "csv", expect, build)


def _with(rows: list[dict[str, str]], at: int, **values: str) -> list[dict[str, str]]:
    rows[at].update(values)
    return rows


def _stray_quotes(rows: list[dict[str, str]], where: tuple[int, ...]) -> tuple[str, int]:
    lines = csv_text(rows).split("\n")
    for i in where:
        parts = lines[i].split(",")
        parts[1] = '"' + parts[1]
        lines[i] = ",".join(parts)
    return "\n".join(lines), len(rows)


def _csv_mutations() -> list[tuple[str, str, Callable[[list[dict[str, str]]], tuple[str, int]]]]:
    n = lambda rows: len(rows)  # noqa: E731
    return [
        ("blank-keys", "flag", lambda r: (csv_text([{**x, "编号": ""} for x in r]), n(r))),
        ("duplicate-keys", "flag", lambda r: (csv_text([{**x, "编号": "K"} for x in r]), n(r))),
        ("some-blank-keys", "flag",
         lambda r: (csv_text([{**x, "编号": "" if i % 3 else x["编号"]}
                              for i, x in enumerate(r)]), n(r))),
        ("whitespace-keys", "flag", lambda r: (csv_text([{**x, "编号": "  "} for x in r]), n(r))),
        ("one-stray-quote", "flag", lambda r: _stray_quotes(r, (3,))),
        ("four-stray-quotes", "flag", lambda r: _stray_quotes(r, (2, 5, 8, 11))),
        ("stray-quote-last-row", "flag", lambda r: _stray_quotes(r, (len(r),))),
        ("cr-line-ends", "ok", lambda r: (csv_text(r, end="\r"), n(r))),
        ("crlf-line-ends", "ok", lambda r: (csv_text(r, end="\r\n"), n(r))),
        ("huge-name", "flag", lambda r: (csv_text(_with(r, 1, 姓名="名" * 300_000)), n(r))),
        ("huge-address", "flag", lambda r: (csv_text(_with(r, 2, 住址="路" * 5000)), n(r))),
        ("huge-key", "flag", lambda r: (csv_text(_with(r, 2, 编号="k" * 5000)), n(r))),
        ("too-many-fields", "flag",
         lambda r: (csv_text(r).replace(r[3]["住址"], r[3]["住址"] + ",x,y"), n(r))),
        ("too-few-fields", "flag",
         lambda r: (csv_text(r).replace("," + r[4]["住址"], ""), n(r))),
        ("nul-in-name", "either", lambda r: (csv_text(_with(r, 1, 姓名="张\x00伟")), n(r))),
        ("escape-codes-in-name", "ok",
         lambda r: (csv_text(_with(r, 1, 姓名="\x1b[2J\x1b[31m张伟")), n(r))),
        ("rtl-override-in-name", "ok", lambda r: (csv_text(_with(r, 2, 姓名="张\u202e伟")), n(r))),
        ("id-inside-address", "ok",
         lambda r: (csv_text(_with(r, 1, 住址=f"北京{r[5]['身份证号']}号")), n(r))),
        ("phone-inside-name", "ok",
         lambda r: (csv_text(_with(r, 1, 姓名=f"张伟{r[5]['手机']}")), n(r))),
        ("id-as-key", "ok", lambda r: (csv_text([{**x, "编号": x["身份证号"]} for x in r]), n(r))),
        ("phone-with-separators", "ok",
         lambda r: (csv_text([{**x, "手机": f"+86 {x['手机'][:3]}-{x['手机'][3:7]}-"
                                          f"{x['手机'][7:]}"} for x in r]), n(r))),
        ("null-words", "ok",
         lambda r: (csv_text([{**x, "姓名": "无", "住址": "不详", "手机": "N/A"} for x in r]),
                    n(r))),
        ("bad-update-dates", "flag",
         lambda r: (csv_text([{**x, "更新日期": d} for x, d in
                              zip(r, ["2999-01-01", "1850-02-02", "someday", "0000-00-00"] * 9,
                                  strict=False)]), n(r))),
        ("blank-lines", "ok", lambda r: (csv_text(r).replace("\n", "\n\n"), n(r))),
        ("no-final-newline", "ok", lambda r: (csv_text(r).rstrip("\n"), n(r))),
        ("only-delimiter-rows", "flag", lambda r: (csv_text(r) + ",,,,,,\n" * 3, n(r) + 3)),
        ("duplicate-rows", "flag", lambda r: (csv_text(r + r[:3]), n(r) + 3)),
        ("same-id-different-people", "ok",
         lambda r: (csv_text([{**x, "身份证号": r[0]["身份证号"]} for x in r]), n(r))),
        ("lowercase-x-ids", "ok",
         lambda r: (csv_text([{**x, "身份证号": x["身份证号"].lower()} for x in r]), n(r))),
        ("fullwidth-digits", "ok",
         lambda r: (csv_text([{**x, "身份证号": x["身份证号"].translate(
             str.maketrans("0123456789", "０１２３４５６７８９"))} for x in r]), n(r))),
        ("masked-ids", "ok",
         lambda r: (csv_text([{**x, "身份证号": x["身份证号"][:6] + "********"
                               + x["身份证号"][14:]} for x in r]), n(r))),
        ("old-15-digit-ids", "ok",
         lambda r: (csv_text([{**x, "身份证号": x["身份证号"][:6] + x["身份证号"][8:17]}
                              for x in r]), n(r))),
        ("emoji-names", "ok", lambda r: (csv_text(_with(r, 1, 姓名="张😀伟")), n(r))),
        ("zero-width-chars", "ok", lambda r: (csv_text(_with(r, 1, 姓名="张\u200b伟")), n(r))),
        ("quoted-header", "ok",
         lambda r: ('"' + '","'.join(HEADER) + '"\n' + csv_text(r).split("\n", 1)[1], n(r))),
        ("header-only", "ok", lambda r: (csv_text([]), 0)),
        ("trailing-delimiter", "flag",
         lambda r: ("\n".join(line + "," if i else line
                              for i, line in enumerate(csv_text(r).rstrip("\n").split("\n")))
                    + "\n", n(r))),
    ]


def _csv_error_cases() -> list[Case]:
    def gb_as_utf8(rows: list[dict[str, str]]) -> bytes:
        return csv_text(rows).encode("gb18030")

    def bad_byte(rows: list[dict[str, str]]) -> bytes:
        data = csv_text(rows).encode()
        cut = data.index(b"\n", len(data) // 2)
        return data[:cut] + b"\xff\xfe" + data[cut:]

    def no_header(rows: list[dict[str, str]]) -> bytes:
        return csv_text(rows).split("\n", 1)[1].encode()

    rng = random.Random(5)
    return [
        _raw_csv_case("gb18030-declared-utf8", "error", gb_as_utf8),
        _raw_csv_case("invalid-byte-mid-file", "error", bad_byte),
        _raw_csv_case("utf16", "error", lambda r: csv_text(r).encode("utf-16")),
        _raw_csv_case("empty-file", "error", lambda r: b""),
        _raw_csv_case("only-bom", "error", lambda r: b"\xef\xbb\xbf"),
        _raw_csv_case("only-newlines", "error", lambda r: b"\n\n\n"),
        _raw_csv_case("no-header-row", "error", no_header),
        _raw_csv_case("huge-header-field", "error",
                      lambda r: ("h" * 200_000 + "," + csv_text(r)).encode()),
        _raw_csv_case("duplicate-header", "error",
                      lambda r: csv_text(r).replace("住址", "姓名", 1).encode()),
        _raw_csv_case("wide-header-with-duplicate", "error",
                      lambda r: (",".join(HEADER + [f"c{i}" for i in range(100_000)] + ["c7"])
                                 + "\n").encode()),
        _raw_csv_case("semicolon-file-declared-comma", "error",
                      lambda r: csv_text(r, sep=";").encode()),
        _raw_csv_case("padded-header-names", "error",
                      lambda r: csv_text(r).replace("姓名", " 姓名 ", 1).encode()),
        _raw_csv_case("random-bytes", "error",
                      lambda r: bytes(rng.randrange(256) for _ in range(4000))),
        _raw_csv_case("gzip-compressed", "error", lambda r: gzip.compress(csv_text(r).encode(),
                                                                         mtime=0)),
        _raw_csv_case("excel-sep-line", "error", lambda r: ("sep=,\n" + csv_text(r)).encode()),
        _raw_csv_case("html-saved-as-csv", "error",
                      lambda r: b"<html><body><table><tr><td>x</td></tr></table></body></html>"),
        _raw_csv_case("snapshot-date-not-a-date", "error", lambda r: csv_text(r).encode(),
                      snapshot_date="2024-13-45"),
    ]


def _csv_cases() -> list[Case]:
    cases = []
    for name, expect, mutate in _csv_mutations():
        cases.append(_csv_case(name, expect, mutate))
    # the encodings each get the cases that interact with decoding
    for encoding in CSV_ENCODINGS[1:]:
        for name, expect, mutate in _csv_mutations():
            if name in {"blank-keys", "four-stray-quotes", "cr-line-ends", "huge-name",
                        "too-few-fields", "escape-codes-in-name"}:
                cases.append(_csv_case(name, expect, mutate, encoding=encoding))
    cases.append(Case("csv-missing-file", "csv", "error",
                      lambda folder, rows: Built(_src("nowhere.csv"), None)))

    def a_folder(folder: Path, rows: list[dict[str, str]]) -> Built:
        (folder / "adir.csv").mkdir()
        return Built(_src("adir.csv"), None)

    cases.append(Case("csv-path-is-a-folder", "csv", "error", a_folder))

    def no_key(folder: Path, rows: list[dict[str, str]]) -> Built:
        (folder / "fuzzed.csv").write_text(csv_text(rows), encoding="utf-8")
        source = _src("fuzzed.csv")
        del source["key"]
        return Built(source, len(rows))

    cases.append(Case("csv-no-key-declared", "csv", "ok", no_key))
    return cases + _csv_error_cases()


# --- xlsx ------------------------------------------------------------------------------------


def _xlsx(name: str, expect: str, fill: Callable[[Any, list[dict[str, str]]], int | None],
          **kw: Any) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        import openpyxl

        book = openpyxl.Workbook()
        kept = fill(book, [dict(r) for r in rows])
        book.save(folder / "fuzzed.xlsx")
        return Built(_src("fuzzed.xlsx", **kw), kept)
    return Case(f"xlsx-{name}", "xlsx", expect, build)


def _sheet(sheet: Any, rows: list[dict[str, Any]], header: list[str] = HEADER) -> int:
    sheet.append(header)
    for r in rows:
        sheet.append([r.get(h, "") for h in header])
    return len(rows)


def _hidden_first(book: Any, rows: list[dict[str, str]]) -> int:
    old = book.active
    old.title = "old"
    _sheet(old, [{**r, "姓名": "旧" + r["姓名"]} for r in rows[:3]])
    old.sheet_state = "hidden"
    return _sheet(book.create_sheet("data"), rows)


def _ids_as_numbers(book: Any, rows: list[dict[str, str]]) -> int:
    return _sheet(book.active, [{**r, "身份证号": int(r["身份证号"]) if r["身份证号"][-1] != "X"
                                 else r["身份证号"]} for r in rows])


def _far_cell(book: Any, rows: list[dict[str, str]]) -> int:
    _sheet(book.active, rows)
    book.active["XFD1048576"] = "stray"
    return len(rows)


def _xlsx_cases() -> list[Case]:
    def blank_rows(book: Any, rows: list[dict[str, str]]) -> int:
        sheet = book.active
        sheet.append(HEADER)
        for r in rows:
            sheet.append([r[h] for h in HEADER])
            sheet.append([])
        return len(rows)

    def formulas(book: Any, rows: list[dict[str, str]]) -> int:
        n = _sheet(book.active, rows)
        book.active["B3"] = "=1/0"
        book.active["F4"] = '=CONCATENATE("a","b")'
        return n

    def odd_types(book: Any, rows: list[dict[str, str]]) -> int:
        import datetime as dt

        n = _sheet(book.active, rows)
        book.active["B2"] = True
        book.active["C3"] = dt.datetime(2020, 1, 1, 12, 30)
        book.active["E4"] = 13.5
        book.active["G5"] = dt.date(2023, 5, 1)
        return n

    def key_as_float(book: Any, rows: list[dict[str, str]]) -> int:
        return _sheet(book.active, [{**r, "编号": float(i)} for i, r in enumerate(rows)])

    return [
        _xlsx("hidden-first-sheet", "ok", _hidden_first),
        _xlsx("duplicate-header", "error",
              lambda b, r: _sheet(b.active, r, [*HEADER[:-1], "姓名"])),
        _xlsx("cell-at-XFD1048576", "error", _far_cell),
        _xlsx("ids-stored-as-numbers", "flag", _ids_as_numbers),
        _xlsx("empty-sheet", "error", lambda b, r: None),
        _xlsx("header-only", "ok", lambda b, r: _sheet(b.active, [])),
        _xlsx("named-sheet-missing", "error", lambda b, r: _sheet(b.active, r), sheet="nope"),
        _xlsx("blank-rows-between", "ok", blank_rows),
        _xlsx("formula-cells", "ok", formulas),
        _xlsx("bool-date-float-cells", "ok", odd_types),
        _xlsx("blank-keys", "flag", lambda b, r: _sheet(b.active, [{**x, "编号": None}
                                                                 for x in r])),
        _xlsx("huge-cell", "flag", lambda b, r: _sheet(b.active, _with(r, 1, 住址="路" * 30_000))),
        _xlsx("keys-as-floats", "ok", key_as_float),
        _xlsx("blank-header-cell", "ok",
              lambda b, r: _sheet(b.active, r, [*HEADER[:-1], ""]), updated_at=None),
        Case("xlsx-not-a-zip", "xlsx", "error", lambda folder, rows: (
            (folder / "fuzzed.xlsx").write_text(csv_text(rows), encoding="utf-8"),
            Built(_src("fuzzed.xlsx"), None))[1]),
        Case("xlsx-truncated", "xlsx", "error", _truncated_xlsx),
    ]


def _truncated_xlsx(folder: Path, rows: list[dict[str, str]]) -> Built:
    import openpyxl

    book = openpyxl.Workbook()
    _sheet(book.active, rows)
    book.save(folder / "whole.xlsx")
    data = (folder / "whole.xlsx").read_bytes()
    (folder / "whole.xlsx").unlink()
    (folder / "fuzzed.xlsx").write_bytes(data[: len(data) // 2])
    return Built(_src("fuzzed.xlsx"), None)


# --- Parquet and Arrow -----------------------------------------------------------------------


def _columns(rows: list[dict[str, str]]) -> dict[str, Any]:
    return {h: [r[h] for r in rows] for h in HEADER}


def _table_case(fmt: str, name: str, expect: str,
                make: Callable[[list[dict[str, str]]], tuple[pa.Table | bytes, int | None]],
                **kw: Any) -> Case:
    suffix = {"parquet": "parquet", "arrow": "arrow"}[fmt]

    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        table, kept = make([dict(r) for r in rows])
        path = folder / f"fuzzed.{suffix}"
        if isinstance(table, bytes):
            path.write_bytes(table)
        elif fmt == "parquet":
            pq.write_table(table, path)
        else:
            feather.write_feather(table, path)
        return Built(_src(f"fuzzed.{suffix}", **kw), kept)
    return Case(f"{fmt}-{name}", fmt, expect, build)


def _replace(rows: list[dict[str, str]], column: str, values: pa.Array) -> pa.Table:
    data = _columns(rows)
    data[column] = values
    return pa.table(data)


def _float_ids(rows: list[dict[str, str]]) -> tuple[pa.Table, int]:
    ids = [float(r["身份证号"][:17] + ("0" if r["身份证号"][-1] == "X" else r["身份证号"][-1]))
           for r in rows]
    return _replace(rows, "身份证号", pa.array(ids, pa.float64())), len(rows)


def _table_makers() -> list[tuple[str, str, Callable[[list[dict[str, str]]],
                                                      tuple[pa.Table | bytes, int | None]]]]:
    def nested(kind: str) -> Callable[[list[dict[str, str]]], tuple[pa.Table, None]]:
        def make(rows: list[dict[str, str]]) -> tuple[pa.Table, None]:
            names = [r["姓名"] for r in rows]
            values = (pa.array([[n] for n in names]) if kind == "list" else
                      pa.array([{"n": n} for n in names]) if kind == "struct" else
                      pa.array([[(n, 1)] for n in names], pa.map_(pa.string(), pa.int64())))
            return _replace(rows, "姓名", values), None
        return make

    def dup_names(rows: list[dict[str, str]]) -> tuple[pa.Table, None]:
        data = _columns(rows)
        arrays = [pa.array(v) for v in data.values()] + [pa.array(data["姓名"])]
        return pa.Table.from_arrays(arrays, names=[*HEADER, "姓名"]), None

    def typed(rows: list[dict[str, str]]) -> tuple[pa.Table, int]:
        import datetime as dt

        data: dict[str, Any] = _columns(rows)
        data["编号"] = pa.array(range(len(rows)), pa.int64())
        data["更新日期"] = pa.array([dt.datetime(2023, 1, 1, 8)] * len(rows), pa.timestamp("ms"))
        data["出生日期"] = pa.array([dt.date(1980, 1, 2)] * len(rows), pa.date32())
        return pa.table(data), len(rows)

    return [
        ("ids-as-float64", "flag", _float_ids),
        ("list-column", "error", nested("list")),
        ("struct-column", "error", nested("struct")),
        ("map-column", "error", nested("map")),
        ("binary-not-utf8", "error",
         lambda r: (_replace(r, "姓名", pa.array([b"\xff\xfe" + bytes([i]) for i in
                                                 range(len(r))])), None)),
        ("binary-utf8", "ok",
         lambda r: (_replace(r, "姓名", pa.array([x["姓名"].encode() for x in r])), len(r))),
        ("dictionary-column", "ok",
         lambda r: (_replace(r, "姓名", pa.array([x["姓名"] for x in r]).dictionary_encode()),
                    len(r))),
        ("null-typed-column", "ok",
         lambda r: (_replace(r, "手机", pa.nulls(len(r))), len(r))),
        ("zero-rows", "ok", lambda r: (pa.table({h: pa.array([], pa.string())
                                                   for h in HEADER}), 0)),
        ("typed-columns", "ok", typed),
        ("decimal-column", "ok",
         lambda r: (_replace(r, "手机", pa.array([int(x["手机"]) for x in r],
                                                pa.decimal128(12, 0))), len(r))),
        ("large-string", "ok",
         lambda r: (_replace(r, "住址", pa.array([x["住址"] for x in r], pa.large_string())),
                    len(r))),
        ("bool-column", "ok",
         lambda r: (_replace(r, "姓名", pa.array([True] * len(r))), len(r))),
        ("duplicate-column-names", "error", dup_names),
        ("blank-keys", "flag",
         lambda r: (_replace(r, "编号", pa.nulls(len(r), pa.string())), len(r))),
        ("huge-cell", "flag",
         lambda r: (_replace(r, "姓名", pa.array(["名" * 200_000] + [x["姓名"] for x in r[1:]])),
                    len(r))),
        ("not-this-format", "error", lambda r: (csv_text(r).encode(), None)),
        ("empty-file", "error", lambda r: (b"", None)),
        ("int-ids-lose-x", "ok",
         lambda r: (_replace(r, "身份证号", pa.array([int(x["身份证号"][:17]) for x in r],
                                                    pa.int64())), len(r))),
    ]


def _truncated(fmt: str) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        path = folder / f"fuzzed.{fmt}"
        table = pa.table(_columns(rows))
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            feather.write_feather(table, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return Built(_src(path.name), None)
    return Case(f"{fmt}-truncated", fmt, "error", build)


def _table_cases() -> list[Case]:
    cases = []
    for fmt in ("parquet", "arrow"):
        cases.extend(_table_case(fmt, name, expect, make) for name, expect, make in
                     _table_makers())
        cases.append(_truncated(fmt))

    def stream(folder: Path, rows: list[dict[str, str]]) -> Built:
        table = pa.table(_columns(rows))
        with pa.OSFile(str(folder / "fuzzed.arrow"), "wb") as sink, \
                pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Built(_src("fuzzed.arrow"), None)

    cases.append(Case("arrow-stream-not-file", "arrow", "either", stream))
    return cases


# --- databases -------------------------------------------------------------------------------


def _sqlite(name: str, expect: str, query: str, extra: str = "",
            kept: Callable[[int], int | None] = lambda n: None) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        path = folder / "fuzzed.sqlite"
        with sqlite3.connect(path) as con:
            con.execute(f"CREATE TABLE persons ({', '.join(HEADER)})")
            con.executemany(f"INSERT INTO persons VALUES ({', '.join('?' * len(HEADER))})",
                            [[r[h] for h in HEADER] for r in rows])
            if extra:
                con.executescript(extra)
        con.close()
        return Built(_src("fuzzed.sqlite", query=query), kept(len(rows)))
    return Case(f"sqlite-{name}", "sqlite", expect, build)


def _duckdb(name: str, expect: str, query: str, extra: str = "",
            kept: Callable[[int], int | None] = lambda n: None) -> Case:
    def build(folder: Path, rows: list[dict[str, str]]) -> Built:
        import duckdb

        path = folder / "fuzzed.duckdb"
        with duckdb.connect(str(path)) as con:
            con.execute(f"CREATE TABLE persons ({', '.join(h + ' VARCHAR' for h in HEADER)})")
            con.executemany(f"INSERT INTO persons VALUES ({', '.join('?' * len(HEADER))})",
                            [[r[h] for h in HEADER] for r in rows])
            if extra:
                con.execute(extra)
        return Built(_src("fuzzed.duckdb", query=query), kept(len(rows)))
    return Case(f"duckdb-{name}", "duckdb", expect, build)


ALL = "SELECT * FROM persons"
SAME = lambda n: n  # noqa: E731


def _db_cases() -> list[Case]:
    sqlite = [
        _sqlite("select", "ok", ALL, kept=SAME),
        _sqlite("vacuum-into", "error", "VACUUM INTO 'copy.sqlite'"),
        _sqlite("attach", "error", "ATTACH 'other.sqlite' AS o"),
        _sqlite("two-statements", "error", f"{ALL}; {ALL}"),
        _sqlite("insert", "error", "INSERT INTO persons (编号) VALUES ('x')"),
        _sqlite("create-table", "error", "CREATE TABLE t AS SELECT * FROM persons"),
        _sqlite("create-temp-table", "error", "CREATE TEMP TABLE t AS SELECT * FROM persons"),
        _sqlite("drop-table", "error", "DROP TABLE persons"),
        _sqlite("update", "error", "UPDATE persons SET 姓名 = 'x'"),
        _sqlite("delete", "error", "DELETE FROM persons"),
        _sqlite("pragma", "error", "PRAGMA journal_mode = WAL"),
        _sqlite("load-extension", "error", "SELECT load_extension('x')"),
        _sqlite("syntax-error", "error", "SELEKT * FROM persons"),
        _sqlite("no-such-table", "error", "SELECT * FROM nobody"),
        _sqlite("zero-rows", "ok", f"{ALL} WHERE 1 = 0", kept=lambda n: 0),
        _sqlite("duplicate-result-names", "error", "SELECT *, 姓名 FROM persons"),
        _sqlite("with-recursive", "ok",
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) "
                "SELECT p.* FROM persons p, c WHERE c.x = 1", kept=SAME),
        _sqlite("real-ids", "flag",
                "SELECT 编号, 姓名, CAST(substr(身份证号, 1, 17) AS REAL) * 10 AS 身份证号, "
                "出生日期, 手机, 住址, 更新日期 FROM persons", kept=SAME),
        _sqlite("blob-not-utf8", "ok",
                "SELECT 编号, X'FFFE' AS 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 "
                "FROM persons", kept=SAME),
        _sqlite("wal-mode-file", "ok", ALL, extra="PRAGMA journal_mode = WAL;", kept=SAME),
        _sqlite("integer-keys", "flag",
                "SELECT 1 AS 编号, 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 FROM persons",
                kept=SAME),
    ]

    def not_a_db(fmt: str) -> Case:
        def build(folder: Path, rows: list[dict[str, str]]) -> Built:
            (folder / f"fuzzed.{fmt}").write_text(csv_text(rows), encoding="utf-8")
            return Built(_src(f"fuzzed.{fmt}", query=ALL), None)
        return Case(f"{fmt}-not-a-database", fmt, "error", build)

    duck = [
        _duckdb("select", "ok", ALL, kept=SAME),
        _duckdb("copy-then-select", "error", f"COPY persons TO 'x.csv'; {ALL}"),
        _duckdb("read-csv-outside", "error", "SELECT * FROM read_csv('/etc/passwd')"),
        _duckdb("read-parquet-glob", "error", "SELECT * FROM read_parquet('/tmp/*.parquet')"),
        _duckdb("export-database", "error", "EXPORT DATABASE 'exported'"),
        _duckdb("attach", "error", "ATTACH 'other.duckdb' AS o"),
        _duckdb("install-extension", "error", "INSTALL httpfs"),
        _duckdb("set-option", "error", "SET enable_external_access = true"),
        _duckdb("create-table-as", "error", f"CREATE TABLE t AS {ALL}"),
        _duckdb("two-selects", "error", f"{ALL}; {ALL}"),
        _duckdb("update", "error", "UPDATE persons SET 姓名 = 'x'"),
        _duckdb("pragma", "error", "PRAGMA show_tables"),
        _duckdb("syntax-error", "error", "SELEKT 1"),
        _duckdb("zero-rows", "ok", f"{ALL} WHERE false", kept=lambda n: 0),
        _duckdb("list-result", "error",
                "SELECT 编号, [姓名] AS 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 "
                "FROM persons"),
        _duckdb("struct-result", "error",
                "SELECT 编号, {'n': 姓名} AS 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 "
                "FROM persons"),
        _duckdb("double-ids", "flag",
                "SELECT 编号, 姓名, CAST(substr(身份证号, 1, 17) AS DOUBLE) * 10 AS 身份证号, "
                "出生日期, 手机, 住址, 更新日期 FROM persons", kept=SAME),
        _duckdb("blob-result", "either",
                "SELECT 编号, '\\xFF\\xFE'::BLOB AS 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 "
                "FROM persons", kept=SAME),
        _duckdb("duplicate-result-names", "error", "SELECT *, 姓名 FROM persons"),
        _duckdb("blank-keys", "flag",
                "SELECT '' AS 编号, 姓名, 身份证号, 出生日期, 手机, 住址, 更新日期 FROM persons",
                kept=SAME),
    ]
    return [*sqlite, not_a_db("sqlite"), *duck, not_a_db("duckdb")]


def all_cases() -> list[Case]:
    """Every case, each name unique."""
    cases = [*_csv_cases(), *_xlsx_cases(), *_table_cases(), *_db_cases()]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# --- the pipeline every case runs in ---------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(value)


PERSON_SECTION = """
[person]
identity_fields = ["id_number"]
[person.fields]
name = "person_name"
id_number = "id_number"
birth_date = "date"
phone = "phone"
address = "address"
[[person.blocking]]
name = "id"
keys = ["id_number"]
[[person.blocking]]
name = "phone"
keys = ["phone"]
[[person.comparisons]]
name = "name"
field = "name"
method = "jaro_winkler"
thresholds = [0.8]
[[person.comparisons]]
name = "id_number"
field = "id_number"
method = "exact"
must_link = true
[[person.comparisons]]
name = "phone"
field = "phone"
method = "exact"
[[person.comparisons]]
name = "address"
field = "address"
method = "jaro_winkler"
thresholds = [0.9]
"""


def write_pipeline(folder: Path, sources: list[dict[str, Any]], seed: int = 1) -> Path:
    """A pipeline file in ``folder`` reading ``sources`` (None values left out)."""
    parts = [f'name = "fuzz"\nseed = {seed}\n']
    for source in sources:
        parts.append("[[sources]]")
        for key, value in source.items():
            if value is not None:
                parts.append(f"{key} = {toml_value(value)}")
    path = folder / "pipeline.toml"
    path.write_text("\n".join(parts) + "\n" + PERSON_SECTION, encoding="utf-8")
    return path


def clean_source(folder: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    (folder / "clean.csv").write_text(csv_text(rows), encoding="utf-8")
    return {**_src("clean.csv"), "department": "clean"}
