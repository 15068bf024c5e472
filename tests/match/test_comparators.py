"""Comparators' fast paths against their plain references: Arrow input against Python
lists, buffer-read byte matrices against NumPy's fixed-width strings, Arrow regexes against
Python's, vectorised checks against per-pair loops, and the compare stage's levels-only
mode against its full output."""

from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process

from linkage.match.comparators import METHODS, similarity
from linkage.match.comparators.dates import _parse, _prepare
from linkage.match.comparators.identifiers import _char_matrix
from linkage.match.comparators.names import (
    _DOTS,
    _DOTS_ARROW,
    _PLACEHOLDERS,
    _placeholder_equal,
    address_similarity,
)
from linkage.match.comparators.strings import scoring_workers
from linkage.match.compare import Comparison, compare

_ALPHABET = ("0123456789Xx*-/ 张章伟玮王已己·.．()（）有限公司分公司省市区县路号?？□abc"
             "\u3000\xa0\t")
_TEXT = st.text(alphabet=_ALPHABET, max_size=20)


def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([i for i in range(n) for j in range(n) if i != j], dtype=np.int64)
    b = np.array([j for i in range(n) for j in range(n) if i != j], dtype=np.int64)
    return a, b


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(METHODS)), st.lists(_TEXT, min_size=2, max_size=10))
def test_arrow_values_score_like_python_lists(method: str, values: list[str]) -> None:
    """The compare stage hands comparators an Arrow array; every method must score it
    exactly as it scores the same values given as a list."""
    a, b = _all_pairs(len(values))
    from_list = similarity(method, values, a, b)
    from_arrow = similarity(method, pa.array(values, pa.string()), a, b)
    np.testing.assert_array_equal(from_list, from_arrow)


_ID_LIKE = st.text(alphabet="0123456789Xx*- 张", max_size=22)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ID_LIKE, min_size=1, max_size=12), st.sampled_from([9, 10, 18]),
       st.integers(0, 3))
def test_buffer_matrix_matches_numpy_strings(values: list[str], width: int, skip: int) -> None:
    """Byte matrices read from Arrow buffers (fixed width or not, sliced or not) equal the
    NumPy fixed-width-string path, full lengths included."""
    arrow = pa.array(["pad"] * skip + values, pa.string()).slice(skip)
    fast_matrix, fast_lengths = _char_matrix(arrow, width)
    slow_matrix, slow_lengths = _char_matrix(values, width)
    np.testing.assert_array_equal(fast_matrix, slow_matrix)
    np.testing.assert_array_equal(fast_lengths, slow_lengths)


def test_buffer_matrix_of_fixed_width_ids() -> None:
    ids = pa.array(["11010519491231002X", "110***19491231002X", "440524188001010014"])
    matrix, lengths = _char_matrix(ids, 18)
    assert lengths.tolist() == [18, 18, 18]
    assert bytes(matrix[1]).decode() == "110***19491231002X"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%Y%m%d")),
    st.text(alphabet="0123456789-/ ", max_size=12),
    st.text(alphabet="0123456789-", min_size=10, max_size=10),
), min_size=1, max_size=12))
def test_dates_read_off_the_matrix_like_the_parser(values: list[str]) -> None:
    year, month, month_day, swapped, _ = _prepare(pa.array(values, pa.string()))
    expected = np.asarray([_parse(v) for v in values], dtype=np.int64).reshape(-1, 3)
    assert year.tolist() == expected[:, 0].tolist()
    assert month.tolist() == expected[:, 1].tolist()
    assert month_day.tolist() == (expected[:, 1] * 100 + expected[:, 2]).tolist()
    assert swapped.tolist() == (expected[:, 2] * 100 + expected[:, 1]).tolist()


def test_a_date_with_overlong_parts_is_no_date() -> None:
    """Found by the property test: ``0-0-22000000`` once read as day 22,000,000 and
    overflowed day*100+month in int32."""
    year, month, month_day, swapped, _ = _prepare(
        pa.array(["0-0-22000000", "12345-01-02", "2001-1-2", "2001-01-02"], pa.string()))
    assert year.tolist() == [0, 0, 2001, 2001]
    assert month.tolist() == [0, 0, 1, 1]
    assert month_day.tolist() == [0, 0, 102, 102]
    assert swapped.tolist() == [0, 0, 201, 201]


def test_arrow_dots_class_is_pythons() -> None:
    """RE2's ``\\s`` is ASCII only: the spelled-out class must drop exactly what Python's
    Unicode ``\\s`` drops (every str.isspace() character), plus the dots."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    samples = [f"张{c}伟" for c in [*spaces, "·", "•", "・", ".", "．", "x", "\u200b", "_"]]
    arrow = pc.replace_substring_regex(pa.array(samples), _DOTS_ARROW, "").to_pylist()
    assert arrow == [_DOTS.sub("", v) for v in samples]


def _placeholder_reference(x: str, y: str) -> bool:
    return len(x) == len(y) and all(
        p == q or p in _PLACEHOLDERS or q in _PLACEHOLDERS for p, q in zip(x, y, strict=True))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="张伟李明?？□a\x00", max_size=5), min_size=2, max_size=8))
def test_placeholder_equality_matches_the_per_pair_rule(values: list[str]) -> None:
    a, b = _all_pairs(len(values))
    objects = np.asarray(values, dtype=object)
    has = np.asarray([any(c in _PLACEHOLDERS for c in v) for v in values], dtype=bool)
    got = _placeholder_equal(objects, has, a, b)
    expected = [bool(has[i] or has[j]) and _placeholder_reference(values[i], values[j])
                for i, j in zip(a.tolist(), b.tolist(), strict=True)]
    assert got.tolist() == expected


def test_address_floor_skips_scoring_without_changing_levels() -> None:
    values = ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "朝阳区建国路88号",
              "北京市朝阳区建国路88号1单元", "吉林省长春市朝阳区人民大街1号"]
    derived = {"county_code": pa.array(["110105", "220104", "110105", "110105", "220104"]),
               "detail": pa.array(["建国路88号", "建国路88号", "建国路88号", "建国路88号1单元",
                                   "人民大街1号"])}
    a, b = _all_pairs(len(values))
    full = address_similarity(pa.array(values), a, b, derived)
    floored = address_similarity(pa.array(values), a, b, derived, floor=0.7)
    thresholds = np.asarray([0.7, 0.85, 0.95], dtype=np.float32)
    np.testing.assert_array_equal(np.searchsorted(thresholds, full, side="right"),
                                  np.searchsorted(thresholds, floored, side="right"))
    county = np.asarray([1, 2, 1, 1, 2])
    elsewhere = county[a] != county[b]
    assert (floored[elsewhere] == np.float32(0.69)).all()  # not scored: the cap
    np.testing.assert_array_equal(full[~elsewhere], floored[~elsewhere])
    # a floor at or below the cap must not skip anything
    np.testing.assert_array_equal(full, address_similarity(pa.array(values), a, b, derived,
                                                           floor=0.5))


def test_levels_only_is_the_default_and_matches_the_full_output() -> None:
    rng = np.random.default_rng(5)
    n = 80
    addresses = ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "朝阳区建国路88号",
                 "北京市朝阳区建国路88号1单元", None, ""]
    counties = ["110105", "220104", "110105", "110105", None, None]
    ids = ["11010519491231002X", "110105491231002", "110***19491231002X", None, "",
           "440524188001010014", "11010519491231003x", "1101051949123100"]
    pick_a = rng.integers(0, len(addresses), n)
    recs = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "address": pa.array([addresses[i] for i in pick_a], pa.string()),
        "address__county_code": pa.array([counties[i] for i in pick_a], pa.string()),
        "id": pa.array([ids[i] for i in rng.integers(0, len(ids), n)], pa.string()),
    })
    pairs = pa.table({"id_l": rng.integers(0, n, 400), "id_r": rng.integers(0, n, 400)})
    comps = [Comparison(name="a", field="address", method="address"),
             Comparison(name="i", field="id", method="id_number", cannot_link=True)]
    levels_only = compare(recs, pairs, comps)
    full = compare(recs, pairs, comps, similarities=True)
    assert not [c for c in levels_only.column_names if c.startswith("sim_")]
    assert {"sim_a", "sim_i"} <= set(full.column_names)
    for name in levels_only.column_names:
        np.testing.assert_array_equal(levels_only.column(name).to_numpy(),
                                      full.column(name).to_numpy(), err_msg=name)


def test_non_ascii_id_values_take_the_general_path_with_the_same_levels() -> None:
    """A column holding one non-ASCII value is read through NumPy strings, not the
    buffers; the other pairs' levels must not change."""
    base = ["11010519491231002X", "110105491231002", "110***19491231002X", None, "",
            "11010519491231003X", "11010519941231002X", "11010519491231002x"]
    pairs = pa.table({"id_l": [0, 0, 0, 0, 0, 0, 0, 1, 2],
                      "id_r": [1, 2, 3, 4, 5, 6, 7, 2, 5]})
    comp = Comparison(name="i", field="id", method="id_number")

    def levels(values: list[str | None]) -> list[int]:
        recs = pa.table({"record_id": pa.array(range(len(values)), pa.int64()),
                         "id": pa.array(values, pa.string())})
        return [int(v) for v in compare(recs, pairs, [comp]).column("gamma_i").to_pylist()]

    ascii_levels = levels(base)
    # upgrade-equal 2, masked 2, null and blank -1, substitution and transposition 1,
    # lower-case x equal after upgrade 2, legacy vs masked 2, masked vs one digit off 0
    assert ascii_levels == [2, 2, -1, -1, 1, 1, 2, 2, 0]
    assert levels([*base, "张"]) == ascii_levels


def test_scoring_workers_reach_rapidfuzz(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = process.cpdist

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(int(kwargs["workers"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(process, "cpdist", spy)
    a, b = np.array([0], dtype=np.int64), np.array([1], dtype=np.int64)
    similarity("jaro_winkler", ["martha", "marhta"], a, b)
    with scoring_workers(1):
        similarity("jaro_winkler", ["martha", "marhta"], a, b)
    similarity("jaro_winkler", ["martha", "marhta"], a, b)
    assert seen == [-1, 1, -1]


def test_dots_pattern_is_unchanged() -> None:
    assert _DOTS.pattern == r"[·•・.．\s]+"
    assert re.compile(_DOTS_ARROW).sub("", "买买提\u3000·艾力") == "买买提艾力"


def test_two_counties_settle_as_else_only_below_the_lowest_threshold() -> None:
    """Pairs in two counties skip scoring when the 0.69 cap is below the lowest
    threshold; with a lower threshold the capped similarity is a level of its own."""
    recs = pa.table({
        "record_id": pa.array(range(4), pa.int64()),
        "address": ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "北京市朝阳区建国路88号",
                    "上海市朝阳区建国路88号"],
        "address__county_code": ["110105", "220104", "110105", None],
    })
    pairs = pa.table({"id_l": [0, 0, 1, 1], "id_r": [1, 2, 2, 3]})
    default = Comparison(name="a", field="address", method="address")
    low = Comparison(name="a", field="address", method="address", thresholds=(0.6, 0.9))
    # two counties: else (0.69 < 0.7); exact: top; a county unknown on one side: the
    # text decides (same street once the city is dropped: 0.9)
    for similarities in (False, True):
        assert compare(recs, pairs, [default], similarities=similarities).column(
            "gamma_a").to_pylist() == [0, 4, 0, 2]
        assert compare(recs, pairs, [low], similarities=similarities).column(
            "gamma_a").to_pylist() == [1, 3, 1, 2]


def test_two_counties_follow_the_values_derived_column() -> None:
    """Derived columns are read once per distinct value (one representative row), and the
    gather-pass shortcut reads them the same way: levels do not depend on the mode even
    when a value's rows disagree on the county."""
    recs = pa.table({
        "record_id": pa.array(range(3), pa.int64()),
        "address": ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "北京市朝阳区建国路88号"],
        "address__county_code": ["110105", "220104", None],
    })
    pairs = pa.table({"id_l": [0, 0, 1], "id_r": [1, 2, 2]})
    comp = Comparison(name="a", field="address", method="address")
    levels = compare(recs, pairs, [comp]).column("gamma_a").to_pylist()
    assert levels == compare(recs, pairs, [comp], similarities=True).column(
        "gamma_a").to_pylist()


def test_a_null_row_never_stands_for_a_value() -> None:
    """Derived columns are read from one row per value; a null row (code -1) must not
    take the last value's place (NumPy reads index -1 as the last slot)."""
    recs = pa.table({
        "record_id": pa.array(range(3), pa.int64()),
        "name": ["单伟", "善伟", None],
        "name__pinyin": ["shan wei", "shan wei", None],
    })
    pairs = pa.table({"id_l": [0], "id_r": [1]})
    comp = Comparison(name="n", field="name", method="person_name")
    out = compare(recs, pairs, [comp], similarities=True)
    assert out.column("sim_n").to_pylist() == [pytest.approx(0.92)]  # homophones
    assert out.column("gamma_n").to_pylist() == [2]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.text(alphabet="己已巳王玉大太犬张伟a", max_size=4), min_size=1, max_size=10,
                unique=True))
def test_folded_codes_equal_exactly_when_folded_values_do(values: list[str]) -> None:
    from linkage.match.comparators.names import _LOOKALIKE_TABLE, _codes, _folded_codes

    arrow = pa.array(values, pa.string())
    codes = _folded_codes(arrow, _codes(arrow)).tolist()
    folded = [v.translate(_LOOKALIKE_TABLE) for v in values]
    for i in range(len(values)):
        for j in range(len(values)):
            assert (codes[i] == codes[j]) == (folded[i] == folded[j])


def test_few_person_names_prepare_as_many_do() -> None:
    """A handful of names (a resolver's candidates) is prepared in plain Python; the keys
    give the same similarities as the Arrow preparation of a long list holding them."""
    from linkage.match.comparators import names

    few = ["买买提·艾力", "艾力买买提", "张 伟", "张伟", "章伟", "王己", "王已", "李?明",
           "李晓明", "Zhang Wei", "zhang.wei", "欧阳 娜娜", "娜娜·欧阳"]
    pinyin = [None, "", "zhang wei", None, "zhang wei", None, None, None, None, None, None,
              None, None]
    n = len(few)
    a, b = np.triu_indices(n, 1)
    filler = [f"填充{i}" for i in range(names._FEW + 1)]  # forces the Arrow path
    for derived in ({}, {"pinyin": pinyin}):
        small = similarity("person_name", few, a, b, derived)
        big_derived = {k: [*v, *[None] * len(filler)] for k, v in derived.items()}
        big = similarity("person_name", [*few, *filler], a, b, big_derived)
        assert np.array_equal(small, big)
    assert (small == np.float32(0.97)).any() and (small == np.float32(0.92)).any()


def test_few_addresses_prepare_as_many_do() -> None:
    """A handful of addresses is prepared in plain Python, with the same similarities as
    the Arrow preparation of a long list holding them (with and without the divisions)."""
    from linkage.match.comparators import names

    few = ["北京市朝阳区建国路88号", "朝阳区建国路88号", "北京市 朝阳区 建国路 88号",
           "吉林省长春市朝阳区建国路88号", "北京市朝阳区建国路8号", "上海市浦东新区世纪大道1号",
           "浦东新区世纪大道1号", "新疆维吾尔自治区乌鲁木齐市天山区解放路1号"]
    county = ["110105", "110105", "110105", "220104", "110105", "310115", None, "650102"]
    detail = ["建国路88号", "建国路88号", "建国路88号", "建国路88号", "建国路8号",
              "世纪大道1号", "世纪大道1号", ""]
    a, b = np.triu_indices(len(few), 1)
    filler = [f"某省某市某区某路{i}号" for i in range(names._FEW + 1)]
    for derived in ({}, {"county_code": county, "detail": detail}):
        for floor in (None, 0.7):
            small = similarity("address", few, a, b, derived, floor=floor)
            big_derived = {k: [*v, *[None] * len(filler)] for k, v in derived.items()}
            big = similarity("address", [*few, *filler], a, b, big_derived, floor=floor)
            assert np.array_equal(small, big)
    assert (small == np.float32(0.97)).any() and (small == np.float32(0.69)).any()
