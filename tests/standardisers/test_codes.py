"""Enterprise identifiers, phones, sex and amounts: worked examples and hand-checked cases."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.standardisers import get_standardiser
from linkage.standardisers.amounts import standardise_amount_wan
from linkage.standardisers.checksums import (
    USCC_ALPHABET,
    org_check_char,
    regno_check_digit,
    uscc_check_char,
)
from linkage.standardisers.credit_code import standardise_code_text, standardise_credit_code
from linkage.standardisers.phone import standardise_phone
from linkage.standardisers.sex import standardise_sex

CODE_DERIVED = ("kind", "org_code", "authority", "category", "division")


def codes(values: list[str | None]) -> list[tuple[object, ...]]:
    out = standardise_credit_code(pa.array(values, pa.string()))
    cols = [out.value, out.status, *(out.derived[k] for k in CODE_DERIVED)]
    return list(zip(*(c.to_pylist() for c in cols), strict=True))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "91350100M000100Y43",
            ("91350100M000100Y43", "ok", "uscc", "M000100Y4", "工商", "企业", "350100"),
        ),
        (
            "91110000600037341L",
            ("91110000600037341L", "ok", "uscc", "600037341", "工商", "企业", "110000"),
        ),
        (
            "91320621MA1MRHG205",
            ("91320621MA1MRHG205", "ok", "uscc", "MA1MRHG20", "工商", "企业", "320621"),
        ),
        (
            "91320621MA1MRHG207",
            ("91320621MA1MRHG207", "bad_check", "uscc", "MA1MRHG20", "工商", "企业", "320621"),
        ),
        (
            " 9135 0100-m000 100y43 ",
            ("91350100M000100Y43", "ok", "uscc", "M000100Y4", "工商", "企业", "350100"),
        ),
        ("D2143569-X", ("D2143569X", "ok", "org_code", "D2143569X", None, None, None)),
        ("D2143569X", ("D2143569X", "ok", "org_code", "D2143569X", None, None, None)),
        ("D21435691", ("D21435691", "bad_check", "org_code", "D21435691", None, None, None)),
        ("110108000000016", ("110108000000016", "ok", "reg_number", None, None, None, "110108")),
        ("140000100028286", ("140000100028286", "ok", "reg_number", None, None, None, "140000")),
        (
            "110108000000017",
            ("110108000000017", "bad_check", "reg_number", None, None, None, "110108"),
        ),
        # 15-character tax registration numbers: division + organisation code
        ("440104715840724", ("440104715840724", "ok_tax_number", "tax_number", "715840724",
                             None, None, "440104")),
        ("44030668241207X", ("44030668241207X", "bad_org_check", "tax_number", "68241207X",
                             None, None, "440306")),
        ("9135010OM000100Y43", (None, "bad_chars", "uscc", None, None, None, None)),
        ("公司代码", (None, "bad_chars", None, None, None, None, None)),
        ("12345", (None, "bad_length", None, None, None, None, None)),
        ("", (None, "missing", None, None, None, None, None)),
        (None, (None, "missing", None, None, None, None, None)),
    ],
)
def test_credit_code_cases(raw: str | None, expected: tuple[object, ...]) -> None:
    assert codes([raw]) == [expected]
    if raw:
        assert standardise_code_text(raw) == expected


def test_embedded_org_code_is_checked() -> None:
    org_body = "D2143569"
    good_org = org_body + org_check_char(org_body)
    bad_org = org_body + ("0" if good_org[-1] != "0" else "1")
    for org, status in ((good_org, "ok"), (bad_org, "bad_org_check")):
        body = "91350100" + org[:8] + org[8]
        code = body + uscc_check_char(body)
        assert codes([code])[0][1] == status
        assert codes([code])[0][3] == org


def test_old_and_new_records_share_the_org_code() -> None:
    rows = codes(["91350100M000100Y43", "M000100Y-4"])
    assert rows[0][3] == rows[1][3] == "M000100Y4"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17), st.data())
def test_credit_code_check_catches_substitution(body: str, data: st.DataObject) -> None:
    code = body + uscc_check_char(body)
    assert codes([code])[0][1] in ("ok", "bad_org_check")
    pos = data.draw(st.integers(0, 17))
    char = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[pos]]))
    typo = code[:pos] + char + code[pos + 1 :]
    assert codes([typo])[0][1] == "bad_check"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=USCC_ALPHABET + "-x ", max_size=19)), max_size=20
    )
)
def test_credit_code_fast_path_matches_scalar(values: list[str | None]) -> None:
    for raw, row in zip(values, codes(values), strict=True):
        assert row == (codes([None])[0] if raw is None else standardise_code_text(raw))


@pytest.mark.parametrize(
    ("raw", "value", "status", "kind"),
    [
        ("13812345678", "13812345678", "ok", "mobile"),
        ("138 1234 5678", "13812345678", "ok", "mobile"),
        ("+86 138-1234-5678", "13812345678", "ok", "mobile"),
        ("0086 13812345678", "13812345678", "ok", "mobile"),
        ("8613812345678", "13812345678", "ok", "mobile"),
        ("１３８１２３４５６７８", "13812345678", "ok", "mobile"),
        ("010-62345678", "010-62345678", "ok", "landline"),
        ("(010)62345678", "010-62345678", "ok", "landline"),
        ("01062345678", "010-62345678", "ok", "landline"),
        ("0755 8888 9999 转 123", "0755-88889999", "ok", "landline"),
        ("+86 10 6234 5678", "010-62345678", "ok", "landline"),
        ("+86-755-88889999", "0755-88889999", "ok", "landline"),
        ("400-810-8888", "400-810-8888", "ok", "service"),
        ("4008108888", "400-810-8888", "ok", "service"),
        ("62345678", None, "invalid", None),  # no area code
        ("020-1234567", None, "invalid", None),  # local numbers do not start with 1
        ("011-62345678", None, "invalid", None),
        ("12812345678", None, "invalid", None),
        ("  ", None, "missing", None),
        (None, None, "missing", None),
    ],
)
def test_phone(raw: str | None, value: str | None, status: str, kind: str | None) -> None:
    out = standardise_phone(pa.array([raw], pa.string()))
    assert (out.value[0].as_py(), out.status[0].as_py(), out.derived["kind"][0].as_py()) == (
        value,
        status,
        kind,
    )


def test_sex() -> None:
    raw = ["男", "女", "M", "f", "1", "2", "male", "FEMALE", "男性", "9", "x", None, " "]
    out = standardise_sex(pa.array(raw))
    assert out.value.to_pylist() == [
        "M",
        "F",
        "M",
        "F",
        "M",
        "F",
        "M",
        "F",
        "M",
        None,
        None,
        None,
        None,
    ]
    assert out.status.to_pylist() == ["ok"] * 9 + ["unknown", "invalid", "missing", "missing"]


def test_amount_wan() -> None:
    raw = [
        "100万元",
        "1,000,000元",
        "100万",
        "1.5亿",
        "100",
        "100.50",
        "￥100万",
        "50万美元",
        "１００万元",
        "abc",
        None,
    ]
    out = standardise_amount_wan(pa.array(raw))
    assert out.value.to_pylist() == [
        "100",
        "100",
        "100",
        "15000",
        "100",
        "100.5",
        "100",
        "50",
        "100",
        None,
        None,
    ]
    assert out.status.to_pylist() == ["ok"] * 7 + ["foreign_currency", "ok", "invalid", "missing"]


def test_amount_wan_trillions_and_implausible_amounts() -> None:
    # 万亿 is a unit; a negative capital or one above ten trillion yuan is a typo
    out = standardise_amount_wan(pa.array(["1.55万亿元", "15500亿", "-100万元", "10万亿",
                                           "10.01万亿", "0"]))
    assert out.value.to_pylist() == ["155000000", "155000000", None, "1000000000", None, "0"]
    assert out.status.to_pylist() == ["ok", "ok", "implausible", "ok", "implausible", "ok"]


@pytest.mark.parametrize("name", ["credit_code", "phone", "sex", "amount_wan"])
def test_registered(name: str) -> None:
    out = get_standardiser(name)(pa.array(["x", None]))
    assert len(out.value) == len(out.status) == 2


ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(st.text(alphabet=ORG_CHARS, min_size=8, max_size=8), st.data())
def test_org_code_check_catches_digit_substitution(body: str, data: st.DataObject) -> None:
    # letters are valued 10..35, so a letter <-> digit swap 11 apart (F=15 <-> 4) is not
    # caught by a mod-11 check: only digit-for-digit substitutions are guaranteed
    code = body + org_check_char(body)
    assert codes([code])[0][:3] == (code, "ok", "org_code")
    digit_positions = [i for i in range(8) if code[i].isdigit()]
    if not digit_positions:
        return
    pos = data.draw(st.sampled_from(digit_positions))
    char = data.draw(st.sampled_from([c for c in "0123456789" if c != code[pos]]))
    assert codes([code[:pos] + char + code[pos + 1 :]])[0][1] == "bad_check"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(st.text(alphabet="0123456789", min_size=14, max_size=14), st.data())
def test_registration_number_check_catches_substitution(body: str, data: st.DataObject) -> None:
    number = body + regno_check_digit(body)
    assert codes([number])[0][:3] == (number, "ok", "reg_number")
    pos = data.draw(st.integers(0, 14))
    char = data.draw(st.sampled_from([c for c in "0123456789" if c != number[pos]]))
    typo = codes([number[:pos] + char + number[pos + 1 :]])[0]
    # never an ok registration number; a typo whose last nine digits happen to pass the
    # organisation-code check reads as a tax registration number (the shapes overlap)
    assert typo[1:3] == ("bad_check", "reg_number") or typo[1:3] == ("ok_tax_number",
                                                                     "tax_number")


def test_tax_number_shares_the_org_code_of_the_credit_code() -> None:
    org_body = "71584072"
    org = org_body + org_check_char(org_body)
    body = "91440104" + org
    rows = codes([body + uscc_check_char(body), "440104" + org])
    assert rows[0][1] == "ok" and rows[1][1] == "ok_tax_number"
    assert rows[0][3] == rows[1][3] == org


def test_a_valid_registration_number_stays_one() -> None:
    # digits only, both checks could pass: the registration number's reading wins
    for number in ("110108000000016", "140000100028286"):
        assert standardise_code_text(number)[2] == "reg_number"
