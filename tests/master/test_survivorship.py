"""Equivalent spellings: tails, wildcards, separators, typos, rare-character substitutes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.master.survivorship import (
    fold_separators,
    fold_tails,
    fold_typos,
    originality,
    originality_among,
    originality_of,
    substitutes,
)


def test_substitutes_of_a_rare_character() -> None:
    written = pa.array(["刘芬?", "邵勇yue", "邵勇月", "王勇yue", "刘芬君", None, "张伟", "陈潮"])
    original = pa.array(["刘芬珺", "邵勇玥", "邵勇玥", "邵勇玥", "刘芬珺", "刘芬珺", "张伟",
                         "陈超"])
    # 王 for 邵 is not a storage substitute; 潮 for 超 is a typo, 超 is in GB 2312.
    assert substitutes(written, original).to_pylist() == [
        True, True, True, False, True, False, False, False]


def test_originality_levels() -> None:
    assert [originality(t) for t in ["邵勇玥", "邵勇月", "邵勇yue", "张?", "ZHANG SAN"]] == [
        0, 1, 2, 2, 1]


def test_a_rare_spelling_ranks_first_only_beside_a_substitute_of_it() -> None:
    # entity 0: 邵勇玥 beside its substitute 邵勇月; entity 1: 孙赟 beside 孙玲磊, another name
    # (a record of another person, or a different name): the rare character decides nothing;
    # entity 2: a ? spelling stays behind the plain one
    text = pa.array(["邵勇玥", "邵勇月", "孙赟", "孙玲磊", "刘芬君", "刘芬?", None])
    ent = np.array([0, 0, 1, 1, 2, 2, 2])
    assert originality_among(text, ent).tolist() == [0, 1, 1, 1, 1, 2, 1]


def test_folds_on_hand_checked_rows() -> None:
    # Entity 0: a tail, entity 1: a wildcard with two candidates (stays), entity 2: a name
    # without its separator, entity 3: one digit off the majority number.
    text = pa.array(["重庆市江北区公园路76号", "江北区公园路76号",
                     "刘芬珺", "刘芬君", "刘芬?",
                     "伊力哈木·热合曼", "伊力哈木热合曼",
                     "13747418363", "13747418363", "18747418363"])
    ent = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    value = np.array([0, 1, 2, 3, 4, 5, 6, 7, 7, 8])
    every = np.ones(len(ent), dtype=bool)
    soft = np.array([False, True, False, False, True, False, False, False, False, False])
    tails = fold_tails(text, value, ent, ~soft, soft)
    assert tails[1] == 0 and tails[4] == 4
    wild = fold_tails(text, value, ent, ~soft, soft, wildcard=True)
    assert wild[4] == 4  # could be 刘芬珺 or 刘芬君: not folded
    assert fold_separators(text, value, ent)[6] == 5
    typos = fold_typos(text, value, ent)
    assert typos[9] == 7 and (typos[:9] == value[:9]).all()
    assert (fold_separators(text, value, ent)[every & (np.arange(10) != 6)]
            == value[np.arange(10) != 6]).all()


def test_complete_division() -> None:
    from linkage.master.survivorship import complete_division

    assert complete_division("通州区红旗路144号", "110112") == "北京市通州区红旗路144号"
    assert complete_division("西湖区和平路65号", "330106") == "浙江省杭州市西湖区和平路65号"
    assert complete_division("城关区科技路1号", "330106") is None
    assert complete_division("通州区红旗路144号", "999999") is None


def _fold_tails_reference(text: list[str], value: np.ndarray, ent: np.ndarray,
                          valid: np.ndarray, soft: np.ndarray, *, wildcard: bool) -> np.ndarray:
    """fold_tails written plainly: every soft row against every valid row of its entity."""
    out = value.copy()
    for i in np.flatnonzero(soft).tolist():
        codes = set()
        for j in np.flatnonzero(valid & (ent == ent[i])).tolist():
            t, full = text[i], text[j]
            if wildcard:
                if t != full and len(t) == len(full) and all(
                        a == b or a == "?" for a, b in zip(t, full, strict=True)):
                    codes.add(int(value[j]))
            elif full != t and full.endswith(t):
                codes.add(int(value[j]))
        if len(codes) == 1:
            out[i] = codes.pop()
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.text("ab?·", min_size=1, max_size=4),
                          st.booleans(), st.booleans()), min_size=1, max_size=25),
       st.booleans())
def test_fold_tails_matches_the_plain_reference(rows: list[tuple[int, str, bool, bool]],
                                                wildcard: bool) -> None:
    # fold_tails skips soft rows that cannot fold (no wildcard; no longer valid value):
    # the result must be what trying every candidate gives.
    text = [t for _, t, _, _ in rows]
    ent = np.array([e for e, _, _, _ in rows], dtype=np.int64)
    codes = {t: i for i, t in enumerate(sorted(set(text)))}
    value = np.array([codes[t] for t in text], dtype=np.int64)
    valid = np.array([v for _, _, v, _ in rows], dtype=bool)
    soft = np.array([s for _, _, _, s in rows], dtype=bool)
    got = fold_tails(pa.array(text), value, ent, valid, soft, wildcard=wildcard)
    want = _fold_tails_reference(text, value, ent, valid, soft, wildcard=wildcard)
    assert got.tolist() == want.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from(
    "张伟玥邵勇月?·・AaZz1 ＡＢ" + "\u3400\u4e00\u9fa5\u9fff\ua000\U00020000\U0002a6d6"
    "\u00e9\u0101\u2022\u30fb\u3000"), max_size=6), max_size=30))
def test_originality_of_a_column_is_originality_of_each_value(values: list[str]) -> None:
    assert originality_of(pa.array(values, pa.string())).tolist() == [
        originality(v) for v in values]
    assert originality_of(pa.array([None, "邵勇玥"])).tolist() == [1, 0]
