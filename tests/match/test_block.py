"""Blocking: hand-checked passes, capping, union tagging, and a brute-force reference."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import SchemaError
from linkage.match.block import BlockingPass, block, joined_key, record_key, refined_pass


def _records(names: list[str | None], cities: list[str | None] | None = None,
             sources: list[str] | None = None) -> pa.Table:
    n = len(names)
    return pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": sources or ["a"] * n,
        "name": pa.array(names, pa.string()),
        "city": pa.array(cities or ["c"] * n, pa.string()),
    })


def _pairs(result: object) -> list[tuple[int, int, str]]:
    table = result.pairs  # type: ignore[attr-defined]
    return [(r["id_l"], r["id_r"], r["pass_name"]) for r in table.to_pylist()]


def test_exact_pass_pairs_within_blocks_only() -> None:
    recs = _records(["x", "x", "y", "y", "x", None])
    result = block(recs, [BlockingPass(name="n", keys=("name",))])
    assert _pairs(result) == [(0, 1, "n"), (0, 4, "n"), (1, 4, "n"), (2, 3, "n")]
    assert result.report["passes"][0]["largest_blocks"][:2] == [3, 2]
    assert result.report["candidate_pairs"] == 4
    assert result.report["reduction_ratio"] == pytest.approx(1 - 4 / 15)


def test_union_tags_first_pass_and_has_no_duplicates() -> None:
    recs = _records(["x", "x", "y", "y"], cities=["c", "d", "c", "c"])
    result = block(recs, [BlockingPass(name="name", keys=("name",)),
                          BlockingPass(name="city", keys=("city",))])
    assert _pairs(result) == [(0, 1, "name"), (0, 2, "city"), (0, 3, "city"), (2, 3, "name")]
    passes = {p["name"]: p for p in result.report["passes"]}
    assert passes["city"]["pairs"] == 3 and passes["city"]["new_pairs"] == 2


def test_oversized_block_is_skipped_with_warning() -> None:
    recs = _records(["w"] * 6 + ["z", "z"])
    result = block(recs, [BlockingPass(name="n", keys=("name",), max_block_size=5)])
    assert _pairs(result) == [(6, 7, "n")]
    assert result.report["passes"][0]["capped_blocks"] == 1
    assert result.report["warnings"] and "max_block_size=5" in result.report["warnings"][0]


def _with_birth(names: list[str | None], births: list[str | None]) -> pa.Table:
    return _records(names).append_column("birth_date", pa.array(births, pa.string()))


def test_oversized_block_is_split_by_sub_keys() -> None:
    """Seven 王伟 of one city, cap 4: split by birth year (1980 x3, 1990 x2, 1975, and one
    without a birth date, which gets no pair and a warning); 李娜 x2 is left alone."""
    births = ["1980-01-02", "1980-05-06", "1990-03-04", "1980-12-30", "1975-07-07",
              None, "1990-08-09", "1966-01-01", "1999-09-09"]
    recs = _with_birth(["王伟"] * 7 + ["李娜"] * 2, births)
    bp = BlockingPass(name="n", keys=("name", "city"), max_block_size=4,
                      sub_keys=("birth_date",), sub_prefix=(4,))
    result = block(recs, [bp])
    assert _pairs(result) == [(0, 1, "n"), (0, 3, "n"), (1, 3, "n"), (2, 6, "n"), (7, 8, "n")]
    rep = result.report["passes"][0]
    assert (rep["split_blocks"], rep["split_records"], rep["unsplit_records"]) == (1, 7, 1)
    assert rep["capped_blocks"] == 0 and rep["capped_records"] == 1
    assert rep["largest_blocks"][0] == 7 and rep["largest_after_split"][:2] == [3, 2]
    assert rep["records_keyed"] == 9
    assert len(result.report["warnings"]) == 1
    assert "1 records" in result.report["warnings"][0]
    # a part still above the cap is skipped, and said so
    tight = block(recs, [BlockingPass(name="n", keys=("name", "city"), max_block_size=2,
                                      sub_keys=("birth_date",), sub_prefix=(4,))])
    assert _pairs(tight) == [(2, 6, "n"), (7, 8, "n")]
    assert any("after splitting 1 blocks by ['birth_date']" in w and "largest [3]" in w
               for w in tight.report["warnings"])


def test_sub_keys_config_is_checked() -> None:
    with pytest.raises(ValueError, match="exact blocks only"):
        BlockingPass(name="s", keys=("a",), kind="sorted_neighbourhood", sub_keys=("b",))
    with pytest.raises(ValueError, match="sub_prefix"):
        BlockingPass(name="s", keys=("a",), sub_keys=("b",), sub_prefix=(1, 2))
    with pytest.raises(SchemaError, match="birth"):
        block(_records(["x", "x"]), [BlockingPass(name="s", keys=("name",),
                                                  sub_keys=("birth",))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from(["x", "y", None])),
                max_size=30),
       st.integers(min_value=2, max_value=6), st.booleans())
def test_sub_blocking_matches_brute_force(
    rows: list[tuple[str | None, str | None]], cap: int, spill: bool
) -> None:
    """A key group within the cap: all its pairs; above it: the pairs of each (key, sub
    key) group within the cap, records without a sub key left out. Both engines."""
    names, subs = [r[0] for r in rows], [r[1] for r in rows]
    recs = _with_birth(names, subs) if rows else pa.table({
        "record_id": pa.array([], pa.int64()), "source": pa.array([], pa.string()),
        "name": pa.array([], pa.string()), "city": pa.array([], pa.string()),
        "birth_date": pa.array([], pa.string())})
    bp = BlockingPass(name="n", keys=("name",), max_block_size=cap, sub_keys=("birth_date",))
    size = {k: names.count(k) for k in set(names) if k is not None}
    part = {k: rows.count(k) for k in set(rows) if None not in k}
    expected = set()
    for i, j in itertools.combinations(range(len(rows)), 2):
        if names[i] is None or names[i] != names[j]:
            continue
        if size[names[i]] <= cap or (
                subs[i] is not None and subs[i] == subs[j] and part[rows[i]] <= cap):
            expected.add((i, j))
    got = block(recs, [bp], max_in_memory_pairs=0 if spill else 50_000_000)
    assert {(a, b) for a, b, _ in _pairs(got)} == expected


def test_composite_key_with_prefix_and_blank_keys() -> None:
    recs = _records(["110105x", "110105y", "110106x", "  "], cities=["c", "c", "c", "c"])
    bp = BlockingPass(name="p", keys=("name", "city"), prefix=(6, 0))
    assert _pairs(block(recs, [bp])) == [(0, 1, "p")]


def test_link_only_pairs_cross_sources() -> None:
    recs = _records(["x", "x", "x"], sources=["a", "a", "b"])
    result = block(recs, [BlockingPass(name="n", keys=("name",), link_only=True)])
    assert _pairs(result) == [(0, 2, "n"), (1, 2, "n")]
    assert result.report["mode"] == "link_only"
    assert result.report["possible_pairs"] == 2


def test_sorted_neighbourhood_window() -> None:
    recs = _records(["b", "a", "d", "c"])
    bp = BlockingPass(name="sn", keys=("name",), kind="sorted_neighbourhood", window=2)
    # sorted: a(1) b(0) c(3) d(2) -> neighbours (0,1) (0,3) (2,3)
    assert _pairs(block(recs, [bp])) == [(0, 1, "sn"), (0, 3, "sn"), (2, 3, "sn")]


def test_qgram_pass_needs_min_shared_grams() -> None:
    recs = _records(["华为技术", "华为科技", "腾讯科技", "阿里巴巴"])
    bp = BlockingPass(name="q", keys=("name",), kind="qgram", q=2, min_shared=1)
    assert _pairs(block(recs, [bp])) == [(0, 1, "q"), (1, 2, "q")]
    bp2 = BlockingPass(name="q", keys=("name",), kind="qgram", q=1, min_shared=3)
    assert _pairs(block(recs, [bp2])) == [(0, 1, "q")]


def test_pair_completeness_from_truth() -> None:
    recs = _records(["x", "x", "y", "z"])
    truth = pa.table({"id_l": [1, 2], "id_r": [0, 3]})
    result = block(recs, [BlockingPass(name="n", keys=("name",))], truth_pairs=truth)
    assert result.report["pair_completeness"] == pytest.approx(0.5)
    import json

    assert json.loads(json.dumps(result.report)) == result.report  # JSON-able as promised


def test_missing_key_column_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="nope"):
        block(_records(["x"]), [BlockingPass(name="n", keys=("nope",))])


def test_bad_pass_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="prefix"):
        BlockingPass(name="n", keys=("a", "b"), prefix=(1,))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from(["x", "y"]),
                       st.sampled_from(["s1", "s2"])), min_size=0, max_size=25),
    st.integers(min_value=2, max_value=6),
    st.booleans(),
)
def test_exact_blocking_matches_brute_force(
    rows: list[tuple[str | None, str, str]], cap: int, link_only: bool
) -> None:
    names = [r[0] for r in rows]
    cities = [r[1] for r in rows]
    sources = [r[2] for r in rows]
    recs = _records(names, cities, sources) if rows else pa.table({
        "record_id": pa.array([], pa.int64()), "source": pa.array([], pa.string()),
        "name": pa.array([], pa.string()), "city": pa.array([], pa.string())})
    passes = [BlockingPass(name="n", keys=("name", "city"), max_block_size=cap,
                           link_only=link_only),
              BlockingPass(name="c", keys=("city",), max_block_size=cap, link_only=link_only)]
    expected: dict[tuple[int, int], str] = {}
    for bp in passes:
        keys = [tuple(r[k] for k in ({"name": 0, "city": 1}[x] for x in bp.keys)) for r in rows]
        sizes: dict[tuple[object, ...], int] = {}
        for k in keys:
            if None not in k:
                sizes[k] = sizes.get(k, 0) + 1
        for i, j in itertools.combinations(range(len(rows)), 2):
            if None in keys[i] or keys[i] != keys[j] or sizes[keys[i]] > cap:
                continue
            if link_only and sources[i] == sources[j]:
                continue
            expected.setdefault((i, j), bp.name)
    got = {(a, b): p for a, b, p in _pairs(block(recs, passes))}
    assert got == expected


def test_suffix_and_repeated_key_block_masked_ids() -> None:
    recs = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "id": ["33010820040623056X", "3301**********056X", "33019920040623056X", "12"],
    })
    bp = BlockingPass(name="ht", keys=("id", "id"), prefix=(4, 0), suffix=(0, 4))
    assert _pairs(block(recs, [bp])) == [(0, 1, "ht"), (0, 2, "ht"), (1, 2, "ht")]


def test_masked_ids_pair_with_every_number_sharing_their_ends_but_full_ones_not() -> None:
    """The preset's id_masked pass: a masked number stands by its ends (keys_where), every
    number by its ends (keys_right): masked x full and masked x masked pairs, no full x full."""
    recs = pa.table({
        "record_id": pa.array([0, 1, 2, 3, 4, 5], pa.int64()),
        "id": ["33010820040623056X", "3301**********056X", "33019920040623056X", "12",
               "330108********056X", "33010820040623056X"],
        "masked": [False, True, False, False, True, None],
    })
    bp = BlockingPass(name="ht", keys=("id", "id"), prefix=(4, 0), suffix=(0, 4),
                      keys_right=("id", "id"), keys_where="masked")
    assert {(a, b) for a, b, _ in _pairs(block(recs, [bp]))} == {
        (0, 1), (1, 2), (0, 4), (1, 4), (2, 4), (1, 5), (4, 5)}
    with pytest.raises(ValueError, match="keys_where"):
        BlockingPass(name="x", keys=("id",), keys_where="masked")
    with pytest.raises(SchemaError, match="must be boolean"):
        block(recs.set_column(2, "masked", pa.array(["y"] * 6)), [bp])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]),
                          st.sampled_from(["a", "b", "d", None]), st.booleans()),
                max_size=25),
       st.integers(min_value=2, max_value=8))
def test_flagged_cross_column_blocking_matches_brute_force(
    rows: list[tuple[str | None, str | None, bool]], cap: int
) -> None:
    n = len(rows)
    recs = pa.table({"record_id": pa.array(range(n), pa.int64()),
                     "x": pa.array([r[0] for r in rows], pa.string()),
                     "y": pa.array([r[1] for r in rows], pa.string()),
                     "f": pa.array([r[2] for r in rows], pa.bool_())})
    bp = BlockingPass(name="xy", keys=("x",), keys_right=("y",), keys_where="f",
                      max_block_size=cap)
    # a block holds every flagged record whose x, and every record whose y, is the value
    size: dict[str, int] = {}
    for x, y, f in rows:
        for v in ((x if f else None), y):
            if v is not None:
                size[v] = size.get(v, 0) + 1
    expected = set()
    for i, j in itertools.combinations(range(n), 2):
        for (a, fa), b in (((rows[i][0], rows[i][2]), rows[j][1]),
                           ((rows[j][0], rows[j][2]), rows[i][1])):
            if fa and a is not None and a == b and size[a] <= cap:
                expected.add((i, j))
    assert {(a, b) for a, b, _ in _pairs(block(recs, [bp]))} == expected


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=0, max_size=30),
       st.booleans())
def test_duckdb_path_matches_numpy_path(names: list[str | None], link_only: bool) -> None:
    n = len(names)
    recs = pa.table({
        "record_id": pa.array([10 * i + 3 for i in range(n)], pa.int64()),
        "source": pa.array(["a" if i % 3 else "b" for i in range(n)], pa.string()),
        "name": pa.array(names, pa.string()),
        "city": pa.array(["x" if i % 2 else "y" for i in range(n)], pa.string()),
    })
    passes = [BlockingPass(name="n", keys=("name",), link_only=link_only, max_block_size=6),
              BlockingPass(name="c", keys=("city", "name"), link_only=link_only),
              BlockingPass(name="sn", keys=("name",), kind="sorted_neighbourhood", window=3,
                           link_only=link_only)]
    in_memory = block(recs, passes)
    spilled = block(recs, passes, max_in_memory_pairs=0)
    assert spilled.report["engine"] == "duckdb" or spilled.pairs.num_rows == 0
    assert in_memory.pairs.equals(spilled.pairs)
    assert [p["new_pairs"] for p in in_memory.report["passes"]] == \
        [p["new_pairs"] for p in spilled.report["passes"]]


def test_minhash_pass_pairs_near_duplicates_only() -> None:
    recs = _records(["华为技术有限公司", "华为技术有限责任公司", "深圳市腾讯计算机系统有限公司",
                     "腾讯计算机系统有限公司", "北京小米科技有限责任公司", None])
    bp = BlockingPass(name="mh", keys=("name",), kind="minhash", q=2, bands=16, rows=4,
                      max_block_size=10)
    first = block(recs, [bp])
    got = {(a, b) for a, b, _ in _pairs(first)}
    assert {(0, 1), (2, 3)} <= got
    assert all(5 not in pair for pair in got)
    assert (0, 2) not in got and (1, 4) not in got
    assert block(recs, [bp]).pairs.equals(first.pairs)  # seeded: deterministic


def test_pass_name_is_an_int8_dictionary_on_both_engines(tmp_path: object) -> None:
    import pyarrow.parquet as pq

    from linkage.schemas import CANDIDATE_PAIRS

    recs = _records(["x", "x", "y", "y"], cities=["c", "d", "c", "c"])
    passes = [BlockingPass(name="name", keys=("name",)), BlockingPass(name="city", keys=("city",))]
    for result in (block(recs, passes), block(recs, passes, max_in_memory_pairs=0)):
        assert result.pairs.schema == CANDIDATE_PAIRS
        assert result.pairs.schema.field("pass_name").type == pa.dictionary(pa.int8(), pa.string())
        assert result.pairs.column("pass_name").to_pylist() == ["name", "city", "city", "name"]
    path = f"{tmp_path}/pairs.parquet"
    pq.write_table(block(recs, passes).pairs, path)
    assert pq.read_table(path).column("pass_name").to_pylist() == ["name", "city", "city", "name"]


def test_huge_record_ids_give_the_same_union() -> None:
    # ids of 2**28 and above cannot carry the pass index in their key's low bits
    big = 1 << 29
    recs = _records(["x", "x", "y", "y"], cities=["c", "d", "c", "c"])
    recs = recs.set_column(0, "record_id", pa.array([big + 7, big + 1, 5, big], pa.int64()))
    passes = [BlockingPass(name="name", keys=("name",)), BlockingPass(name="city", keys=("city",))]
    expected = [(5, big, "name"), (5, big + 7, "city"), (big, big + 7, "city"),
                (big + 1, big + 7, "name")]
    assert _pairs(block(recs, passes)) == expected
    assert _pairs(block(recs, passes, max_in_memory_pairs=0)) == expected


def test_more_passes_than_pass_indices_is_a_schema_error() -> None:
    passes = [BlockingPass(name=f"p{i}", keys=("name",)) for i in range(128)]
    with pytest.raises(SchemaError, match="at most 127"):
        block(_records(["x", "x"]), passes)


def test_keys_are_trimmed_and_clean_chunks_are_not_copied() -> None:
    from linkage.match.block import _trimmed

    recs = _records([" x", "x\u3000", "y", "", "y"])
    assert _pairs(block(recs, [BlockingPass(name="n", keys=("name",))])) == \
        [(0, 1, "n"), (2, 4, "n")]
    clean = pa.array(["a", "b", None])
    assert _trimmed(clean) is clean
    assert _trimmed(pa.array([" a", "", None])).to_pylist() == ["a", None, None]


def test_dedupe_does_not_read_the_source_column() -> None:
    recs = _records(["x", "x"]).set_column(1, "source", pa.array([None, None], pa.null()))
    assert _pairs(block(recs, [BlockingPass(name="n", keys=("name",))])) == [(0, 1, "n")]


def test_minhash_bands_come_one_at_a_time_and_group_equal_values() -> None:
    import numpy as np

    from linkage.match.minhash import band_block_ids, signatures

    sig = signatures(["华为技术", "腾讯"], q=2, n_hashes=6, seed=1)
    bands = band_block_ids(sig, np.array([0, 1, 0, -1]), bands=3, rows=2)
    assert not isinstance(bands, list)
    got = [blk.tolist() for blk in bands]
    assert len(got) == 3
    assert all(b[0] == b[2] and b[0] != b[1] and b[3] == -1 for b in got)
    assert [b.tolist() for b in band_block_ids(sig[:0], np.array([-1]), bands=2, rows=2)] == \
        [[-1], [-1]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=40),
       st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=20),
       st.booleans())
def test_pair_completeness_matches_a_set_reference(
    candidates: list[tuple[int, int]], truth: list[tuple[int, int]], shuffled: bool
) -> None:
    import numpy as np

    from linkage.match.pairgen import pair_completeness

    distinct = sorted({(min(a, b), max(a, b)) for a, b in candidates if a != b})
    if shuffled:
        distinct = distinct[::-1]
    pairs = pa.table({"id_l": pa.array([a for a, _ in distinct], pa.int64()),
                      "id_r": pa.array([b for _, b in distinct], pa.int64())})
    lo = np.array([min(a, b) for a, b in truth], dtype=np.int64)
    hi = np.array([max(a, b) for a, b in truth], dtype=np.int64)
    true_set = {(int(a), int(b)) for a, b in zip(lo, hi, strict=True) if a < b}
    assert pair_completeness(pairs, lo, hi) == (len(true_set & set(distinct)), len(true_set))


def test_duckdb_is_imported_only_by_a_run_that_spills() -> None:
    import subprocess
    import sys

    code = ("import sys, pyarrow as pa\n"
            "from linkage.match.block import BlockingPass, block\n"
            "recs = pa.table({'record_id': pa.array([0, 1], pa.int64()), 'n': ['x', 'x']})\n"
            "block(recs, [BlockingPass(name='n', keys=('n',))])\n"
            "assert 'duckdb' not in sys.modules, 'imported without spilling'\n"
            "block(recs, [BlockingPass(name='n', keys=('n',))], max_in_memory_pairs=0)\n"
            "assert 'duckdb' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr[-1500:]


def test_cross_column_pass_finds_swapped_names() -> None:
    recs = pa.table({"record_id": pa.array(range(5), pa.int64()),
                     "source": ["a", "b", "a", "b", "a"],
                     "first": ["john", "smith", "ann", "john", "lee"],
                     "last": ["smith", "john", "ann", "smith", None]})
    swap = BlockingPass(name="swap", keys=("first",), keys_right=("last",))
    # 0 and 1 (john smith / smith john), 1 and 3; ann ann is not paired with itself
    assert _pairs(block(recs, [swap])) == [(0, 1, "swap"), (1, 3, "swap")]
    with pytest.raises(ValueError, match="keys_right"):
        BlockingPass(name="x", keys=("first",), keys_right=("last", "first"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]),
                          st.sampled_from(["a", "b", "d", None]),
                          st.sampled_from(["s1", "s2"])), max_size=25),
       st.integers(min_value=2, max_value=8), st.booleans())
def test_cross_column_blocking_matches_brute_force(
    rows: list[tuple[str | None, str | None, str]], cap: int, link_only: bool
) -> None:
    n = len(rows)
    recs = pa.table({"record_id": pa.array(range(n), pa.int64()),
                     "source": pa.array([r[2] for r in rows], pa.string()),
                     "x": pa.array([r[0] for r in rows], pa.string()),
                     "y": pa.array([r[1] for r in rows], pa.string())})
    bp = BlockingPass(name="xy", keys=("x",), keys_right=("y",), max_block_size=cap,
                      link_only=link_only)
    # a block holds every record whose x, and every record whose y, is the value
    size: dict[str, int] = {}
    for x, y, _ in rows:
        for v in (x, y):
            if v is not None:
                size[v] = size.get(v, 0) + 1
    expected = set()
    for i, j in itertools.combinations(range(n), 2):
        if link_only and rows[i][2] == rows[j][2]:
            continue
        for a, b in ((rows[i][0], rows[j][1]), (rows[i][1], rows[j][0])):
            if a is not None and a == b and size[a] <= cap:
                expected.add((i, j))
    assert {(a, b) for a, b, _ in _pairs(block(recs, [bp]))} == expected


_KEY_PASSES = [
    BlockingPass(name="whole", keys=("name",)),
    BlockingPass(name="two", keys=("name", "code")),
    BlockingPass(name="cut", keys=("code", "code"), prefix=(4, 0), suffix=(0, 4)),
    BlockingPass(name="sub", keys=("name",), sub_keys=("code",), sub_prefix=(2,)),
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text(" 张王a1\t", max_size=5)),
                          st.one_of(st.none(), st.text("0123456789* ", max_size=9))),
                min_size=1, max_size=12),
       st.booleans())
def test_record_key_is_the_joined_key_of_one_row(rows: list[tuple[str | None, str | None]],
                                                 standardised: bool) -> None:
    """The one-record key (a resolver's) equals the column key the run blocks on, for raw
    columns (trimmed, blanks missing) and standardised ones (taken as they are)."""
    table = pa.table({"name": [r[0] for r in rows], "code": [r[1] for r in rows]})
    if standardised:
        table = table.append_column("name__status", pa.array(["ok"] * len(rows))) \
            .append_column("code__status", pa.array(["ok"] * len(rows)))
    for bp in [*_KEY_PASSES, refined_pass(_KEY_PASSES[-1])]:
        expected = joined_key(table, bp).to_pylist()
        assert [record_key(row, bp) for row in table.to_pylist()] == expected, bp.name
