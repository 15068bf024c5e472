"""Comparisons: hand-checked levels for every comparator and the compare stage contract."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import SchemaError
from linkage.match.comparators import METHODS, pairs_from_lists, similarity
from linkage.match.compare import Comparison, compare, read_columns


def _sims(method: str, left: list[str], right: list[str]) -> list[float]:
    uniques, a, b = pairs_from_lists(left, right)
    return [round(float(x), 4) for x in similarity(method, uniques, a, b)]


def _levels(values: list[str | None], pairs: list[tuple[int, int]], comp: Comparison) -> list[int]:
    recs = pa.table({"record_id": pa.array(range(len(values)), pa.int64()),
                     comp.field: pa.array(values, pa.string())})
    table = pa.table({"id_l": [p[0] for p in pairs], "id_r": [p[1] for p in pairs]})
    return compare(recs, table, [comp]).column(f"gamma_{comp.name}").to_pylist()


def test_id_number_levels() -> None:
    comp = Comparison(name="id", field="id", method="id_number")
    values = ["11010519491231002X", "110105491231002", "110***19491231002X",
              "11010519491231003X", "11010519941231002X", "440524188001010014", None]
    pairs = [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6)]
    # exact 3; 15-digit upgrade equal 2; masked wildcard 2; one substitution 1;
    # adjacent transposition (49 -> 94) 1; unrelated 0; null -1
    assert _levels(values, pairs, comp) == [3, 2, 2, 1, 1, 0, -1]


def test_credit_code_against_org_code_and_reg_number() -> None:
    sims = _sims("credit_code",
                 ["91350100M000100Y43", "91350100M000100Y43", "91350100M000100Y43",
                  "110108000000016"],
                 ["M000100Y4", "91350100M000100Y44", "110108000000016", "110108000000017"])
    assert sims[0] == pytest.approx(0.95)  # org code embedded at positions 9-17
    assert sims[1] == pytest.approx(0.9)   # one substitution
    assert np.isnan(sims[2])               # credit code vs registration number: not comparable
    assert sims[3] == pytest.approx(0.9)


def test_tax_registration_number_meets_the_credit_code_through_its_org_code() -> None:
    from linkage.standardisers.checksums import uscc_check_char

    body = "91440104715840724"  # a credit code embedding the organisation code 715840724
    credit = body + uscc_check_char(body)
    sims = _sims("credit_code",
                 ["440104715840724", "440104715840724", "440104715840724", "44030668241207X"],
                 [credit, "715840724", "91350100M000100Y43", "9144030668241207X0"])
    assert sims[0] == pytest.approx(0.95)  # same organisation code inside both
    assert sims[1] == pytest.approx(0.95)  # the organisation code itself
    assert sims[2] < 0.85                  # another enterprise
    assert sims[3] == pytest.approx(0.95)  # letters in it: a tax number whatever its check


def test_date_levels() -> None:
    sims = _sims("date", ["1990-03-04", "1990-03-04", "1990-03-04", "1990-03-04", "1990-03-04"],
                 ["1990-04-03", "1990-03-05", "1990-03-21", "1990-11-21", "1985-07-09"])
    assert sims == [0.9, 0.9, 0.75, 0.5, 0.0]


def test_person_name_levels() -> None:
    sims = _sims("person_name",
                 ["买买提·艾力", "张伟", "王己", "张伟", "李?明", "张伟"],
                 ["艾力.买买提", "章伟", "王已", "张玮", "李晓明", "李娜"])
    assert sims[0] == pytest.approx(0.97)  # part order and dot variant
    assert sims[1] == pytest.approx(0.92)  # homophone (zhang wei)
    assert sims[2] == pytest.approx(0.92)  # look-alike characters
    assert sims[3] == pytest.approx(0.92)  # 伟/玮 are homophones too
    assert sims[4] == pytest.approx(0.97)  # rare-character placeholder
    assert sims[5] < 0.8


def test_enterprise_name_levels() -> None:
    sims = _sims("enterprise_name",
                 ["深圳市腾讯计算机系统有限公司", "腾讯计算机系统有限公司",
                  "联想（北京）有限公司", "中国银行股份有限公司", "阿里巴巴网络有限公司"],
                 ["腾讯计算机系统有限责任公司", "腾讯计算机系统股份有限公司",
                  "联想（上海）有限公司", "中国银行股份有限公司北京分行", "阿里网络有限公司"])
    assert sims[0] == pytest.approx(0.97)  # region prefix dropped, equivalent legal form
    assert sims[1] == pytest.approx(0.9)   # same core, other legal form
    assert sims[2] <= 0.6                  # different bracketed region: another entity
    assert sims[3] <= 0.6                  # branch vs head office
    assert sims[4] < 0.9                   # 阿里巴巴 is not the prefecture 阿里


def test_address_levels() -> None:
    sims = _sims("address", ["广东省深圳市南山区科技园路1号", "北京市朝阳区建国路88号"],
                 ["深圳市南山区科技园路1号", "上海市徐汇区漕溪北路1号"])
    assert sims[0] == pytest.approx(0.9)
    assert sims[1] < 0.7


def test_string_methods_and_thresholds() -> None:
    comp = Comparison(name="n", field="n", method="jaro_winkler", thresholds=(0.8, 0.9))
    values = ["martha", "marhta", "dixon", "dicksonx", "zzz", None]
    # jw(martha, marhta) = 0.961 -> 2 ; jw(dixon, dicksonx) = 0.813 -> 1; exact 3; else 0
    assert _levels(values, [(0, 1), (2, 3), (0, 0), (0, 4), (0, 5)], comp) == [2, 1, 3, 0, -1]


def test_numeric_similarity() -> None:
    sims = _sims("numeric", ["100", "100", "abc"], ["90", "50", "5"])
    assert sims[:2] == [0.9, 0.5] and np.isnan(sims[2])


def test_compare_outputs_tf_and_rule_columns() -> None:
    recs = pa.table({
        "record_id": pa.array([10, 11, 12, 13], pa.int64()),
        "id": ["11010519491231002X", "11010519491231002X", "440524188001010014", None],
        "id__status": ["ok", "ok", "ok", "missing"],
    })
    pairs = pa.table({"id_l": [10, 10, 10], "id_r": [11, 12, 13]})
    comp = Comparison(name="id", field="id", method="id_number", term_frequency=True,
                      must_link=True, cannot_link=True)
    out = compare(recs, pairs, [comp])
    assert out.column("gamma_id").type == pa.int8()
    assert out.column("ml_id").to_pylist() == [True, False, False]
    assert out.column("cl_id").to_pylist() == [False, True, False]
    tf = out.column("tf_id").to_pylist()
    assert tf[0] == pytest.approx(2 / 3) and tf[1] == pytest.approx(2 / 3)


def test_compare_is_symmetric() -> None:
    values = ["张伟", "章伟", "王芳", "张玮", None]
    comp = Comparison(name="n", field="n", method="person_name")
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j]
    levels = _levels(values, pairs, comp)
    lookup = dict(zip(pairs, levels, strict=True))
    assert all(lookup[(i, j)] == lookup[(j, i)] for i, j in pairs)


def test_unknown_record_and_missing_field_are_schema_errors() -> None:
    recs = pa.table({"record_id": pa.array([0, 1], pa.int64()), "n": ["a", "b"]})
    comp = Comparison(name="n", field="n", method="exact")
    with pytest.raises(SchemaError, match="record_id 5"):
        compare(recs, pa.table({"id_l": [0], "id_r": [5]}), [comp])
    with pytest.raises(SchemaError, match="missing"):
        compare(recs, pa.table({"id_l": [0], "id_r": [1]}),
                [Comparison(name="x", field="name__pinyin", method="exact")])


def test_cannot_link_only_for_comparable_different_valid_codes() -> None:
    recs = pa.table({
        "record_id": pa.array(range(5), pa.int64()),
        "cc": ["91350100M000100Y43", "M000100Y4", "110108000000016", "91110000600037341L",
               "91350100M000100Y43"],
        "cc__status": ["ok", "ok", "ok", "ok", "ok"],
    })
    pairs = pa.table({"id_l": [0, 0, 0, 0], "id_r": [1, 2, 3, 4]})
    comp = Comparison(name="cc", field="cc", method="credit_code", must_link=True,
                      cannot_link=True)
    out = compare(recs, pairs, [comp])
    # org code inside the credit code: no conflict; registration number: not comparable;
    # two different valid credit codes: conflict; same code: must link
    assert out.column("cl_cc").to_pylist() == [False, False, True, False]
    assert out.column("ml_cc").to_pylist() == [False, False, False, True]
    assert out.column("gamma_cc").to_pylist() == [2, -1, 0, 3]


def test_person_name_uses_the_standardisers_pinyin_when_present() -> None:
    recs = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "name": ["单伟", "善伟", "单伟"],
        # the standardiser's surname table reads 单 as shan: a homophone of 善
        "name__pinyin": ["shan wei", "shan wei", "shan wei"],
    })
    comp = Comparison(name="n", field="name", method="person_name")
    pairs = pa.table({"id_l": [0], "id_r": [1]})
    with_derived = compare(recs, pairs, [comp], similarities=True).column("sim_n").to_pylist()
    without = compare(recs.drop_columns(["name__pinyin"]), pairs, [comp],
                      similarities=True).column("sim_n")
    assert with_derived == [pytest.approx(0.92)]
    assert without.to_pylist()[0] < 0.9  # pypinyin alone reads 单 as dan


def test_read_columns_is_everything_compare_reads() -> None:
    recs = pa.table({
        "record_id": pa.array(range(4), pa.int64()),
        "source": ["a", "b", "a", "b"],
        "name": ["单伟", "善伟", "单伟", "王芳"],
        "name__pinyin": ["shan wei", "shan wei", "shan wei", "wang fang"],
        "name__status": ["ok", "ok", "ok", "ok"],
        "id": ["11010519491231002X", "11010519491231002X", "110105194912310029", None],
        "id__status": ["ok", "bad_check", "ok", "missing"],
        "id__masked": [False, False, True, False],
        "address": ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "朝阳区建国路88号",
                    "北京市朝阳区建国路88号1单元"],
        "address__county_code": ["110105", "220104", "110105", "110105"],
        "address__detail": ["建国路88号", "建国路88号", "建国路88号", "建国路88号1单元"],
        "unrelated": ["x", "y", "z", "w"],
    })
    comps = [Comparison(name="n", field="name", method="person_name"),
             Comparison(name="i", field="id", method="id_number", must_link=True,
                        cannot_link=True),
             Comparison(name="a", field="address", method="address")]
    read = read_columns(recs.column_names, comps)
    assert set(recs.column_names) - set(read) == {"source", "name__status", "unrelated"}
    pairs = pa.table({"id_l": [0, 0, 0, 1, 2], "id_r": [1, 2, 3, 2, 3]})

    def outcome(table: pa.Table) -> str:  # (a NaN similarity is unequal to itself)
        return str(compare(table, pairs, comps, similarities=True).to_pydict())

    # compare on the selected columns gives what it gives on the whole table: pinyin,
    # statuses, the county code and the detail all reach it
    assert outcome(recs.select(read)) == outcome(recs)
    # and dropping any one of them changes the result (each is really read)
    for column in set(read) - {"record_id", "name", "id", "address"}:
        assert outcome(recs.drop_columns([column])) != outcome(recs), column


_ALPHABET = "0123456789Xx*-/ 张章伟玮王已己·.()（）有限公司分公司省市区路号?□abc"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(METHODS)),
       st.lists(st.text(alphabet=_ALPHABET, max_size=20), min_size=2, max_size=12))
def test_every_method_is_total_bounded_and_symmetric(method: str, values: list[str]) -> None:
    """Any string (a bad value included) gets a similarity in [0, 1] or NaN, never an
    exception, and similarity(a, b) == similarity(b, a)."""
    n = len(values)
    a = np.array([i for i in range(n) for j in range(n) if i != j], dtype=np.int64)
    b = np.array([j for i in range(n) for j in range(n) if i != j], dtype=np.int64)
    forward = similarity(method, values, a, b)
    backward = similarity(method, values, b, a)
    finite = ~np.isnan(forward)
    assert ((forward[finite] >= 0) & (forward[finite] <= 1)).all()
    assert np.array_equal(np.isnan(forward), np.isnan(backward))
    assert np.allclose(forward[finite], backward[finite], atol=1e-6)


def test_slabs_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import linkage.match.compare as compare_module

    rng = np.random.default_rng(2)
    names = ["张伟", "章伟", "王芳", "张玮", None, "李?明", "李晓明"]
    ids = ["11010519491231002X", "110105491231002", "110***19491231002X", None,
           "440524188001010014", "11010519491231003X"]
    n = 60
    recs = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "name": pa.array([names[i] for i in rng.integers(0, len(names), n)], pa.string()),
        "id": pa.array([ids[i] for i in rng.integers(0, len(ids), n)], pa.string()),
        "id__status": pa.array(["ok"] * n, pa.string()),
    })
    left = rng.integers(0, n, 500)
    right = rng.integers(0, n, 500)
    pairs = pa.table({"id_l": left, "id_r": right})
    comps = [Comparison(name="n", field="name", method="person_name", term_frequency=True),
             Comparison(name="i", field="id", method="id_number", must_link=True,
                        cannot_link=True)]
    whole = compare(recs, pairs, comps, similarities=True)
    monkeypatch.setattr(compare_module, "_SLAB", 7)
    sliced = compare(recs, pairs, comps, similarities=True)
    assert sliced.column_names == whole.column_names
    for name in whole.column_names:  # column-wise: NaN similarities must match as NaN
        np.testing.assert_array_equal(sliced.column(name).to_numpy(),
                                      whole.column(name).to_numpy(), err_msg=name)


def test_address_uses_division_then_detail_when_standardised() -> None:
    recs = pa.table({
        "record_id": pa.array(range(4), pa.int64()),
        "address": ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "朝阳区建国路88号",
                    "北京市朝阳区建国路88号1单元"],
        "address__county_code": ["110105", "220104", "110105", "110105"],
        "address__detail": ["建国路88号", "建国路88号", "建国路88号", "建国路88号1单元"],
    })
    comp = Comparison(name="a", field="address", method="address")
    pairs = pa.table({"id_l": [0, 0, 0], "id_r": [1, 2, 3]})
    with_divisions = compare(recs, pairs, [comp], similarities=True).column("sim_a").to_pylist()
    plain = compare(recs.select(["record_id", "address"]), pairs, [comp], similarities=True)
    assert with_divisions[0] < 0.7          # same street name, another county's 朝阳区
    assert plain.column("sim_a").to_pylist()[0] == pytest.approx(0.9)  # text alone
    assert with_divisions[1] == pytest.approx(0.97)  # same county, same detail
    assert 0.7 <= with_divisions[2] < 0.95   # same county, longer detail


def test_each_distinct_value_pair_is_scored_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import linkage.match.compare as compare_module

    calls: list[tuple[list[str], list[int], list[int]]] = []
    real = compare_module.similarity

    def spy(method, uniques, a, b, derived=None, cache=None, *, floor=None):  # type: ignore[no-untyped-def]
        calls.append((uniques.to_pylist(), a.tolist(), b.tolist()))
        return real(method, uniques, a, b, derived, cache, floor=floor)

    monkeypatch.setattr(compare_module, "similarity", spy)
    recs = pa.table({"record_id": pa.array(range(6), pa.int64()),
                     "name": ["张三", "张珊", "张三", "张珊", "李四", None]})
    # (张三, 张珊) four times in both orders, (张三, 李四) once, equal and null pairs never
    pairs = pa.table({"id_l": [0, 0, 1, 2, 2, 0, 0, 0], "id_r": [1, 3, 2, 3, 4, 2, 5, 0]})
    comp = Comparison(name="n", field="name", method="jaro_winkler", thresholds=(0.5,))
    out = compare(recs, pairs, [comp], similarities=True)
    assert len(calls) == 1
    uniques, a, b = calls[0]
    assert sorted((uniques[x], uniques[y]) for x, y in zip(a, b, strict=True)) == [
        ("张三", "张珊"), ("张三", "李四")]
    assert out.column("gamma_n").to_pylist() == [1, 1, 1, 1, 0, 2, -1, 2]
    sims = out.column("sim_n").to_numpy()
    assert sims[0] == sims[1] == sims[2] == sims[3] < 1.0


def test_thread_count_does_not_change_the_result() -> None:
    rng = np.random.default_rng(3)
    n = 60
    names = ["张三", "张珊", "李四", "王五", "王伍", ""]
    recs = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "name": [names[i] for i in rng.integers(0, len(names), n)],
        "dob": [f"1990-0{m}-1{d}" for m, d in rng.integers(1, 9, (n, 2))],
    })
    pairs = pa.table({"id_l": rng.integers(0, n, 300), "id_r": rng.integers(0, n, 300)})
    comps = [Comparison(name="n", field="name", method="person_name", term_frequency=True),
             Comparison(name="d", field="dob", method="date")]
    one = compare(recs, pairs, comps, workers=1)
    two = compare(recs, pairs, comps, workers=2)
    assert one.column_names == two.column_names
    for name in one.column_names:
        np.testing.assert_array_equal(one.column(name).to_numpy(), two.column(name).to_numpy(),
                                      err_msg=name)


def test_every_method_has_a_scheduling_cost() -> None:
    import typing

    import linkage.match.compare as compare_module

    assert set(typing.get_args(compare_module.Method)) == set(compare_module._COST)
    assert set(METHODS) == set(compare_module._COST)


def test_sparse_record_ids_and_chunked_pairs() -> None:
    """Record ids far apart take the sorted lookup, pairs arrive in several chunks (with
    an empty one): same levels as dense ids; an unknown id is a SchemaError naming it."""
    values = ["张伟", "章伟", None, "张伟"]
    comp = Comparison(name="n", field="name", method="person_name")
    ids = [10**12, 7, -5, 3 * 10**9]
    recs = pa.table({"record_id": pa.array(ids, pa.int64()), "name": values})
    left = pa.chunked_array([pa.array([10**12, 10**12], pa.int64()), pa.array([], pa.int64()),
                             pa.array([7, 3 * 10**9], pa.int64())])
    right = pa.chunked_array([pa.array([7, -5], pa.int64()), pa.array([], pa.int64()),
                              pa.array([-5, 10**12], pa.int64())])
    out = compare(recs, pa.table({"id_l": left, "id_r": right}), [comp])
    assert out.column("gamma_n").to_pylist() == _levels(values, [(0, 1), (0, 2), (1, 2), (3, 0)],
                                                        comp)
    assert out.column("id_l").to_pylist() == [10**12, 10**12, 7, 3 * 10**9]
    with pytest.raises(SchemaError, match="record_id 8"):
        compare(recs, pa.table({"id_l": [7], "id_r": [8]}), [comp])


def test_pair_rows_by_lookup_identity_and_misaligned_chunks() -> None:
    """Small shuffled ids go through the lookup table, ids that are the row numbers are
    their own positions; the two id columns may be chunked differently. Same levels
    every way; an id outside the records is a SchemaError either way."""
    values = ["张伟", "章伟", None, "张伟"]
    comp = Comparison(name="n", field="name", method="person_name")
    expected = _levels(values, [(0, 1), (0, 2), (1, 2), (3, 0)], comp)
    for ids in ([5, 2, 9, 0], [0, 1, 2, 3]):
        recs = pa.table({"record_id": pa.array(ids, pa.int64()), "name": values})
        left = pa.chunked_array([pa.array([ids[0]], pa.int64()),
                                 pa.array([ids[0], ids[1], ids[3]], pa.int64())])
        right = pa.chunked_array([pa.array([ids[1], ids[2], ids[2]], pa.int64()),
                                  pa.array([ids[0]], pa.int64())])
        out = compare(recs, pa.table({"id_l": left, "id_r": right}), [comp])
        assert out.column("gamma_n").to_pylist() == expected
        from linkage.match.compare import _PairRows  # the misaligned chunks themselves
        rows = _PairRows(np.asarray(ids, dtype=np.int64), left, right)
        slabs = list(rows.slabs(2))
        got_l = np.concatenate([s[1] for s in slabs]).tolist()
        got_r = np.concatenate([s[2] for s in slabs]).tolist()
        assert (got_l, got_r) == ([0, 0, 1, 3], [1, 2, 2, 0])
        assert [s[0].start for s in slabs] == list(range(0, 4, 2))
        with pytest.raises(SchemaError, match="record_id 4"):
            compare(recs, pa.table({"id_l": [ids[0]], "id_r": [4]}), [comp])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=60),
       st.sampled_from([41, 2**31]))
def test_distinct_pairs_packed_and_wide(pairs: list[tuple[int, int]], width: int) -> None:
    """Sorted distinct keys, each key's index into them, and the keys' (lo, hi) codes,
    both when key and index pack into one int64 (width 41) and when they do not."""
    from linkage.match.compare import _distinct_pairs

    keys = np.asarray([min(a, b) * width + max(a, b) for a, b in pairs], dtype=np.int64)
    inverse, lo, hi = _distinct_pairs(keys.copy(), width)
    distinct = lo * width + hi
    assert distinct.tolist() == sorted(set(keys.tolist()))
    assert distinct[inverse].tolist() == keys.tolist()
    assert (lo <= hi).all()


def _reference_encoding(values: list[str | None]) -> tuple[list[str], list[int]]:
    """First-seen distinct non-blank values and each row's index into them (-1 missing)."""
    index: dict[str, int] = {}
    codes = [-1 if not v else index.setdefault(v, len(index)) for v in values]
    return list(index), codes


_FIXED = st.one_of(st.none(), st.just(""),
                   st.text(alphabet="0123456789X*", min_size=18, max_size=18),
                   st.sampled_from(["11010519491231002X", "110***19491231002X"]))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(_FIXED, max_size=8), min_size=1, max_size=4),
       st.lists(st.text(alphabet="0123456789X*", min_size=15, max_size=17), max_size=2),
       st.integers(0, 2))
def test_encode_column_fixed_width_path_matches_the_reference(
    chunks: list[list[str | None]], odd: list[str], skip: int
) -> None:
    """Fixed-width columns (18-character IDs, nulls, blanks, masked values, several and
    sliced chunks) take the fixed-size binary path; adding a 15-digit value sends the
    column down the string path. Both give the reference encoding."""
    from linkage.match.encoding import _encode_fixed_width, encode_column

    for extra in ([], odd):
        parts = [pa.array(["x" * 18] * skip + c, pa.string()).slice(skip) for c in chunks]
        parts.append(pa.array(extra, pa.string()))
        column = pa.chunked_array(parts, type=pa.string())
        values = [v for c in chunks for v in c] + extra
        uniques, codes = encode_column(column)
        expected_values, expected_codes = _reference_encoding(values)
        got = uniques.to_pylist()
        assert [got[c] if c >= 0 else None for c in codes.tolist()] == [
            expected_values[c] if c >= 0 else None for c in expected_codes]
        assert len(got) - ("" in got) == len(expected_values)  # each value once
        widths = {len(v) for v in values if v}
        if len(widths) == 1:
            assert [v for v in got if v] == expected_values  # first-seen order
        # (fewer than 100 values: one odd width is over 1%; 15-17 characters are too short)
        fixed = len(widths) == 1 and min(widths) >= 16
        assert (_encode_fixed_width(column) is not None) == fixed


def test_encode_column_a_few_odd_widths_beside_the_common_one() -> None:
    """A column of 18-character IDs with a few legacy 15-digit ones (under 1%) keeps the
    fixed-width encoding; the odd values get their own codes."""
    from linkage.match.encoding import _encode_fixed_width, encode_column

    rng = np.random.default_rng(4)
    common = [f"{v:018d}" for v in rng.integers(0, 50, 600)]
    values: list[str | None] = [*common[:300], "110105491231002", None, "", *common[300:],
                                "110105491231002", "44052418800101"]
    column = pa.chunked_array([pa.array(values[:303], pa.string()),
                               pa.array(values[303:], pa.string())])
    assert _encode_fixed_width(column) is not None
    uniques, codes = encode_column(column)
    got = uniques.to_pylist()
    assert [got[c] if c >= 0 else None for c in codes.tolist()] == [v or None for v in values]
    assert len(got) == len({v for v in values if v})


def test_encode_column_null_slot_holding_bytes() -> None:
    """Arrow lets a null slot span bytes; such a column must not be read as fixed width."""
    from linkage.match.compare import encode_column

    data = pa.py_buffer(b"AAAABBBBCCCC")
    offsets = pa.py_buffer(np.array([0, 4, 8, 12], dtype=np.int32).tobytes())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    column = pa.Array.from_buffers(pa.string(), 3, [validity, offsets, data], null_count=1)
    uniques, codes = encode_column(column)
    assert [uniques[c].as_py() if c >= 0 else None for c in codes.tolist()] == [
        "AAAA", None, "CCCC"]


@pytest.mark.parametrize("missing", [None, ""])
def test_a_column_with_no_value_at_all(missing: str | None) -> None:
    """Every value null (or blank), with derived columns present: all pairs null."""
    recs = pa.table({
        "record_id": pa.array(range(3), pa.int64()),
        "address": pa.array([missing] * 3, pa.string()),
        "address__county_code": ["110105", "220104", None],
        "id": pa.array([missing] * 3, pa.string()),
    })
    pairs = pa.table({"id_l": [0, 0], "id_r": [1, 2]})
    comps = [Comparison(name="a", field="address", method="address"),
             Comparison(name="i", field="id", method="id_number", must_link=True,
                        cannot_link=True, term_frequency=True)]
    out = compare(recs, pairs, comps)
    assert out.column("gamma_a").to_pylist() == [-1, -1]
    assert out.column("gamma_i").to_pylist() == [-1, -1]
    assert out.column("cl_i").to_pylist() == [False, False]


_POOLS = {
    "address": ["北京市朝阳区建国路88号", "长春市朝阳区建国路88号", "朝阳区建国路88号",
                "北京市朝阳区建国路89号", "上海市徐汇区漕溪北路1号", "徐汇区漕溪北路1号"],
    "id_number": ["11010519491231002X", "110105491231002", "110***19491231002X",
                  "11010519491231003X", "11010519941231002X", "440524188001010014"],
    "person_name": ["张伟", "章伟", "张玮", "买买提·艾力", "艾力买买提", "李?明", "李晓明",
                    "欧阳娜娜"],
    "date": ["1990-03-04", "1990-04-03", "1990-03-05", "1985-07-09", "19900304"],
    "jaro_winkler": ["martha", "marhta", "dixon", "dicksonx"],
    "exact": ["M", "F"],
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_POOLS)), st.data())
def test_compare_matches_a_per_pair_reference(method: str, data: st.DataObject) -> None:
    """Levels from the whole-column stage (encodings, distinct value pairs, the
    two-county shortcut, the fills) equal scoring each pair on its own."""
    from linkage.match.comparators import similarity

    pool = _POOLS[method]
    n = data.draw(st.integers(2, 30))
    values = data.draw(st.lists(st.sampled_from([*pool, None, ""]), min_size=n, max_size=n))
    county = {v: ["110105", "220104", None][i % 3] for i, v in enumerate(pool)}
    columns: dict[str, pa.Array] = {"record_id": pa.array(range(n), pa.int64()),
                                    "v": pa.array(values, pa.string())}
    derived: dict[str, list[str | None]] = {}
    if method == "address":
        derived["county_code"] = [county.get(v) if v else None for v in values]
        columns["v__county_code"] = pa.array(derived["county_code"], pa.string())
    recs = pa.table(columns)
    m = data.draw(st.integers(1, 40))
    left = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    right = data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    comp = Comparison(name="c", field="v", method=method)  # type: ignore[arg-type]
    got = compare(recs, pa.table({"id_l": left, "id_r": right}), [comp]).column("gamma_c")
    thresholds = np.asarray(comp.levels_thresholds, dtype=np.float32)
    expected = []
    for i, j in zip(left, right, strict=True):
        x, y = values[i], values[j]
        if not x or not y:
            expected.append(-1)
        elif x == y:
            expected.append(comp.top_level)
        elif method == "exact":
            expected.append(0)
        else:
            pair_derived = {k: pa.array([col[i], col[j]], pa.string())
                            for k, col in derived.items()}
            sim = float(similarity(method, [x, y], np.array([0]), np.array([1]),
                                   pair_derived)[0])
            expected.append(-1 if np.isnan(sim) else
                            int(np.searchsorted(thresholds, np.float32(sim), side="right")))
    assert got.to_pylist() == expected
