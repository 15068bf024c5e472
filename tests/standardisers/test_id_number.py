"""Identity numbers: DOMAIN.md worked examples, the check's guarantees, 15 <-> 18 upgrade."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.standardisers import get_standardiser
from linkage.standardisers.checksums import id_check_char
from linkage.standardisers.id_number import (
    downgrade_18,
    standardise_id_number,
    standardise_id_text,
    upgrade_15,
)

DERIVED = ("birth_date", "sex", "division", "alt", "masked")


def run(values: list[str | None]) -> list[tuple[object, ...]]:
    out = standardise_id_number(pa.array(values, pa.string()))
    cols = [out.value, out.status, *(out.derived[k] for k in DERIVED)]
    return list(zip(*(c.to_pylist() for c in cols), strict=True))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "11010519491231002X",
            ("11010519491231002X", "ok", "1949-12-31", "F", "110105", None, False),
        ),
        (
            "440524188001010014",
            ("440524188001010014", "ok", "1880-01-01", "M", "440524", None, False),
        ),
        (
            "360426199101010071",
            ("360426199101010071", "ok", "1991-01-01", "M", "360426", None, False),
        ),
        (
            "11010519491231002x",
            ("11010519491231002X", "ok", "1949-12-31", "F", "110105", None, False),
        ),
        (
            "１１０１０５ １９４９１２３１ ００２ｘ",
            ("11010519491231002X", "ok", "1949-12-31", "F", "110105", None, False),
        ),
        (
            "110105-19491231-002X",
            ("11010519491231002X", "ok", "1949-12-31", "F", "110105", None, False),
        ),
        (
            "110105491231002",
            ("11010519491231002X", "ok_upgraded_15", "1949-12-31", "F", "110105", None, False),
        ),
        (
            "130503670401001",
            ("130503196704010016", "ok_upgraded_15", "1967-04-01", "M", "130503", None, False),
        ),
        (
            "440524800101996",
            (
                "440524188001019967",
                "ambiguous_century",
                "1880-01-01",
                "F",
                "440524",
                "440524198001019966",
                False,
            ),
        ),
        (
            "110105194912310021",
            ("110105194912310021", "bad_check", "1949-12-31", "F", "110105", None, False),
        ),
        ("11010519491231002", (None, "bad_length", None, None, None, None, False)),
        ("1101051949123100XX", (None, "bad_chars", None, None, None, None, False)),
        ("000000000000000000", (None, "placeholder", None, None, None, None, False)),
        ("111111111111111111", (None, "placeholder", None, None, None, None, False)),
        ("不详", (None, "placeholder", None, None, None, None, False)),
        ("123456789012345678", (None, "placeholder", None, None, None, None, False)),
        ("987654321098765432", (None, "placeholder", None, None, None, None, False)),
        ("123456789012345", (None, "placeholder", None, None, None, None, False)),
        ("110105********002X", ("110105********002X", "masked", None, "F", "110105", None, True)),
        (
            "110105491231***",
            ("11010519491231****", "masked", "1949-12-31", None, "110105", None, True),
        ),
        ("   ", (None, "missing", None, None, None, None, False)),
        (None, (None, "missing", None, None, None, None, False)),
    ],
)
def test_cases(raw: str | None, expected: tuple[object, ...]) -> None:
    assert run([raw]) == [expected]
    if raw is not None:
        assert standardise_id_text(raw) == expected  # scalar path agrees


def test_bad_date_with_valid_check() -> None:
    body = "11010519490230002"  # 30 February
    number = body + id_check_char(body)
    assert run([number]) == [(number, "bad_date", None, "F", "110105", None, False)]
    body = "11010517001231002"  # before 1800
    assert run([body + id_check_char(body)])[0][1] == "bad_date"


def test_historic_and_permit_divisions_accepted() -> None:
    for division in ("513229", "810000", "830000", "370000"):  # abolished county, HK, TW
        body = division + "19800101123"
        assert run([body + id_check_char(body)])[0][1] == "ok"


def test_registered() -> None:
    assert get_standardiser("id_number") is standardise_id_number
    assert run([]) == []


bodies = st.tuples(
    st.sampled_from(["110105", "440524", "360426", "513229", "810000"]),
    st.dates(
        min_value=__import__("datetime").date(1900, 1, 1),
        max_value=__import__("datetime").date(2020, 12, 31),
    ),
    st.integers(0, 995),
).map(lambda t: f"{t[0]}{t[1]:%Y%m%d}{t[2]:03d}")


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(bodies, st.data())
def test_every_substitution_flagged(body: str, data: st.DataObject) -> None:
    number = body + id_check_char(body)
    assert run([number])[0][1] == "ok"
    pos = data.draw(st.integers(0, 17))
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    char = data.draw(st.sampled_from([c for c in alphabet if c != number[pos]]))
    typo = number[:pos] + char + number[pos + 1 :]
    assert run([typo])[0][1] != "ok"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(bodies, st.integers(0, 16))
def test_every_adjacent_transposition_flagged(body: str, pos: int) -> None:
    number = body + id_check_char(body)
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    if swapped != number:
        assert run([swapped])[0][1] != "ok"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(
    st.sampled_from(["110105", "440524", "130503"]),
    st.dates(
        min_value=__import__("datetime").date(1900, 1, 1),
        max_value=__import__("datetime").date(1999, 12, 31),
    ),
    st.integers(0, 995),
)
def test_15_18_15_round_trip(division: str, day: object, seq: int) -> None:
    old = f"{division}{day:%y%m%d}{seq:03d}"
    (value, status, birth, *_rest) = run([old])[0]
    assert status == "ok_upgraded_15"
    assert isinstance(value, str) and len(value) == 18
    assert value == upgrade_15(old)
    assert run([value])[0][1] == "ok"
    assert downgrade_18(value) == old
    assert birth == f"{day:%Y-%m-%d}"


@settings(deadline=None)  # timing is not under test; the first call loads tables
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789Xx* -", max_size=20),
            bodies.map(lambda b: b + id_check_char(b)),
        ),
        max_size=30,
    )
)
def test_fast_path_matches_scalar(values: list[str | None]) -> None:
    rows = run(values)
    for raw, row in zip(values, rows, strict=True):
        expected = standardise_id_text(raw) if raw is not None else run([None])[0]
        assert row == expected
