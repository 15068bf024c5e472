"""Building blocks of the generator: date arithmetic, value corruptions, xlsx columns."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from linkage.standardisers.checksums import id_is_valid
from linkage.synth import corrupt, words
from linkage.synth.columns import EPOCH, civil, date_strings, set_rows
from linkage.synth.writers import _column_letters, _dates

VALID_ID = "11010519491231002X"


@given(st.integers(-40_000, 60_000))
def test_civil_matches_the_calendar(days: int) -> None:
    y, m, d = civil(np.array([days]))
    expected = EPOCH + timedelta(days=days)
    assert (int(y[0]), int(m[0]), int(d[0])) == (expected.year, expected.month, expected.day)


def test_date_styles_and_nulls() -> None:
    days = np.array([(date(1985, 3, 2) - EPOCH).days, -99999])
    assert date_strings(days, "iso").to_pylist() == ["1985-03-02", None]
    assert date_strings(days, "chinese").to_pylist() == ["1985年3月2日", None]
    assert _dates(pa.array(["1985-03-02", None, "not a date"]), "slash").to_pylist() == [
        "1985/3/2", None, "not a date"]
    assert _dates(pa.array(["1985-03-02"]), "compact").to_pylist() == ["19850302"]


@given(st.floats(0, 0.999999))
def test_typo_changes_exactly_one_digit_and_breaks_the_check(u: float) -> None:
    out = corrupt._typo("0123456789", 17)(VALID_ID, u)
    assert len(out) == 18
    assert sum(a != b for a, b in zip(out, VALID_ID, strict=True)) == 1
    assert not id_is_valid(out)


@given(st.floats(0, 0.999999))
def test_transposition_swaps_two_neighbours(u: float) -> None:
    out = corrupt._transpose(VALID_ID, u)
    diff = [i for i, (a, b) in enumerate(zip(out, VALID_ID, strict=True)) if a != b]
    assert len(diff) == 2 and diff[1] == diff[0] + 1
    assert sorted(out) == sorted(VALID_ID)


def test_identity_number_forms() -> None:
    assert corrupt._id15(VALID_ID, 0.0) == "110105491231002"
    assert corrupt._fullwidth(VALID_ID, 0.0) == "１１０１０５１９４９１２３１００２Ｘ"
    assert corrupt._spaced(VALID_ID, 0.1) == "110105 19491231 002X"
    assert corrupt._masked(VALID_ID, 0.1) == "110105********002X"


@given(st.floats(0, 0.999999))
def test_name_errors_change_one_given_character(u: float) -> None:
    for table in (words.HOMOPHONES, words.LOOKALIKES):
        out = corrupt._char_error(table)("王明华", u)
        assert out[0] == "王" and len(out) == 3
        assert sum(a != b for a, b in zip(out, "王明华", strict=True)) == 1


def test_traditional_always_changes_a_convertible_name() -> None:
    assert corrupt._traditional("周杰", 0.0) != "周杰"
    assert corrupt._traditional("刘丽华", 0.0) == "劉麗華"


def test_rare_characters_become_what_departments_write() -> None:
    outs = {corrupt._rare_replaced("张堃", u) for u in (0.1, 0.3, 0.6, 0.9)}
    assert outs == {"张?", "张□", "张坤", "张kun"}


def test_set_rows_writes_values_and_nulls() -> None:
    values = pa.array(["a", "b", "c", "d"])
    out = set_rows(values, np.array([1, 3]), ["X", None], 4)
    assert out.to_pylist() == ["a", "X", "c", None]


def test_xlsx_column_letters() -> None:
    assert [_column_letters(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A", "Z", "AA", "AB", "ZZ", "AAA"]
