"""Enterprise names: one hand-checked case per rule."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.standardisers import get_standardiser
from linkage.standardisers.enterprise_name import standardise_enterprise_name

KEYS = ("value", "core", "legal_form", "region", "bracket_region", "branch", "group")


def row(raw: str | None) -> dict[str, object]:
    out = standardise_enterprise_name(pa.array([raw], pa.string()))
    result = {"value": out.value[0].as_py(), "status": out.status[0].as_py()}
    result.update({k: v[0].as_py() for k, v in out.derived.items()})
    return result


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "深圳市腾讯计算机系统有限公司",
            (
                "深圳市腾讯计算机系统有限公司",
                "腾讯计算机系统",
                "有限公司",
                "深圳市",
                None,
                None,
                False,
            ),
        ),
        # legal-form canonicalisation
        (
            "腾讯计算机系统有限责任公司",
            ("腾讯计算机系统有限公司", "腾讯计算机系统", "有限公司", None, None, None, False),
        ),
        (
            "中国平安保险股份公司",
            ("中国平安保险股份有限公司", "中国平安保险", "股份有限公司", None, None, None, False),
        ),
        # bracketed region, both bracket widths
        (
            "华为技术（深圳）有限公司",
            ("华为技术（深圳）有限公司", "华为技术", "有限公司", None, "深圳市", None, False),
        ),
        (
            "华为技术(深圳)有限公司",
            ("华为技术（深圳）有限公司", "华为技术", "有限公司", None, "深圳市", None, False),
        ),
        (
            "联想【北京】有限公司",
            ("联想（北京）有限公司", "联想", "有限公司", None, "北京市", None, False),
        ),
        # short region prefix, nested prefixes
        (
            "北京百度网讯科技有限公司",
            ("北京百度网讯科技有限公司", "百度网讯科技", "有限公司", "北京市", None, None, False),
        ),
        (
            "广东省深圳市某某科技有限公司",
            ("广东省深圳市某某科技有限公司", "某某科技", "有限公司", "深圳市", None, None, False),
        ),
        # 阿里巴巴 is not 阿里 + 巴巴; (中国) is not a division
        (
            "阿里巴巴（中国）有限公司",
            ("阿里巴巴（中国）有限公司", "阿里巴巴", "有限公司", None, None, None, False),
        ),
        (
            "阿里巴巴集团控股有限公司",
            ("阿里巴巴集团控股有限公司", "阿里巴巴集团控股", "有限公司", None, None, None, True),
        ),
        # a trade name that is also a place keeps it, the place written in full does not
        (
            "东方电气股份有限公司",
            ("东方电气股份有限公司", "东方电气", "股份有限公司", None, None, None, False),
        ),
        (
            "东方市某某渔业有限公司",
            ("东方市某某渔业有限公司", "某某渔业", "有限公司", "东方市", None, None, False),
        ),
        # group
        (
            "海尔（集团）有限公司",
            ("海尔（集团）有限公司", "海尔", "有限公司", None, None, None, True),
        ),
        ("海尔集团公司", ("海尔集团公司", "海尔", "公司", None, None, None, True)),
        # branches
        (
            "中国工商银行股份有限公司北京分行",
            (
                "中国工商银行股份有限公司北京分行",
                "中国工商银行",
                "股份有限公司",
                None,
                None,
                "北京分行",
                False,
            ),
        ),
        (
            "某某科技有限责任公司上海分公司",
            ("某某科技有限公司上海分公司", "某某科技", "有限公司", None, None, "上海分公司", False),
        ),
        ("平安银行深圳分行", ("平安银行深圳分行", "平安银行", None, None, None, "深圳分行", False)),
        (
            "某某证券有限公司营业部",
            ("某某证券有限公司营业部", "某某证券", "有限公司", None, None, "营业部", False),
        ),
        # width, whitespace, traditional characters
        (
            "深圳市 腾讯计算机系统 有限公司",
            (
                "深圳市腾讯计算机系统有限公司",
                "腾讯计算机系统",
                "有限公司",
                "深圳市",
                None,
                None,
                False,
            ),
        ),
        (
            "長城汽車股份有限公司",
            ("长城汽车股份有限公司", "长城汽车", "股份有限公司", None, None, None, False),
        ),
        # partnership legal form in brackets
        (
            "某某律师事务所（普通合伙）",
            ("某某律师事务所（普通合伙）", "某某律师事务所", "普通合伙", None, None, None, False),
        ),
        # nested prefixes go down the hierarchy only: 海南 / 金华 after a city are trade names
        (
            "广州市海南星化工有限公司",
            ("广州市海南星化工有限公司", "海南星化工", "有限公司", "广州市", None, None, False),
        ),
        (
            "沈阳市金华商贸有限公司",
            ("沈阳市金华商贸有限公司", "金华商贸", "有限公司", "沈阳市", None, None, False),
        ),
        (
            "北京市朝阳区某某科技有限公司",
            ("北京市朝阳区某某科技有限公司", "某某科技", "有限公司", "朝阳区", None, None, False),
        ),
        # bracketed region before 集团 + legal form
        (
            "禾辰商贸（呼和浩特）集团有限公司",
            (
                "禾辰商贸（呼和浩特）集团有限公司",
                "禾辰商贸",
                "有限公司",
                None,
                "呼和浩特市",
                None,
                True,
            ),
        ),
        # an institution keeps its place name
        ("北京大学", ("北京大学", "北京大学", None, None, None, None, False)),
    ],
)
def test_rules(raw: str, expected: tuple[object, ...]) -> None:
    r = row(raw)
    assert tuple(r[k] for k in KEYS) == expected
    assert r["status"] == "ok"


def test_variants_share_a_core() -> None:
    cores = {
        row(n)["core"]
        for n in (
            "深圳市腾讯计算机系统有限公司",
            "腾讯计算机系统有限责任公司",
            "深圳腾讯计算机系统有限公司",
        )
    }
    assert cores == {"腾讯计算机系统"}
    # a branch is another entity but the same core: the branch column tells them apart
    assert (
        row("中国工商银行股份有限公司北京分行")["core"] == row("中国工商银行股份有限公司")["core"]
    )


def test_missing_and_registry() -> None:
    assert row(None)["status"] == row("  ")["status"] == "missing"
    assert row(None)["group"] is False
    assert get_standardiser("enterprise_name") is standardise_enterprise_name


def test_names_cleaned_together_are_each_cleaned_alone() -> None:
    from linkage.standardisers.enterprise_name import standardise_enterprise_text

    raw = ["深圳市腾讯计算机系统有限公司", "華為技術(深圳)有限責任公司", "北京\n分公司", " （） ",
           "阿里巴巴（中国）网络技术有限公司", "中国银行股份有限公司北京分行", "\u3000", None]
    result = standardise_enterprise_name(pa.array(raw, pa.string()))
    columns = [result.value, result.status, *result.derived.values()]
    for i, text in enumerate(raw):
        expected = (standardise_enterprise_text(text) if text is not None
                    else (None, "missing", None, None, None, None, None, False, None))
        assert tuple(c[i].as_py() for c in columns) == expected, text
