"""The stage applies every registered standardiser to a RecordTable and collects flags."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.standardisers import STANDARDISERS, standardise


def records(fields: dict[str, list[str | None]]) -> pa.Table:
    n = len(next(iter(fields.values())))
    base = {
        "record_id": pa.array(range(n), pa.int64()),
        "source": pa.array(["household"] * n),
        "source_key": pa.array([str(i) for i in range(n)]),
        "entity_type": pa.array(["person"] * n),
        "source_row": pa.array(range(1, n + 1), pa.int64()),
        "updated_at": pa.nulls(n, pa.date32()),
    }
    return pa.table({**base, **{k: pa.array(v, pa.string()) for k, v in fields.items()}})


def test_every_standardiser_through_the_stage() -> None:
    raw: dict[str, list[str | None]] = {
        "name": ["張三", "买买提.艾力", None],
        "id_number": ["11010519491231002X", "110105194912310021", ""],
        "phone": ["138 1234 5678", "12345", None],
        "address": ["北京市朝阳区建国路", "朝阳区建国路", None],
        "birth_date": ["1949年12月31日", "1985-02-30", None],
        "sex": ["女", "男", None],
        "credit_code": ["91350100M000100Y43", "D2143569-X", None],
        "firm": ["华为技术(深圳)有限公司", None, None],
        "capital": ["100万元", "1.5亿", None],
        "note": [" a  b ", None, None],
        "title": ["Café  de Flore!", None, "--"],
        "latin": ["Na", "N/A", None],
        "tel": ["020 7946 0018", "+44 20 7946 0018", "12"],
        "street": ["12 North Street", None, None],
        "price": ["1,200.50", None, "cheap"],
        "seen": ["03/02/1985", None, None],
        "state": ["存续（在营、开业、在册）", "正常", None],
    }
    fields = {
        "name": "person_name",
        "id_number": "id_number",
        "phone": "phone",
        "address": "address",
        "birth_date": "date",
        "sex": "sex",
        "credit_code": "credit_code",
        "firm": "enterprise_name",
        "capital": "amount_wan",
        "note": "text",
        "title": "text_folded",
        "latin": "latin_name",
        "tel": "phone_intl:GB",
        "street": "address_general",
        "price": "number",
        "seen": "date:%d/%m/%Y",
        "state": "enterprise_status",
    }
    plain = {"phone_intl:GB": "phone_intl", "date:%d/%m/%Y": "date"}
    assert {plain.get(v, v) for v in fields.values()} == set(STANDARDISERS)
    out = standardise(records(raw), fields)
    assert out.num_rows == 3
    assert out.column("name").to_pylist() == ["张三", "买买提·艾力", None]
    assert out.column("id_number__birth_date").to_pylist() == ["1949-12-31", "1949-12-31", None]
    assert out.column("address__county_code").to_pylist() == ["110105", None, None]
    assert out.column("credit_code__org_code").to_pylist() == ["M000100Y4", "D2143569X", None]
    assert out.column("firm__bracket_region").to_pylist() == ["深圳市", None, None]
    assert out.column("capital").to_pylist() == ["100", "15000", None]
    assert out.column("birth_date").to_pylist() == ["1949-12-31", None, None]
    assert out.column("title").to_pylist() == ["cafe de flore", None, None]
    assert out.column("latin").to_pylist() == ["na", None, None]  # Na is a surname
    assert out.column("tel").to_pylist() == ["+442079460018", "+442079460018", None]
    assert out.column("street__numbers").to_pylist() == ["12", None, None]
    assert out.column("street").to_pylist() == ["12 n st", None, None]
    assert out.column("price").to_pylist() == ["1200.5", None, None]
    assert out.column("seen").to_pylist() == ["1985-02-03", None, None]
    assert out.column("state").to_pylist() == ["存续", "存续", None]
    flags = out.column("flags").to_pylist()
    assert flags[0] == []
    assert flags[1] == [
        "id_number:bad_check",
        "phone:invalid",
        "address:ambiguous",
        "birth_date:bad_date",
        "firm:missing",
        "note:missing",
        "title:missing",
        "latin:missing",
        "street:missing",
        "price:missing",
        "seen:missing",
    ]
    assert "id_number:missing" in flags[2]
    assert {"tel:invalid", "price:not_a_number", "title:missing"} <= set(flags[2])


def test_no_missing_flag_for_a_field_the_department_never_collects() -> None:
    table = pa.concat_tables([
        records({"name": ["张三"], "phone": ["13800138000"]}),
        records({"name": ["李四", "王五"]}).append_column(
            "phone", pa.nulls(2, pa.string())),  # this department has no phone column
    ])
    table = table.set_column(1, "source", pa.array(["household", "courts", "courts"]))
    flags = standardise(table, {"name": "person_name", "phone": "phone"})["flags"].to_pylist()
    assert flags == [[], [], []]
    blank = table.set_column(table.column_names.index("phone"), "phone",
                             pa.array(["13800138000", "", None]))  # courts keeps a column
    flags = standardise(blank, {"name": "person_name", "phone": "phone"})["flags"].to_pylist()
    assert flags == [[], ["phone:missing"], ["phone:missing"]]


def test_null_words_are_missing_values_but_the_raw_text_is_kept() -> None:
    # departments type 无 / 不详 / N/A / a dash where they have nothing; such a word must not
    # become a name, an enterprise or a status that links and wins survivorship
    raw: dict[str, list[str | None]] = {
        "name": ["不详", " n/a ", "张三"],
        "firm": ["无", "——", "某某有限公司"],
        "id_number": ["无", "0", "11010519491231002X"],
        "capital": ["-", "0", "100万元"],
    }
    fields = {"name": "person_name", "firm": "enterprise_name", "id_number": "id_number",
              "capital": "amount_wan"}
    out = standardise(records(raw), fields)
    assert out.column("name").to_pylist() == [None, None, "张三"]
    assert out.column("name__status").to_pylist() == ["missing", "missing", "ok"]
    assert out.column("name__raw").to_pylist() == ["不详", " n/a ", "张三"]
    assert out.column("firm").to_pylist() == [None, None, "某某有限公司"]
    # an ID column reports its null words as placeholders ("0" included) ...
    assert out.column("id_number__status").to_pylist() == ["placeholder", "placeholder", "ok"]
    # ... while a capital of 0 is a value
    assert out.column("capital").to_pylist() == [None, "0", "100"]
    assert out.column("flags").to_pylist()[0] == [
        "name:missing", "firm:missing", "id_number:placeholder", "capital:missing"]


def test_nothing_personal_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    secret_id, secret_phone = "11010519491231002X", "13812345678"
    table = records(
        {
            "id_number": [secret_id, "110105194912310021"],
            "phone": [secret_phone, "bad"],
            "name": ["张三", None],
        }
    )
    with caplog.at_level(logging.DEBUG, logger="linkage"):
        standardise(table, {"id_number": "id_number", "phone": "phone", "name": "person_name"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # the stage does log a summary
    for secret in (secret_id, "110105194912310021", secret_phone, "张三"):
        assert secret not in text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=25),
            st.text(alphabet="0123456789Xx*-. 年月日省市区县（）()·?□", max_size=20),
        ),
        max_size=12,
    )
)
def test_every_standardiser_is_total_on_any_text(values: list[str | None]) -> None:
    """Never raises, keeps the length, gives every row a status, null input -> missing."""
    array = pa.array(values, pa.string())
    for name, fn in STANDARDISERS.items():
        out = fn(array)
        assert len(out.value) == len(out.status) == len(values), name
        assert out.status.null_count == 0, name
        for column in out.derived.values():
            assert len(column) == len(values), name
        for raw, status in zip(values, out.status.to_pylist(), strict=True):
            if raw is None:
                assert status == "missing", name


def test_input_array_kinds_give_the_same_answer() -> None:
    values = ["11010519491231002X", "张三", None, "1985-03-02", "北京市朝阳区"]
    plain = pa.array(values, pa.string())
    kinds = [
        pa.array(values, pa.large_string()),
        pa.chunked_array([plain.slice(0, 2), plain.slice(2)]),
        plain.dictionary_encode(),
        plain.slice(1).slice(0, 4),
    ]
    for name, fn in STANDARDISERS.items():
        expected = fn(plain)
        for kind in kinds[:3]:
            assert fn(kind).value.to_pylist() == expected.value.to_pylist(), name
        assert fn(kinds[3]).status.to_pylist() == expected.status.to_pylist()[1:], name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(
    ["无", " 不详 ", "n/a", "Ｎ／Ａ", "ｎｕｌｌ", "——", "0", "", "张三", "无锡", "NAN", "na",
     "\u3000空\u3000", "(空)", "（空）", "--x", "11010519491231002X"]), st.text(max_size=6)),
    max_size=30), st.integers(0, 5))
def test_null_words_match_a_plain_python_reference(values: list[str | None], cut: int) -> None:
    import unicodedata

    from linkage.standardisers.base import NULL_WORDS, null_words_to_null

    def reference(v: str | None) -> str | None:
        if v is None:
            return None
        folded = " ".join(unicodedata.normalize("NFKC", v).split()).upper()
        # the fast path knows half- and full-width forms, not every NFKC variant
        return None if folded in NULL_WORDS and len(v.strip().encode()) <= 12 + 8 else v

    arr = pa.array(["pad"] * cut + values, pa.string())[cut:]  # a slice: offsets not at 0
    got = null_words_to_null(arr).to_pylist()
    expected = [reference(v) for v in values]
    # only inputs the two disagree on by construction (exotic NFKC variants) may differ
    for g, e, v in zip(got, expected, values, strict=True):
        if g != e:
            assert v is not None and unicodedata.normalize("NFKC", v).strip() != v.strip()
