"""The master index as a log: an incremental run links the previous index's files and adds
a part; lookups through base and parts give what the same index compacted gives, night
after night (new versions, new records, deletions), and compaction writes the files a
fresh index of the same run holds."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from linkage.io.outputs import write_outputs
from linkage.io.run_tables import read_run_table
from linkage.pipeline import Pipeline
from linkage.service import MasterIndex, Resolver
from linkage.service.incremental import run_incremental
from linkage.service.index import MasterIndexError, part_dir
from linkage.service.index_parts import compact_index
from linkage.service.index_write import build_index, write_index
from linkage.standardisers import standardise

FIELDS = ["name", "id_number", "birth_date", "sex", "phone", "address"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Synthetic persons (300) run once, with a nightly pipeline whose household source
    is a delta with a deletion marker."""
    from linkage.synth import generate

    base = tmp_path_factory.mktemp("ixlog")
    generate(persons=300, enterprises=0, seed=5, out=base / "data")
    data = base / "data"
    result = Pipeline.from_toml(data / "pipeline.toml").run()
    write_outputs(result, base / "run")
    write_index(result, base / "run")
    spec = (data / "pipeline.toml").read_text(encoding="utf-8")
    tables = re.split(r"(?=^\[\[sources\]\])", spec, flags=re.M)
    table = next(t for t in tables if 'department = "household"' in t)
    table = table.split("\n[person]")[0]
    original = re.search(r'path = "([^"]+)"', table).group(1)  # type: ignore[union-attr]
    delta = table.replace(f'path = "{original}"', 'path = "delta.csv"').replace(
        "[[sources]]\n", '[[sources]]\ndelta = true\ndeleted = "gone"\n', 1)
    (data / "nightly.toml").write_text(spec.replace("\n[person]", "\n" + delta + "\n[person]",
                                                    1), encoding="utf-8")
    (data / "household.name").write_text(original, encoding="utf-8")
    return data, base / "run"


def _household(data: Path) -> tuple[list[str], list[list[str]], str, str, str]:
    """The household file's header and rows, its key and address columns, encoding."""
    spec = (data / "nightly.toml").read_text(encoding="utf-8")
    table = next(t for t in re.split(r"(?=^\[\[sources\]\])", spec, flags=re.M)
                 if 'path = "delta.csv"' in t)
    key = re.search(r'key = "([^"]+)"', table).group(1)  # type: ignore[union-attr]
    address = re.search(r'\naddress = "([^"]+)"', table).group(1)  # type: ignore[union-attr]
    encoding = re.search(r'encoding = "([^"]+)"', table)
    enc = encoding.group(1) if encoding else "utf-8"
    original = (data / "household.name").read_text(encoding="utf-8")
    with (data / original).open(encoding=enc, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:], key, address, enc


def _night(data: Path, changed: range, new: range, deleted: range, tag: str) -> None:
    header, body, key, address, enc = _household(data)
    k, a = header.index(key), header.index(address)
    rows = [[*r[:a], r[a] + tag, *r[a + 1:], ""] for r in (body[i] for i in changed)]
    rows += [[*r[:k], f"{tag}{i}", *r[k + 1:], ""] for i, r in zip(new, (body[i] for i in new),
                                                                   strict=True)]
    rows += [[*r, "1"] for r in (body[i] for i in deleted)]
    with (data / "delta.csv").open("w", encoding=enc, newline="") as f:
        csv.writer(f).writerows([[*header, "gone"], *rows])


def _queries(data: Path) -> list[dict[str, Any]]:
    run = data.parent / "run"
    records = read_run_table(run, "records")
    picks = np.random.default_rng(7).choice(records.num_rows, 40, replace=False)
    out = []
    for row in records.take(pa.array(np.sort(picks))).to_pylist():
        query = {f: row.get(f"{f}__raw") for f in FIELDS if row.get(f"{f}__raw")}
        out.append(query)
    # somebody new, and a half-known record
    out.append({"name": "欧阳明月", "id_number": "110105199001011234", "phone": "13800001111"})
    out.append({"name": out[0].get("name", "张伟"), "birth_date": "1990-01-01"})
    return out


def _answers(run: Path, queries: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything a lookup gives: resolve (one and many), entities, candidates."""
    resolver = Resolver.open(run)
    one = [resolver.resolve(q) for q in queries]
    many = resolver.resolve_many(queries)
    ti = resolver.index.types["person"]
    ids = sorted(set(read_run_table(run, "records").column("entity_id").to_pylist()))
    entities = {e: resolver.entity(e) for e in ids[::7]}
    for e in ids[::7]:
        assert entities[e] is not None, e
    std = standardise(resolver.query_records(queries, "person", None), ti.section.fields)
    q, r = ti.candidates(std)
    return {"one": one, "many": many.entities.to_pylist(), "entities": entities,
            "candidates": sorted(zip(q.tolist(), r.tolist(), strict=True)),
            "count": len(ti.record_ids), "golden_gone": ti.golden_row("P-none")}


def _compacted(run: Path, tmp: Path) -> Path:
    """A copy of ``run`` with its index compacted (merged from the log's layers, not
    built again from the run's tables)."""
    copy = tmp / f"{run.name}-compacted"
    shutil.copytree(run, copy)
    with patch("linkage.service.index_write.build_index",
               side_effect=AssertionError("the layers did not merge")):
        assert compact_index(copy)
    assert not list((copy / "index" / "person").glob("part_*"))
    assert _parts(copy) == 0
    return copy


def _parts(run: Path) -> int:
    manifest = json.loads((run / "index" / "manifest.json").read_text(encoding="utf-8"))
    return int(manifest["types"]["person"].get("parts", 0))


def test_three_nights_answer_as_the_compacted_index(synth: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    data, run = synth
    queries = _queries(data)
    nights = [(range(5), range(5, 9), range(0)),
              (range(10, 13), range(13, 15), range(20, 24)),
              (range(2), range(30, 33), range(40, 41))]
    previous = run
    for n, (changed, new, deleted) in enumerate(nights, 1):
        _night(data, changed, new, deleted, f"N{n}")
        out = tmp_path / f"night{n}"
        done = run_incremental(data / "nightly.toml", previous, out)
        assert done.counts["person"]["deleted"] == len(deleted)
        assert _parts(out) == n
        # the master's own index files are the base, linked, never written again
        for name in ("records.arrow", "golden.arrow", "conflicts.arrow", "members.arrow"):
            assert (out / "index" / "person" / name).stat().st_ino == \
                (run / "index" / "person" / name).stat().st_ino, name
        logged, whole = _answers(out, queries), _answers(_compacted(out, tmp_path), queries)
        for k in logged["entities"]:
            assert logged["entities"][k] == whole["entities"][k], k
        assert logged == whole
        assert logged["count"] == read_run_table(out, "records").num_rows
        # deleted records are never candidates, nor members
        gone = set(read_run_table(previous, "records").column("record_id").to_pylist()) - \
            set(read_run_table(out, "records").column("record_id").to_pylist())
        assert gone and not gone & {r for _, r in logged["candidates"]}
        previous = out
    # a part missing: refused, saying what is wrong
    shutil.rmtree(part_dir(previous / "index" / "person", 2))
    with pytest.raises(MasterIndexError, match="part 2 of the index, which is missing"):
        MasterIndex.open(previous)


def test_compacting_gives_the_files_of_a_fresh_index(synth: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    data, run = synth
    _night(data, range(50, 54), range(54, 58), range(60, 62), "C")
    run_incremental(data / "nightly.toml", run, tmp_path / "inc")
    _night(data, range(70, 72), range(0), range(54, 55), "D")
    run_incremental(data / "nightly.toml", tmp_path / "inc", tmp_path / "inc2")
    compacted = _compacted(tmp_path / "inc2", tmp_path)
    fresh = tmp_path / "fresh"
    shutil.copytree(tmp_path / "inc2", fresh)
    shutil.rmtree(fresh / "index")
    build_index(fresh)
    mine, theirs = compacted / "index" / "person", fresh / "index" / "person"
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for path in sorted(mine.glob("*.arrow")):
        a, b = _read(path), _read(theirs / path.name)
        if path.name.startswith(("keys_", "members", "tf_", "golden", "conflicts")):
            assert a.equals(b), path.name  # the same bytes' worth of values, in order
        elif path.name.startswith("quality"):
            continue  # the run's updated counts, not the index's (test_incremental)
        else:  # (a run folder's clusters have fewer columns than the run's)
            shared = [c for c in a.column_names if c in b.column_names]
            assert a.select(shared).to_pylist() == b.select(shared).to_pylist(), path.name


def test_past_the_most_parts_the_index_is_written_whole(
        synth: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import linkage.service.index_write as index_write

    monkeypatch.setattr(index_write, "MAX_INDEX_PARTS", 1)
    data, run = synth
    _night(data, range(80, 82), range(82, 84), range(0), "E")
    run_incremental(data / "nightly.toml", run, tmp_path / "one")
    assert _parts(tmp_path / "one") == 1
    _night(data, range(90, 92), range(0), range(92, 93), "F")
    run_incremental(data / "nightly.toml", tmp_path / "one", tmp_path / "two")
    assert _parts(tmp_path / "two") == 0
    assert not list((tmp_path / "two" / "index" / "person").glob("part_*"))
    queries = _queries(data)
    fresh = tmp_path / "fresh"
    shutil.copytree(tmp_path / "two", fresh)
    build_index(fresh)
    assert _answers(tmp_path / "two", queries) == _answers(fresh, queries)


def _read(path: Path) -> pa.Table:
    with ipc.open_file(str(path)) as reader:
        return reader.read_all()


def test_a_logged_key_file_reads_as_the_compacted_one() -> None:
    from linkage.service.index import SortedKeys
    from linkage.service.index_log import logged_keys

    rng = np.random.default_rng(11)
    h = np.sort(rng.integers(0, 40, 500).astype(np.uint64))
    v = rng.permutation(500).astype(np.int32)
    base = SortedKeys(h, v)
    dead = np.sort(rng.choice(500, 60, replace=False)).astype(np.int64)
    add_h = rng.integers(0, 45, 80).astype(np.uint64)
    add_v = np.arange(1000, 1080, dtype=np.int64)
    order = np.lexsort((add_v, add_h))
    keys = logged_keys(base, dead, add_h[order], add_v[order])
    # the file compacting them would hold: the live base entries and the additions
    live = np.ones(500, dtype=bool)
    live[dead] = False
    all_h = np.concatenate([h[live], add_h])
    all_v = np.concatenate([v[live].astype(np.int64), add_v])
    at = np.lexsort((all_v, all_h))
    want_h, want_v = all_h[at], all_v[at]
    assert len(keys.hashes) == len(want_h) == 440 + 80
    queries = np.arange(0, 50, dtype=np.uint64)
    lo, hi = keys.ranges(queries)
    assert (hi - lo).tolist() == [int((want_h == q).sum()) for q in queries]  # live only
    for q, a, b in zip(queries.tolist(), lo.tolist(), hi.tolist(), strict=True):
        assert sorted(keys.values[a:b].tolist()) == sorted(want_v[want_h == q].tolist())
        assert int(keys.hashes.searchsorted(np.uint64(q), side="left")) == a
        assert int(keys.hashes.searchsorted(np.uint64(q), side="right")) == b
    # every position at once, and the whole column, hash by hash as the compacted file
    pos = np.arange(len(want_h))
    assert keys.hashes[pos].tolist() == want_h.tolist()
    pairs = zip(keys.hashes[pos].tolist(), keys.values[pos].tolist(), strict=True)
    assert sorted(pairs) == sorted(zip(want_h.tolist(), want_v.tolist(), strict=True))
    assert np.asarray(keys.hashes).tolist() == want_h.tolist()
    assert not set(keys.values[pos].tolist()) & set(v[dead].tolist())
    # any slice (a run of base entries is read as one) is the positions it spans
    for a, b in np.sort(rng.integers(0, len(want_h) + 1, (300, 2)), axis=1).tolist():
        assert keys.values[a:b].tolist() == keys.values[np.arange(a, b)].tolist(), (a, b)
        assert keys.hashes[a:b].tolist() == want_h[a:b].tolist(), (a, b)


def test_linkage_compact_builds_the_index_again_when_its_layers_do_not_merge(
        synth: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import linkage.service.index_parts as index_parts
    from linkage.cli import main
    from linkage.service.index_parts import NotLoggedError

    data, run = synth
    _night(data, range(100, 103), range(103, 105), range(105, 106), "G")
    inc = tmp_path / "inc"
    run_incremental(data / "nightly.toml", run, inc)
    queries = _queries(data)
    before = _answers(inc, queries)

    def refuse(*_: object) -> None:
        raise NotLoggedError("layouts differ (as a test makes them)")

    monkeypatch.setattr(index_parts, "_merged_layers", refuse)
    assert main(["compact", str(inc)]) == 0
    assert _parts(inc) == 0 and not list((inc / "index" / "person").glob("part_*"))
    assert _answers(inc, queries) == before
