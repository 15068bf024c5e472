"""Dates: every accepted form, the refusals, and the date32 reader for update times."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.standardisers import get_standardiser
from linkage.standardisers.dates import parse_date_text, parse_dates, standardise_date


@pytest.mark.parametrize(
    "text",
    [
        "1985-03-02",
        "19850302",
        "1985/3/2",
        "1985.3.2",
        "1985年3月2日",
        "1985年03月02日",
        "１９８５－０３－０２",  # full-width
        " 1985-3-2 ",
        "1985-03-02 08:30:00",
        "1985-03-02T08:30:00+08:00",
        "1985/03/02 8:30",
        "1985年3月2日 10时30分",
        "1985年3月2日10时",
        "31108",  # Excel serial
        "31108.75",  # Excel serial with a time of day
        "一九八五年三月二日",  # Chinese numerals
        "一九八五年三月二日 10:00",
    ],
)
def test_accepted_forms(text: str) -> None:
    assert parse_date_text(text) == dt.date(1985, 3, 2)


@pytest.mark.parametrize(
    "text",
    [
        "1985",
        "850302",
        "1985-02-30",
        "1985-13-01",
        "02/03/1985",
        "abc",
        "1700-01-01",
        "9999",
        "123",
        "198503",
        "1985-03",
        "0",
    ],
)
def test_refused_forms(text: str) -> None:
    assert parse_date_text(text) is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("二〇二〇年十二月三十一日", dt.date(2020, 12, 31)),
        ("一九九九年十月十日", dt.date(1999, 10, 10)),
        ("二零零一年二月二十日", dt.date(2001, 2, 20)),
        ("二〇〇〇年二月三十日", None),
        ("二〇〇〇年一十月一日", None),
    ],
)
def test_chinese_numerals(text: str, day: dt.date | None) -> None:
    assert parse_date_text(text) == day


def test_excel_serial_epoch() -> None:
    # 1 Jan 2000 is serial 36526 in Excel's 1900 system.
    assert parse_date_text("36526") == dt.date(2000, 1, 1)


def test_standardise_date_statuses() -> None:
    raw = pa.array(["1985年3月2日", None, "  ", "1985-02-30", "2001/12/31 23:59:59", "31108"])
    out = standardise_date(raw)
    assert out.value.to_pylist() == ["1985-03-02", None, None, None, "2001-12-31", "1985-03-02"]
    assert out.status.to_pylist() == ["ok", "missing", "missing", "bad_date", "ok", "ok"]
    assert dict(out.derived) == {}
    assert get_standardiser("date") is standardise_date


def test_standardise_date_on_typed_columns() -> None:
    ts = pa.array([dt.datetime(1985, 3, 2, 8, 30), None], pa.timestamp("s"))
    assert standardise_date(ts).value.to_pylist() == ["1985-03-02", None]
    d = pa.array([dt.date(1985, 3, 2)], pa.date32())
    assert standardise_date(d).status.to_pylist() == ["ok"]


def test_parse_dates_types() -> None:
    out = parse_dates(pa.array(["2020-01-05 10:00:00", "bad", None, "20200105", ""]))
    assert out.type == pa.date32()
    d = dt.date(2020, 1, 5)
    assert out.to_pylist() == [d, None, None, d, None]
    ts = pa.chunked_array([pa.array([dt.datetime(2020, 1, 5, 23, 0)], pa.timestamp("us"))])
    assert parse_dates(ts).to_pylist() == [d]
    assert parse_dates(pa.array([43835], pa.int64())).to_pylist() == [d]  # Excel serial
    assert parse_dates(pa.nulls(2)).to_pylist() == [None, None]
    assert parse_dates(pa.array([], pa.string())).to_pylist() == []


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.sampled_from(
        [
            "{y}-{m:02d}-{d:02d}",
            "{y}{m:02d}{d:02d}",
            "{y}/{m}/{d}",
            "{y}.{m}.{d}",
            "{y}年{m}月{d}日",
            "{y}-{m}-{d} 12:00:00",
        ]
    ),
)
def test_round_trip_every_format(day: dt.date, fmt: str) -> None:
    text = fmt.format(y=day.year, m=day.month, d=day.day)
    assert parse_date_text(text) == day
    assert standardise_date(pa.array([text])).value.to_pylist() == [day.isoformat()]


def test_dates_outside_1900_to_2099_are_implausible_not_values() -> None:
    # parseable (the reader's update times use the wider window), but no birth,
    # registration or judgement date in a department's file
    out = standardise_date(pa.array(["1899-12-31", "1900-01-01", "2099-12-31", "2100-01-01",
                                     "1850年3月2日"]))
    assert out.value.to_pylist() == [None, "1900-01-01", "2099-12-31", None, None]
    assert out.status.to_pylist() == ["implausible", "ok", "ok", "implausible", "implausible"]
    assert parse_date_text("1899-12-31") == dt.date(1899, 12, 31)
