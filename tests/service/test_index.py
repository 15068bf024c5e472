"""The master index: key hashes, and candidates found by lookup equal to the pairs the
block stage forms when the record is added to the master (caps and splits included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightly_delta import nightly_household

from linkage.io.run_tables import read_run_table
from linkage.match.block import BlockingPass, block
from linkage.service.index import MasterIndex, MasterIndexError, PassKeys, SortedKeys
from linkage.service.index_write import build_index
from linkage.service.keys import hash_strings
from linkage.standardisers import standardise


def test_hashes_follow_the_values() -> None:
    values = pa.array(["张伟", "张伟", "张玮", "", None, "a" * 5000, "a" * 5000 + "b"])
    h, present = hash_strings(values)
    assert present.tolist() == [True, True, True, True, False, True, True]
    assert h[0] == h[1] and h[0] != h[2] and h[3] != h[0]
    assert len(set(hash_strings(pa.array([str(i) for i in range(10000)]))[0])) == 10000
    # a slice, a chunked array and a plain string array hash alike
    sliced, _ = hash_strings(values.slice(1, 2))
    assert sliced.tolist() == h[1:3].tolist()
    chunked, _ = hash_strings(pa.chunked_array([values.slice(0, 2), values.slice(2)]))
    assert chunked.tolist() == h.tolist()
    # a handful of values is hashed in plain Python, a column with NumPy: the same hashes
    # (short values are hashed by a sum over the bytes, long ones by a dot product)
    many = pa.array([*values.to_pylist(), *(f"110105\x1f{i}" for i in range(50)),
                     "11010519491231002X", "张伟\x1f1949-12-31", "云" * 16, "云" * 16 + "a",
                     "b" * 48, "b" * 49, "云南省昆明市盘龙区育才路100号"])
    whole, whole_present = hash_strings(many)
    for start in range(0, len(many), 4):
        few, few_present = hash_strings(many.slice(start, 4))
        assert few.tolist() == whole[start:start + 4].tolist()
        assert few_present.tolist() == whole_present[start:start + 4].tolist()


def test_candidates_are_the_block_stage_pairs(synth_run: Path) -> None:
    index = MasterIndex.open(synth_run)
    ti = index.types["person"]
    master = pq.read_table(synth_run / "records.parquet")
    rng = np.random.default_rng(3)
    picks = np.sort(rng.choice(master.num_rows, 40, replace=False))
    fields = list(ti.section.fields)
    raw = master.take(pa.array(picks)).select(
        ["source", "source_key", "entity_type", "source_row", "updated_at",
         *[f"{f}__raw" for f in fields]])
    raw = raw.rename_columns(["source", "source_key", "entity_type", "source_row",
                              "updated_at", *fields])
    checked = 0
    for i in range(raw.num_rows):
        query = raw.slice(i, 1)
        query = query.add_column(0, "record_id", pa.array([ti.max_record_id + 1], pa.int64()))
        query = query.append_column("flags", pa.array([[]], pa.list_(pa.string())))
        std = standardise(query, ti.section.fields)
        _, rids = ti.candidates(std)
        union = pa.concat_tables([master.select(std.column_names).cast(std.schema), std])
        pairs = block(union, ti.section.blocking).pairs
        qid = ti.max_record_id + 1
        mine = pairs.filter(pc.equal(pairs.column("id_r"), qid))
        expected = sorted(mine.column("id_l").to_pylist())
        assert sorted(rids.tolist()) == expected, i
        one = {**std.to_pylist()[0], "source": "query"}
        assert ti.record_candidates(one).tolist() == sorted(expected), i
        checked += len(expected)
    assert checked > 40  # every picked record finds at least itself, most several


def test_build_index_from_a_run_folder(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    shutil.rmtree(copy / "index")
    with pytest.raises(MasterIndexError, match="no master index"):
        MasterIndex.open(copy)
    build_index(copy)
    rebuilt = MasterIndex.open(copy).types["person"]
    original = MasterIndex.open(tiny_run).types["person"]
    assert rebuilt.golden.num_rows == original.golden.num_rows == 6
    for name, pk in original.keys.items():
        assert rebuilt.keys[name].whole.hashes.tolist() == pk.whole.hashes.tolist()


def test_candidate_rows_are_the_records_rows(synth_run: Path) -> None:
    """Rows read from the mapped buffers are the rows Arrow gives, value for value."""
    ti = MasterIndex.open(synth_run).types["person"]
    ids = ti.record_ids[:30]
    rows = ti.candidate_rows(ids)
    names = list(rows[0])
    assert rows == ti.records.select(names).slice(0, 30).to_pylist()


def test_rows_read_every_type_with_nulls_and_offsets(synth_run: Path) -> None:
    """Every column type the index holds (text, numbers, dates, flags, lists of structs),
    with nulls, and a sliced array (non-zero offset), reads as Arrow's ``as_py``."""
    import datetime as dt

    from linkage.service.rows import Rows

    ti = MasterIndex.open(synth_run).types["person"]
    records = ti.records
    table = pa.table({
        "text": pa.array(["张三", None, "", "李四"]),
        "big": pa.array(["a", None, "bc", "d"], pa.large_string()),
        "n": pa.array([1, None, -3, 2**40]),
        "small": pa.array([1, 2, None, 4], pa.int8()),
        "u": pa.array([1, 2, 3, None], pa.uint64()),
        "x": pa.array([0.5, -1.25, None, 2.0]),
        "ok": pa.array([True, None, False, True]),
        "day": pa.array([dt.date(2001, 2, 3), None, dt.date(1960, 1, 1), dt.date(2026, 6, 30)]),
        "tags": pa.array([["a", None], None, [], ["b"]]),
        "s": pa.array([{"v": "x", "d": dt.date(2020, 1, 1)}, None, {"v": None, "d": None},
                       {"v": "y", "d": dt.date(1999, 9, 9)}]),
    })
    for t in (table, table.slice(1), records.slice(5, 40)):
        assert Rows(t).rows(range(t.num_rows)) == t.to_pylist()
    as_json = Rows(table, json=True).row(0)
    assert as_json["day"] == "2001-02-03" and as_json["s"] == {"v": "x", "d": "2020-01-01"}
    nan = pa.table({"x": pa.array([float("nan")])})
    assert Rows(nan, json=True).row(0) == {"x": None}  # NaN as null


def test_golden_and_conflicts_read_as_json_values(synth_run: Path) -> None:
    """An entity's golden record and conflicts, read from the index by entity id, are the
    run's rows with dates as ISO text and NaN as null."""
    import json

    from linkage.service.rows import jsonable

    ti = MasterIndex.open(synth_run).types["person"]
    golden = pq.read_table(synth_run / "golden_person.parquet").to_pylist()
    conflicts = pq.read_table(synth_run / "conflicts.parquet").to_pylist()
    assert conflicts
    by_entity: dict[str, list[dict[str, object]]] = {}
    for row in conflicts:
        by_entity.setdefault(str(row["entity_id"]), []).append(jsonable(row))
    with_conflicts = 0
    for row in golden[:200]:
        entity = str(row["entity_id"])
        assert ti.golden_row(entity) == jsonable(row)
        mine = ti.conflicts_of(entity)
        assert sorted(map(json.dumps, mine)) == sorted(map(json.dumps, by_entity.get(entity, [])))
        with_conflicts += bool(mine)
    assert with_conflicts > 5
    assert ti.golden_row("no-such-entity") is None


def test_the_index_stores_what_a_record_already_says_once(synth_run: Path) -> None:
    """Conflicts are laid out in golden order without the entity id and golden value, and
    a candidate's source, key, updated_at (and value, when it is its record's) are read
    from records.arrow: the test above then holds on the compact layout, not a fallback."""
    ti = MasterIndex.open(synth_run).types["person"]
    assert ti.conflict_hashes is None and ti.conflict_ends is not None
    assert "entity_id" not in ti.conflict_table.column_names
    assert "golden_value" not in ti.conflict_table.column_names
    kind = ti.conflict_table.schema.field("candidates").type.value_type
    assert [kind.field(k).name for k in range(kind.num_fields)] == [
        "__value", "raw_value", "record_id"]
    assert ti.records.schema.field("source").type == pa.dictionary(pa.int8(), pa.string())
    # every column of the run's records (an incremental run takes touched rows from
    # here) but the type and cluster size, and the content hash
    run_columns = set(read_run_table(synth_run, "records").column_names)
    assert set(ti.records.column_names) == run_columns - {"entity_type", "cluster_size"} | {
        "__content"}


def test_compact_reads_back_the_same_values() -> None:
    """Dictionary-encoded text (top level, in lists of structs, small and large
    dictionaries) and narrowed integers read back as the plain table's values."""
    from linkage.service.index_tables import compact, plain
    from linkage.service.rows import Rows

    many = [f"v{i % 5000}" for i in range(20_000)]
    table = pa.table({
        "few": pa.array(["a", "b", None, "a"] * 5000),
        "many": pa.array(many),
        "unique": pa.array([f"u{i}" for i in range(20_000)]),
        "n": pa.array(list(range(20_000)), pa.int64()),
        "nested": pa.array([[{"s": "x" if i % 3 else None, "k": i}] for i in range(20_000)]),
    })
    packed = compact(table, narrow=True)
    assert pa.types.is_dictionary(packed.schema.field("few").type)
    assert pa.types.is_dictionary(packed.schema.field("many").type)  # > 4096 distinct
    assert packed.schema.field("unique").type == pa.string()  # nothing repeats
    assert packed.schema.field("n").type == pa.int32()
    assert pa.types.is_dictionary(packed.schema.field("nested").type.value_type.field("s").type)
    assert Rows(packed, json=True).rows(range(20_000)) == \
        Rows(table, json=True).rows(range(20_000))
    assert plain(packed.select(["few", "many"])).equals(table.select(["few", "many"]))


MASKED_PASS = """
[[person.blocking]]
name = "id_masked"
keys = ["id_number", "id_number"]
prefix = [4, 0]
suffix = [0, 4]
keys_right = ["id_number", "id_number"]
keys_where = "id_number__masked"
max_block_size = 8
"""
# ends 1101 / 002X: H001 and S01 (11010519491231002X) and H009 hold full numbers, H008 a
# masked one; ends 4405 / 0014 (H002, T1) are full numbers only
MASKED_ROWS = [
    ["H008", "张伟", "1101**********002X", "", "", "", "2024-05-01"],
    ["H009", "赵敏", "11010819500101002X", "1950-01-01", "", "", "2024-05-01"],
]


def _cross_candidates(run: Path, query_ids: list[str]) -> list[tuple[list[int], list[int]]]:
    """For each query ID number: the id_masked pass's candidates from the index (one record
    and batch) and the run's pairs of the query with the master's records (block stage)."""
    from dataclasses import replace

    from linkage.io.run_tables import read_run_table
    from linkage.standardisers import standardise_record

    whole = MasterIndex.open(run).types["person"]
    ti = replace(whole, keys={"id_masked": whole.keys["id_masked"]})
    bp = ti.keys["id_masked"].bp
    master = read_run_table(run, "records")
    qid = ti.max_record_id + 1
    out = []
    for id_number in query_ids:
        fields = dict.fromkeys(ti.section.fields)
        query = {"record_id": qid, "source": "query",
                 **standardise_record({**fields, "id_number": id_number}, ti.section.fields)}
        union = pa.concat_tables([master.select(list(query)),
                                  pa.Table.from_pylist([query]).cast(
                                      master.select(list(query)).schema)])
        pairs = block(union, [bp]).pairs
        mine = pairs.filter(pc.equal(pairs.column("id_r"), qid))
        _, batch = ti.candidates(union.slice(union.num_rows - 1))
        one = ti.record_candidates(query).tolist()
        assert sorted(batch.tolist()) == one
        out.append((one, sorted(mine.column("id_l").to_pylist())))
    return out


def _keys_of(run: Path, record_ids: list[int]) -> set[str]:
    from linkage.io.run_tables import read_run_table

    rows = read_run_table(run, "records", columns=["record_id", "source_key"]).to_pylist()
    return {r["source_key"] for r in rows if r["record_id"] in record_ids}


def test_masked_id_pass_is_served_as_the_run_pairs_it(tmp_path: Path) -> None:
    """The preset's cross pass over its own keys with keys_where: a masked query meets
    every record with its ends, a full one only the masked ones (none in a block of full
    numbers only); a block is capped by its records, its masked ones once more and the
    query (once, or twice when masked). The same after an incremental batch that adds a
    masked record and deletes another."""
    import csv
    import shutil

    from linkage.io.outputs import write_outputs
    from linkage.pipeline import Pipeline
    from linkage.service.incremental import run_incremental
    from linkage.service.index_write import write_index

    folder = tmp_path / "tiny"
    shutil.copytree(Path(__file__).parent.parent / "fixtures" / "tiny", folder)
    spec = (folder / "pipeline.toml").read_text(encoding="utf-8")
    at = spec.index("[[person.comparisons]]")
    (folder / "pipeline.toml").write_text(spec[:at] + MASKED_PASS.lstrip() + "\n" + spec[at:],
                                          encoding="utf-8")
    with (folder / "household.csv").open("a", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(MASKED_ROWS)
    run = tmp_path / "run"
    result = Pipeline.from_toml(folder / "pipeline.toml").run()
    write_outputs(result, run)
    write_index(result, run)
    masked, full, lone = "1101**********002X", "11010519491231002X", "440524188001010014"
    found = _cross_candidates(run, [masked, full, lone])
    for one, expected in found:
        assert one == expected
    # block 1101/002X: 4 records, 1 masked; a masked query makes it 4 + 1 + 2 = 7 <= 8
    assert _keys_of(run, found[0][0]) == {"H001", "S01", "H008", "H009"}
    assert _keys_of(run, found[1][0]) == {"H008"}
    assert found[2][0] == []
    # the batch: H010 and H011 come, masked with the same ends; H008 goes
    nightly_household(folder, [
        ["H010", "张伟", "1101**********002X", "", "", "", "2025-01-01", ""],
        ["H011", "孙丽", "1101**********002X", "", "", "", "2025-01-01", ""],
        ["H008", "", "", "", "", "", "2025-01-01", "1"]])
    run_incremental(folder / "nightly.toml", run, tmp_path / "run2")
    found = _cross_candidates(tmp_path / "run2", [masked, full, "1101**********003X"])
    for one, expected in found:
        assert one == expected
    # now 5 records, 2 masked: a masked query makes it 5 + 2 + 2 = 9 > 8 (skipped), a full
    # one 8 (kept)
    assert found[0][0] == []
    assert _keys_of(tmp_path / "run2", found[1][0]) == {"H010", "H011"}
    assert found[2][0] == []


def _sorted_keys(h: np.ndarray, keep: np.ndarray) -> SortedKeys:
    ids = np.flatnonzero(keep)
    order = np.argsort(h[keep], kind="stable")
    return SortedKeys(h[keep][order], ids[order].astype(np.int64))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.booleans()), max_size=12),
       st.lists(st.tuples(st.sampled_from(["a", "b", "d", None]), st.booleans()),
                min_size=1, max_size=4),
       st.integers(min_value=2, max_value=6), st.booleans())
def test_cross_pass_lookups_are_the_run_pairs(master_rows: list[tuple[str | None, bool]],
                                              queries: list[tuple[str | None, bool]],
                                              cap: int, where: bool) -> None:
    """Both lookups of a cross pass over its own keys (batch: cross_parts, one record:
    cross_ids) give each query the records block() pairs it with when it joins the
    master, caps and one-sided blocks included, with keys_where and without."""
    from linkage.service.keys import flagged_rows, pass_keys

    bp = BlockingPass(name="x", keys=("k",), keys_right=("k",),
                      keys_where="f" if where else "", max_block_size=cap)
    n = len(master_rows)
    master = pa.table({"record_id": pa.array(range(n), pa.int64()),
                       "k": pa.array([k for k, _ in master_rows], pa.string()),
                       "f": pa.array([f for _, f in master_rows], pa.bool_())})
    h, present = hash_strings(pass_keys(master, bp))
    flags = flagged_rows(master, bp)
    pk = PassKeys(bp, _sorted_keys(h, present),
                  flagged=_sorted_keys(h, present & flags) if where else None)
    table = pa.table({"record_id": pa.array(range(n, n + len(queries)), pa.int64()),
                      "k": pa.array([k for k, _ in queries], pa.string()),
                      "f": pa.array([f for _, f in queries], pa.bool_())})
    qh, qp = hash_strings(pass_keys(table, bp))
    batch: dict[int, set[int]] = {i: set() for i in range(len(queries))}
    for rows, keys, lo, hi in pk.cross_parts(flagged_rows(table, bp), qh, qp):
        for row, a, b in zip(rows.tolist(), lo.tolist(), hi.tolist(), strict=True):
            batch[row] |= set(keys.values[a:b].tolist())
    for i, (k, f) in enumerate(queries):
        pairs = block(pa.concat_tables([master, table.slice(i, 1)]), [bp]).pairs
        qid = n + i
        expected = set(pairs.filter(pc.equal(pairs.column("id_r"), qid))
                       .column("id_l").to_pylist())
        assert batch[i] == expected
        one = set(pk.cross_ids(f or not where, int(qh[i])).tolist()) if k is not None else set()
        assert one == expected


def test_a_hash_run_is_found_up_to_the_last_hash() -> None:
    """SortedKeys.run searches h and h + 1 at once; the largest hash has no h + 1."""
    top = (1 << 64) - 1
    keys = SortedKeys(np.array([1, 5, 5, top - 1, top, top], dtype=np.uint64),
                      np.arange(6, dtype=np.int64))
    assert [keys.run(h) for h in (0, 1, 5, 7, top - 1, top)] == [
        (0, 0), (0, 1), (1, 3), (3, 3), (3, 4), (4, 6)]
    lo, hi = keys.ranges(np.array([0, 1, 5, 7, top - 1, top], dtype=np.uint64))
    assert list(zip(lo.tolist(), hi.tolist(), strict=True)) == [
        (0, 0), (0, 1), (1, 3), (3, 3), (3, 4), (4, 6)]
