"""The general comparators: distances (numbers, dates, edit counts), token sets, arrays,
expressions and cross-column comparisons. Hand-checked levels, and a Hypothesis property
per comparator: the whole-column stage gives the level a plain per-pair reference gives."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.match.comparators import pairs_from_lists, similarity
from linkage.match.compare import Comparison, compare


def _levels(columns: dict[str, list[str | None]], pairs: list[tuple[int, int]],
            comp: Comparison) -> list[int]:
    n = len(next(iter(columns.values())))
    recs = pa.table({"record_id": pa.array(range(n), pa.int64()),
                     **{k: pa.array(v, pa.string()) for k, v in columns.items()}})
    table = pa.table({"id_l": [p[0] for p in pairs], "id_r": [p[1] for p in pairs]})
    return compare(recs, table, [comp]).column(f"gamma_{comp.name}").to_pylist()


def test_abs_diff_levels_are_distances() -> None:
    comp = Comparison(name="price", field="p", method="abs_diff", within=(5, 1))
    values = ["10", "10.5", "14", "16", "ten", None, "10.0"]
    got = _levels({"p": values}, [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 0)], comp)
    # within 1 -> 2; within 5 -> 1; 6 apart -> 0; not a number / null -> -1; "10.0" is 10
    assert got == [2, 1, 0, -1, -1, 2, 3]
    assert comp.describe_levels()[2:4] == ["p within 5", "p within 1"]


def test_date_diff_in_days_months_and_years() -> None:
    values = ["2001-01-31", "2001-02-01", "2001-03-15", "2003-01-30", "2001-02-30", "31/01/2001"]
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    days = Comparison(name="d", field="d", method="date_diff", within=(1, 60))
    assert _levels({"d": values}, pairs, days) == [2, 1, 0, -1, -1]
    months = Comparison(name="d", field="d", method="date_diff", unit="months", within=(1,))
    assert _levels({"d": values}, pairs, months) == [1, 0, 0, -1, -1]
    years = Comparison(name="d", field="d", method="date_diff", unit="years", within=(2,))
    assert _levels({"d": values}, pairs, years) == [1, 1, 1, -1, -1]
    assert years.describe_level(1) == "d within 2 years"


def test_edit_counts_as_levels() -> None:
    comp = Comparison(name="s", field="s", method="levenshtein", within=(1, 2))
    values = ["smith", "smyth", "smithe", "smoth3", "jones"]
    got = _levels({"s": values}, [(0, 1), (0, 2), (0, 3), (0, 4)], comp)
    assert got == [2, 2, 1, 0]  # 1 edit, 1 edit, 2 edits, 5 edits
    damerau = Comparison(name="s", field="s", method="damerau_levenshtein", within=(1,))
    assert _levels({"s": ["smith", "simth"]}, [(0, 1)], damerau) == [1]  # a transposition
    plain = Comparison(name="s", field="s", method="levenshtein", within=(1,))
    assert _levels({"s": ["smith", "simth"]}, [(0, 1)], plain) == [0]  # two substitutions


def test_token_jaccard_does_not_score_a_subset_as_a_full_match() -> None:
    left = ["joes pizza", "joes pizza", "joes pizza", "a b c d"]
    right = ["joes pizza bar", "pizza joes", "bar", "a"]
    uniques, a, b = pairs_from_lists(left, right)
    sims = similarity("token_jaccard", uniques, a, b)
    assert [round(float(x), 4) for x in sims] == [0.6667, 1.0, 0.0, 0.25]
    token_set = similarity("token_set", uniques, a, b)
    assert float(token_set[0]) == 1.0  # the rapidfuzz ratio it replaces for this purpose


def test_array_intersect_counts_shared_items() -> None:
    comp = Comparison(name="authors", field="a", method="array_intersect", min_shared=(1, 2))
    values = ["smith j; doe a", "doe a;smith j ", "doe a | roe b", "kim c", ";"]
    got = _levels({"a": values}, [(0, 1), (0, 2), (0, 3), (0, 4)], comp)
    assert got == [2, 1, 0, -1]  # same two (order-free): 2 shared; 1 shared; none; no item
    assert comp.describe_level(2) == "a shares >= 2 items"


def test_expressions_lower_first_token_and_substring() -> None:
    first = Comparison(name="f", field="n", method="exact", transform=("lower", "first_token"))
    values = ["John Smith", "john  SMYTHE", "Jon Smith", "   "]
    assert _levels({"n": values}, [(0, 1), (0, 2), (0, 3)], first) == [1, 0, -1]
    zip3 = Comparison(name="z", field="z", method="exact", transform=("digits", "substring:0:3"))
    assert _levels({"z": ["SW1A-902", "902 10", "abc"]}, [(0, 1), (0, 2)], zip3) == [0, -1]
    assert _levels({"z": ["90210", "902-99"]}, [(0, 1)], zip3) == [1]


def test_cross_column_swapped_names_and_former_names() -> None:
    columns: dict[str, list[str | None]] = {
        "first": ["john", "smith", "jon", "mary", "ann"],
        "last": ["smith", "john", "smith", "jones", None],
        "former": [None, None, None, None, "mary jones"],
        "name": ["john smith", "smith john", "jon smith", "mary jones", "ann lee"],
    }
    swap = Comparison(name="swap", field="first", other_field="last", method="exact",
                      cross="both")
    assert _levels(columns, [(0, 1), (0, 2), (0, 3), (0, 4)], swap) == [1, 0, 0, -1]
    former = Comparison(name="former", field="former", other_field="name", method="exact")
    assert _levels(columns, [(3, 4), (0, 4), (0, 1)], former) == [1, 0, -1]


def test_a_cross_agreement_explains_the_plain_disagreement_and_may_link() -> None:
    recs = pa.table({"record_id": pa.array(range(4), pa.int64()),
                     "name": ["王小明", "王伟明", "李娜", "王伟明"],
                     "former": [None, "王小明", None, None],
                     "code": ["110105012345675", "91110105MA01A0BX2H", None, "110105012345670"],
                     "code__status": ["ok", "ok", None, "bad_check"],
                     "reg": [None, "110105012345675", None, None],
                     "reg__status": [None, "ok", None, None]})
    pairs = pa.table({"id_l": [0, 0, 1, 1], "id_r": [1, 2, 2, 3]})
    name = Comparison(name="name", field="name", method="exact")
    former = Comparison(name="former", field="former", other_field="name", method="exact",
                        explains=True)
    out = compare(recs, pairs, [name, former])
    # 王小明 is record 1's former name: the names' disagreement is explained (null); an
    # equal current name stays what it is
    assert out.column("gamma_former").to_pylist() == [1, -1, 0, 0]
    assert out.column("gamma_name").to_pylist() == [-1, 0, 0, 1]
    plain = compare(recs, pairs, [name, dataclasses.replace(former, explains=False)])
    assert plain.column("gamma_name").to_pylist() == [0, 0, 0, 1]
    # a valid registration number in its own column equal to another's valid code: a
    # must-link either way round; another number is none
    reg = Comparison(name="reg", field="reg", other_field="code", method="exact",
                     must_link=True)
    flags = compare(recs, pa.table({"id_l": [0, 1, 3], "id_r": [1, 0, 1]}), [reg])
    assert flags.column("ml_reg").to_pylist() == [True, True, False]


@pytest.mark.parametrize("bad", [
    {"method": "abs_diff"},
    {"method": "jaro_winkler", "within": (1.0,)},
    {"method": "levenshtein", "within": (1.0,), "thresholds": (0.9,)},
    {"method": "exact", "min_shared": (1,)},
    {"method": "exact", "transform": ("soundex",)},
    {"method": "exact", "transform": ("substring:3:1",)},
    {"method": "exact", "other_field": "x", "must_link": True, "cross": "both"},
    {"method": "exact", "other_field": "x", "cannot_link": True},
    {"method": "exact", "explains": True},
])
def test_inconsistent_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Comparison(name="c", field="f", **bad)  # type: ignore[arg-type]


# --- the whole-column stage against a per-pair reference ------------------------------------


def _edits(x: str, y: str) -> int:
    row = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        prev, row[0] = row[0], i
        for j, cy in enumerate(y, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (cx != cy))
    return row[-1]


def _number(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _date(v: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        return None


def _reference(comp: Comparison, x: str | None, y: str | None) -> int:
    """One pair's level, the slow and obvious way."""
    if not x or not y:
        return -1
    if x == y:
        return comp.top_level
    if comp.method == "abs_diff":
        a, b = _number(x), _number(y)
        return -1 if a is None or b is None else sum(abs(a - b) <= w for w in comp.within)
    if comp.method == "date_diff":
        c, d = _date(x), _date(y)
        return -1 if c is None or d is None else sum(abs((c - d).days) <= w
                                                     for w in comp.within)
    if comp.method == "levenshtein":
        return sum(_edits(x, y) <= w for w in comp.within)
    if comp.method == "array_intersect":
        sx = {t.strip() for t in x.replace("|", ";").replace(",", ";").split(";")} - {""}
        sy = {t.strip() for t in y.replace("|", ";").replace(",", ";").split(";")} - {""}
        if not sx or not sy:
            return -1
        return sum(len(sx & sy) >= k for k in comp.min_shared)
    sx, sy = set(x.split()), set(y.split())
    return sum(len(sx & sy) / len(sx | sy) >= t for t in comp.levels_thresholds)


_CASES = {
    "abs_diff": (Comparison(name="c", field="v", method="abs_diff", within=(0.5, 2, 10)),
                 ["1", "1.5", "2", "3.5", "12", "-1", "x", "0.5"]),
    "date_diff": (Comparison(name="c", field="v", method="date_diff", within=(1, 30, 400)),
                  ["2000-01-01", "2000-01-02", "2000-01-31", "2000-02-01", "2001-01-01",
                   "1999-12-31", "2000-02-30", "x"]),
    "levenshtein": (Comparison(name="c", field="v", method="levenshtein", within=(1, 2)),
                    ["smith", "smyth", "smithe", "smoth3", "jones", "jone", "s"]),
    "token_jaccard": (Comparison(name="c", field="v", method="token_jaccard"),
                      ["joes pizza", "joes pizza bar", "pizza joes", "bar", "a b c d", "a",
                       "b a"]),
    "array_intersect": (Comparison(name="c", field="v", method="array_intersect",
                                   min_shared=(1, 2)),
                        ["a;b", "b; a", "a|c", "c,d,a", "d", ";", "b;c;d"]),
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_CASES)), st.data())
def test_general_comparators_match_a_per_pair_reference(name: str, data: st.DataObject) -> None:
    comp, pool = _CASES[name]
    n = data.draw(st.integers(2, 25))
    values = data.draw(st.lists(st.sampled_from([*pool, None, ""]), min_size=n, max_size=n))
    m = data.draw(st.integers(1, 40))
    left = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    right = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    got = _levels({"v": values}, list(zip(left, right, strict=True)), comp)
    assert got == [_reference(comp, values[i], values[j]) for i, j in zip(left, right,
                                                                          strict=True)]


_NAMES = ["john", "smith", "jon", "mary", "jones", "ann", None, ""]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["either", "both"]), st.booleans(), st.data())
def test_cross_column_matches_a_per_pair_reference(cross: str, lower: bool,
                                                   data: st.DataObject) -> None:
    comp = Comparison(name="c", field="a", other_field="b", method="jaro_winkler",
                      thresholds=(0.8,), cross=cross,  # type: ignore[arg-type]
                      transform=("upper",) if lower else ())
    n = data.draw(st.integers(2, 20))
    a = data.draw(st.lists(st.sampled_from(_NAMES), min_size=n, max_size=n))
    b = data.draw(st.lists(st.sampled_from(_NAMES), min_size=n, max_size=n))
    m = data.draw(st.integers(1, 30))
    left = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    right = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    got = _levels({"a": a, "b": b}, list(zip(left, right, strict=True)), comp)

    def one_way(x: str | None, y: str | None) -> int:
        if not x or not y:
            return -1
        if x == y:
            return 2
        sim = similarity("jaro_winkler", [x, y], np.array([0]), np.array([1]))[0]
        return int(np.float32(sim) >= np.float32(0.8))

    pick = max if cross == "either" else min
    expected = [pick(one_way(a[i], b[j]), one_way(b[i], a[j]))
                for i, j in zip(left, right, strict=True)]
    assert got == expected


def test_read_columns_keeps_the_other_field_of_a_cross_comparison() -> None:
    from linkage.match.compare import read_columns

    comp = Comparison(name="c", field="former", other_field="name", method="exact")
    assert read_columns(["record_id", "name", "former", "city"], [comp]) == [
        "record_id", "name", "former"]
