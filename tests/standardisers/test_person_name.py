"""Person names: one hand-checked case per rule (conversion, separators, surnames, pinyin)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.standardisers import get_standardiser
from linkage.standardisers.person_name import standardise_name_text, standardise_person_name


def row(raw: str) -> dict[str, object]:
    out = standardise_person_name(pa.array([raw]))
    result = {"value": out.value[0].as_py(), "status": out.status[0].as_py()}
    result.update({k: v[0].as_py() for k, v in out.derived.items()})
    return result


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("張三", "张三"),  # traditional -> simplified
        ("张 三", "张三"),  # a space inside a short Han name is noise
        ("  王小明\t", "王小明"),
        ("ＡＢ", "AB"),  # NFKC
        ("张三（已故）", "张三"),  # bracketed note dropped
        ("张三。", "张三"),  # punctuation dropped
        ("於明", "於明"),  # OpenCC would turn the surname 於 into 于
        ("乾小明", "乾小明"),  # ... and 乾 into 干
        ("徵明", "征明"),  # 徵 is simplified as a surname
        ("鍾明", "钟明"),
        ("锺明", "钟明"),  # variant fold: both spellings agree
    ],
)
def test_value_cleaning(raw: str, value: str) -> None:
    assert row(raw)["value"] == value


@pytest.mark.parametrize(
    "raw",
    [
        "买买提·艾力",
        "买买提.艾力",
        "买买提•艾力",
        "买买提・艾力",
        "买买提‧艾力",
        "买买提-艾力",
        "买买提 艾力",
        "買買提·艾力",
        "买买提．艾力",
        "买买提 · 艾力",
    ],
)
def test_every_separator_form(raw: str) -> None:
    r = row(raw)
    assert r["value"] == "买买提·艾力"
    assert r["parts_sorted"] == "买买提·艾力"
    assert r["surname"] is None
    assert r["pinyin_key"] == "maimaitiaili"


def test_part_order_and_missing_separator() -> None:
    swapped, joined = row("艾力·买买提"), row("买买提艾力")
    assert swapped["parts_sorted"] == row("买买提·艾力")["parts_sorted"]
    assert swapped["value"] == "艾力·买买提"
    assert joined["pinyin_key"] == row("买买提·艾力")["pinyin_key"]


@pytest.mark.parametrize(
    ("raw", "surname", "pinyin"),
    [
        ("单雄信", "单", "shan xiong xin"),
        ("曾国藩", "曾", "zeng guo fan"),
        ("区家明", "区", "ou jia ming"),
        ("仇英", "仇", "qiu ying"),
        ("查良镛", "查", "zha liang yong"),
        ("解缙", "解", "xie jin"),
        ("朴槿惠", "朴", "piao jin hui"),
        ("乐嘉", "乐", "yue jia"),
        ("盖聂", "盖", "ge nie"),
        ("缪斯", "缪", "miao si"),
        ("覃明", "覃", "qin ming"),
        ("翟志刚", "翟", "zhai zhi gang"),
        ("欧阳修", "欧阳", "ou yang xiu"),
        ("司马光", "司马", "si ma guang"),
        ("万俟卨", "万俟", "mo qi xie"),
        ("尉迟恭", "尉迟", "yu chi gong"),
        ("张三", "张", "zhang san"),
    ],
)
def test_surname_readings(raw: str, surname: str, pinyin: str) -> None:
    r = row(raw)
    assert (r["surname"], r["pinyin"], r["pinyin_key"]) == (
        surname,
        pinyin,
        pinyin.replace(" ", ""),
    )


@pytest.mark.parametrize("raw", ["张?三", "张？三", "张□三", "张〇三", "张■三"])
def test_replacement_characters(raw: str) -> None:
    r = row(raw)
    assert (r["value"], r["status"], r["unstorable"]) == ("张?三", "replacement_char", True)


def test_not_chinese() -> None:
    r = row("zhang  San")
    assert (r["value"], r["status"], r["pinyin_key"]) == ("ZHANG SAN", "not_chinese", "zhangsan")
    assert r["pinyin_key"] == row("张三")["pinyin_key"]
    assert row("12345")["status"] == "not_chinese"


def test_missing_and_registry() -> None:
    out = standardise_person_name(pa.array(["", None, " （） "]))
    assert out.status.to_pylist() == ["missing"] * 3
    assert out.value.to_pylist() == [None] * 3
    assert out.derived["unstorable"].to_pylist() == [False] * 3
    assert get_standardiser("person_name") is standardise_person_name
    assert standardise_name_text("张三")[0] == "张三"


def test_written_text_that_is_no_name_is_flagged_not_missing() -> None:
    # a bracketed note alone (or markup) was written, so it is not a missing name; it
    # is not a name either
    out = standardise_person_name(pa.array(["<script>", "（曾用名）", "张三（曾用名）"]))
    assert out.status.to_pylist() == ["no_name", "no_name", "ok"]
    assert out.value.to_pylist() == [None, None, "张三"]


@pytest.mark.parametrize(
    ("raw", "value", "written"),
    [
        ("沈思冬", "沈思冬", "沈思冬"),  # OpenCC's phrase table would write 沉思冬
        ("沈香", "沈香", "沈香"),        # ... and 沉香
        ("王涛頔", "王涛𬱖", "王涛頔"),  # folded for comparison only; written as written
        ("陈玉暐", "陈玉𬀩", "陈玉暐"),
        ("張 三", "张三", "張三"),
        ("买买提.艾力", "买买提·艾力", "买买提·艾力"),
    ],
)
def test_written_spelling_is_kept_beside_the_folded_value(raw: str, value: str,
                                                          written: str) -> None:
    got = row(raw)
    assert (got["value"], got["written"]) == (value, written)


def test_the_column_path_gives_each_name_its_own_row() -> None:
    """Names of Han characters only are column work (code points): each row is what the
    one-name function gives, surnames that read differently, compound, protected and folded
    ones, traditional characters and names left to the one-name path included."""
    raw = ["张三", "單雄信", "欧阳修", "欧阳", "爱新觉罗溥仪", "爱新觉罗", "於梨华", "乾隆",
           "锺汉良", "鍾漢良", "王涛頔", "沈思", "長孫無忌", "张", "张·三", "ZHANG San", "李?",
           "区伟", "曾国藩", "\u3400\u4e00", "\uf900\u4e00", "万俟卨", None, ""]
    result = standardise_person_name(pa.array(raw, pa.string()))
    columns = [result.value, result.status, *result.derived.values()]
    for i, text in enumerate(raw):
        expected = (standardise_name_text(text) if text is not None
                    else (None, "missing", None, None, None, None, False, None))
        assert tuple(c[i].as_py() for c in columns) == expected, text
