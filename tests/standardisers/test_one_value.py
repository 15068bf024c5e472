"""Each standardiser's one-value form (what the resolver uses for a single record) gives
exactly what the stage gives that record's row: every column of the sample data and
hand-picked awkward values through every registered standardiser."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.standardisers import ONE_VALUE, STANDARDISERS, standardise, standardise_record

SAMPLE = Path(__file__).parents[2] / "linkage" / "data" / "sample"

AWKWARD: list[str | None] = [
    None, "", " ", "无", " 不详 ", "ｎ/ａ", "null", "-", "0", "—", "\u3000无\u3000",
    "11010519491231002X", "110105491231002", "110105194912310021", "3301**********056X",
    "000000000000000000", "123456789012345678", "110105 1949 1231 002x",
    "138 1234 5678", "+86 10 6234 5678", "010-62345678转123", "400-800-1234", "12345",
    "1949年12月31日", "1985-02-30", "1985-03-02 08:30:00", "1985-03-02T08:30:00+08:00",
    "一九八五年三月二日", "31108", "1985", "850302", "1985/3/2 8:30",
    "男", "女性", "2", "9", "未说明", "x",
    "張三", "买买提.艾力", "欧阳 娜娜", "John Smith", "王?",
    "北京市朝阳区建国路", "朝阳区建国路88号", "上海市", "广东省东莞市长安镇",
    "91350100M000100Y43", "D2143569-X", "110108000000016",
    "华为技术(深圳)有限公司", "北京分公司", "100万元", "1.5亿", "50,000,000元", "USD 10",
    " a  b ",
]


def _sample_values() -> list[str | None]:
    values: set[str] = set()
    for path in sorted(SAMPLE.glob("*.csv")):
        data = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        for row in csv.reader(text.splitlines()):
            values.update(row)
    return [*AWKWARD, *sorted(values)]


def _table(values: list[str | None]) -> pa.Table:
    n = len(values)
    return pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": pa.array(["a"] * n),
        "source_key": pa.array([str(i) for i in range(n)]),
        "entity_type": pa.array(["person"] * n),
        "source_row": pa.array(range(1, n + 1), pa.int64()),
        "updated_at": pa.nulls(n, pa.date32()),
        **{f"f_{name}": pa.array(values, pa.string()) for name in STANDARDISERS},
    })


def _check(values: list[str | None]) -> None:
    fields = {f"f_{name}": name for name in STANDARDISERS}
    rows = standardise(_table(values), fields).to_pylist()
    for value, row in zip(values, rows, strict=True):
        # the stage counts a missing value only in a field the source carries
        carried = [f for f in fields if any(v is not None for v in values)]
        one = standardise_record(dict.fromkeys(fields, value), fields, carried=carried)
        expected = {k: row[k] for k in one}
        assert one == expected, value


def test_the_domain_standardisers_have_a_one_value_form() -> None:
    """The Chinese domain ones (what a counter resolves) have a plain-Python form; the
    general ones run their column function on one value, and ``_check`` covers both."""
    assert set(ONE_VALUE) <= set(STANDARDISERS)
    assert {"id_number", "credit_code", "person_name", "enterprise_name", "address",
            "phone", "date", "sex", "amount_wan", "text"} <= set(ONE_VALUE)


def test_one_value_forms_agree_with_the_stage_on_sample_and_awkward_values() -> None:
    _check(_sample_values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=24),
                          st.from_regex(r"[0-9Xx* \-]{8,20}", fullmatch=True),
                          st.from_regex(r"[0-9０-９年月日/.\- :T]{4,22}", fullmatch=True)),
                min_size=1, max_size=20))
def test_one_value_forms_agree_with_the_stage_on_any_text(values: list[str | None]) -> None:
    _check(values)
