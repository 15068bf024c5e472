"""Addresses: dropped levels and suffixes, historic names, ambiguity, codes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.standardisers import get_standardiser
from linkage.standardisers.address import parse_address, standardise_address

SHENZHEN_NANSHAN = ("广东省", "深圳市", "南山区", "440000", "440300", "440305")


@pytest.mark.parametrize(
    "raw",
    [
        "广东省深圳市南山区深南大道1号",  # full
        "广东深圳南山区深南大道1号",  # suffixes dropped
        "深圳市南山区深南大道1号",  # province dropped
        "广东省南山区深南大道1号",  # city dropped
        "深圳南山深南大道1号",  # short names after a city
        "中国广东省深圳市南山区深南大道1号",  # country prefix
        "廣東省深圳市南山區深南大道1號",  # traditional characters
        "广东省 深圳市 南山区 深南大道１号",  # spaces, full width
    ],
)
def test_styles_of_one_address(raw: str) -> None:
    value, status, *levels, detail = parse_address(raw)
    assert status == "ok"
    assert tuple(levels) == SHENZHEN_NANSHAN
    assert detail == "深南大道1号"
    assert value == "广东省深圳市南山区深南大道1号"


def test_historic_names_resolve_to_current_codes() -> None:
    value, status, *levels, _detail = parse_address("湖北省襄樊市樊城区人民路")
    assert status == "ok_historic"
    assert tuple(levels) == ("湖北省", "襄阳市", "樊城区", "420000", "420600", "420606")
    assert value == "湖北省襄阳市樊城区人民路"
    # a renamed county under a renamed city: 襄阳县 is today's 襄州区
    assert parse_address("襄樊市襄阳县")[4:8] == ("襄州区", "420000", "420600", "420607")


@pytest.mark.parametrize("raw", ["朝阳区建国路88号", "鼓楼区中山路1号", "南山区"])
def test_ambiguous_district_is_not_guessed(raw: str) -> None:
    _value, status, _prov, city, county, *codes, _detail = parse_address(raw)
    assert status == "ambiguous"
    assert (city, county) == (None, None)
    assert codes[2] is None


def test_context_resolves_ambiguity() -> None:
    assert parse_address("北京市朝阳区建国路88号")[2:8] == (
        "北京市",
        "北京市",
        "朝阳区",
        "110000",
        "110100",
        "110105",
    )
    assert parse_address("长春朝阳区")[4:8] == ("朝阳区", "220000", "220100", "220104")
    assert parse_address("北京朝阳建国路")[7] == "110105"
    # province known, city not: 鼓楼区 exists in 南京 and 徐州
    ambiguous = parse_address("江苏鼓楼区")
    assert ambiguous[1] == "ambiguous" and ambiguous[2] == "江苏省" and ambiguous[4] is None
    assert parse_address("南京鼓楼区中山路")[7] == "320106"


def test_placeholder_levels_of_the_code_table() -> None:
    assert parse_address("北京市市辖区朝阳区建国路")[7] == "110105"
    assert parse_address("湖北省省直辖县级行政区划仙桃市")[4:8] == (
        "仙桃市",
        "420000",
        None,
        "429004",
    )


def test_partial_and_special_levels() -> None:
    partial = parse_address("杭州市延安路508号")
    assert partial[1] == "ok_partial"
    assert partial[2:8] == ("浙江省", "杭州市", None, "330000", "330100", None)
    assert partial[8] == "延安路508号"
    no_county = parse_address("广东省东莞市长安镇")  # a city without counties
    assert no_county[1] == "ok" and no_county[6] == "441900"
    repeated = parse_address("东莞市东莞市长安镇")  # written again at the county level
    assert repeated[0] == no_county[0] == "广东省东莞市长安镇"
    direct = parse_address("湖北省仙桃市")  # province-administered county-level city
    assert direct[1] == "ok" and direct[4] == "仙桃市" and direct[6] is None
    assert parse_address("吉林市船营区")[2:5] == ("吉林省", "吉林市", "船营区")
    # but a short city name may be followed by a county whose name starts with 市
    assert parse_address("四川内江市中区青年路")[4:8] == ("市中区", "510000", "511000", "511002")


def test_abolished_county_resolves_to_its_successor_or_its_city() -> None:
    # 沧浪区 was merged into the new 姑苏区 in 2012: the one county created in its city
    merged = parse_address("沧浪区人民路284号")
    assert merged[1] == "ok_historic"
    assert merged[2:8] == ("江苏省", "苏州市", "姑苏区", "320000", "320500", "320508")
    assert merged[0] == "江苏省苏州市姑苏区人民路284号"
    # 胶南市 was merged into the existing 黄岛区: the curated merger list knows it
    assert parse_address("山东省青岛市胶南市振兴路")[4:8] == (
        "黄岛区",
        "370000",
        "370200",
        "370211",
    )
    assert parse_address("上海市南汇区")[7] == "310115"  # into 浦东新区, 2009
    # 陶乐县 was abolished (2004) and divided: no successor, but its city is known
    row = parse_address("陶乐县人民路1号")
    assert row[1] == "ok_partial"
    assert row[2:8] == ("宁夏回族自治区", "石嘴山市", None, "640000", "640200", None)
    assert row[8] == "陶乐县人民路1号"


def test_todays_parent_breaks_a_historic_tie() -> None:
    # the table gives 晋江县 two codes over the years; only 晋江市 lies in 泉州市 today
    assert parse_address("福建省泉州市晋江县解放路307号")[1:8] == (
        "ok_historic",
        "福建省",
        "泉州市",
        "晋江市",
        "350000",
        "350500",
        "350582",
    )


def test_short_name_followed_by_a_suffix_is_not_taken() -> None:
    # 江北县 (now 渝北区) must not become 江北区 + 县
    assert parse_address("重庆市江北县")[7] == "500112"
    assert parse_address("北京朝阳县")[7] is None  # 朝阳县 is in 辽宁, 朝阳区 is another name
    assert parse_address("吉林市船营区")[2:5] == ("吉林省", "吉林市", "船营区")


def test_names_opencc_would_rewrite() -> None:
    # OpenCC's t2s turns 乾 into 干; the index knows both spellings
    assert parse_address("陕西省咸阳市乾县东风路")[4:8] == ("乾县", "610000", "610400", "610424")
    assert parse_address("吉林松原乾安县")[7] == "220723"


def test_no_division_and_missing() -> None:
    out = standardise_address(pa.array(["火星基地1号", None, " "]))
    assert out.status.to_pylist() == ["no_division", "missing", "missing"]
    assert out.value.to_pylist() == ["火星基地1号", None, None]
    assert out.derived["detail"].to_pylist() == ["火星基地1号", None, None]
    assert get_standardiser("address") is standardise_address


#: heads that share, extend or cut short each other's division names
_HEADS = ["广东省深圳市南山区深南大道", "广东省深圳市南山区科技园路", "广东省深圳市南山",
          "广东省深圳市", "广东", "广", "江苏鼓楼区", "南京鼓楼区中山路", "重庆市江北县",
          "重庆市江北", "重庆市江北区", "内江市中区青年路", "东莞市东莞市长安镇", "东莞市",
          "北京朝阳", "北京朝阳建国路", "吉林市船营区", "吉林", "湖北省襄樊市襄阳县",
          "湖北省襄樊市襄阳", "沧浪区", ""]


@pytest.mark.parametrize("order", [1, -1])
def test_a_parse_is_reused_only_for_heads_that_parse_the_same(
        order: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from linkage.standardisers import address

    monkeypatch.setattr(address, "_HEADS", address._HeadParses())
    found = [address._parse_head(h) for h in _HEADS[::order]]
    assert found == [address._parse_head_read(h)[0] for h in _HEADS[::order]]
    assert address._HEADS.size < len(_HEADS)  # some heads were answered by another's parse


def test_the_column_path_gives_each_value_its_own_parse() -> None:
    raw = ["广东省深圳市南山区深南大道1号", "廣東省深圳市南山區\n深南大道1號",
           " 中国北京市市辖区朝阳区88号 ", "东莞市东莞市长安镇", "东莞市东莞市",
           "江苏鼓楼区, 中山路",
           "12号楼", "，，", "\u3000", None, "湖北省省直辖县级行政区划仙桃市", "上海市",
           "ｅ\u0301广东省"]
    result = standardise_address(pa.array(raw, pa.string()))
    columns = [result.value, result.status, *result.derived.values()]
    for i, text in enumerate(raw):
        expected = parse_address(text) if text is not None else (None, "missing") + (None,) * 7
        assert tuple(c[i].as_py() for c in columns) == expected, text
