"""Incremental runs on synthetic persons and enterprises: an unchanged batch reproduces
the previous run's outputs row for row, and a batch of changes on both entity types gives
what a full run of the same pipeline (base and delta sources) gives."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linkage.config import load_pipeline
from linkage.io.outputs import write_outputs
from linkage.io.run_tables import read_run_table
from linkage.pipeline import Pipeline
from linkage.service.incremental import read_with_deltas, run_incremental
from linkage.service.index_write import write_index

OUTPUTS = ["records", "golden_person", "golden_enterprise", "conflicts", "legal_reps",
           "quality", "pairs"]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from linkage.synth import generate

    base = tmp_path_factory.mktemp("both")
    generate(persons=150, enterprises=50, seed=8, out=base / "data")
    result = Pipeline.from_toml(base / "data" / "pipeline.toml").run()
    write_outputs(result, base / "run")
    write_index(result, base / "run")
    return base / "data", base / "run"


def _rows(folder: Path, name: str) -> list[str]:
    table = read_run_table(folder, name)
    return sorted(map(str, table.select(sorted(table.column_names)).to_pylist()))


def test_an_unchanged_batch_reproduces_the_run(both: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = both
    done = run_incremental(data / "pipeline.toml", run, tmp_path / "again")
    assert all(c["unchanged"] == c["batch"] > 0 for c in done.counts.values())
    # nothing changed: the previous run's tables are linked as they are, with no part
    assert not list((tmp_path / "again").glob("*__*.parquet"))
    assert (tmp_path / "again" / "records.parquet").stat().st_ino == \
        (run / "records.parquet").stat().st_ino
    for name in OUTPUTS:
        assert _rows(tmp_path / "again", name) == _rows(run, name), name
    from linkage.service.index_parts import index_parts

    assert not index_parts(tmp_path / "again")  # and the index got no part either
    # no table is a log, but the workbooks hold the night's (no) changes: compacting
    # writes them complete, as the full run wrote them
    from linkage.service.compact import compact_run

    books = sorted((run / "worklists").glob("*.xlsx"))
    assert books and all((tmp_path / "again" / "worklists" / b.name).read_bytes() !=
                         b.read_bytes() for b in books)
    assert compact_run(tmp_path / "again") == ["worklists"]
    for book in books:
        assert (tmp_path / "again" / "worklists" / book.name).read_bytes() == \
            book.read_bytes(), book.name
    assert compact_run(tmp_path / "again") == []


def _delta_source(spec: str, department: str, etype: str, path: str) -> tuple[str, str]:
    """The department's [[sources]] table of ``etype``, as a delta reading ``path``, and
    the file it reads."""
    tables = re.split(r"(?=^\[\[sources\]\])", spec, flags=re.M)
    table = next(t for t in tables if f'department = "{department}"' in t
                 and f'entity_type = "{etype}"' in t)
    table = table.split("\n[person]")[0].split("\n[enterprise]")[0]
    original = re.search(r'path = "([^"]+)"', table).group(1)  # type: ignore[union-attr]
    return table.replace(f'path = "{original}"', f'path = "{path}"').replace(
        "[[sources]]\n", "[[sources]]\ndelta = true\n", 1), original


def test_changes_on_both_types_match_a_full_run(both: tuple[Path, Path], tmp_path: Path,
                                                report_counts_are_whole: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    data, run = both
    spec = (data / "pipeline.toml").read_text(encoding="utf-8")
    extra = []
    for department, etype in (("household", "person"), ("tax", "enterprise")):
        table, original = _delta_source(spec, department, etype, f"{etype}_delta.csv")
        encoding = re.search(r'encoding = "([^"]+)"', table)
        enc = encoding.group(1) if encoding else "utf-8"
        with (data / original).open(encoding=enc, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        key = header.index(re.search(r'key = "([^"]+)"', table).group(1))  # type: ignore[union-attr]
        address = header.index(re.search(r'\naddress = "([^"]+)"', table).group(1))  # type: ignore[union-attr]
        delta = []
        for row in body[:4]:  # new versions: another address
            delta.append([*row[:address], row[address] + "附1号", *row[address + 1:]])
        for i, row in enumerate(body[4:8]):  # the same people under new keys
            delta.append([*row[:key], f"NEW{i}", *row[key + 1:]])
        with (data / f"{etype}_delta.csv").open("w", encoding=enc, newline="") as f:
            csv.writer(f).writerows([header, *delta])
        extra.append(table)
    (data / "nightly.toml").write_text(spec.replace("\n[person]", "\n" + "".join(extra)
                                                    + "\n[person]", 1), encoding="utf-8")
    with caplog.at_level("INFO", logger="linkage.service.incremental_tables"):
        done = run_incremental(data / "nightly.toml", run, tmp_path / "inc")
    # legal representatives too are resolved over the entities that can take part: no
    # complete table of the master is built
    assert not [r for r in caplog.records if "built when read" in r.getMessage()]
    assert {t: (c["new"], c["changed"]) for t, c in done.counts.items()} == {
        "person": (4, 4), "enterprise": (4, 4)}
    report_counts_are_whole(tmp_path / "inc")
    full = Pipeline.from_toml(data / "nightly.toml").run(
        read_with_deltas(load_pipeline(data / "nightly.toml")))
    write_outputs(full, tmp_path / "full")

    def partition(folder: Path) -> set[frozenset[tuple[str, str]]]:
        rows = read_run_table(folder, "records",
                             columns=["source", "source_key", "entity_id"]).to_pylist()
        groups: dict[str, set[tuple[str, str]]] = {}
        for r in rows:
            groups.setdefault(r["entity_id"], set()).add((r["source"], r["source_key"]))
        return {frozenset(g) for g in groups.values()}

    assert partition(tmp_path / "inc") == partition(tmp_path / "full")
    for name in ("golden_person", "golden_enterprise", "legal_reps"):
        inc = read_run_table(tmp_path / "inc", name)
        ful = read_run_table(tmp_path / "full", name)
        drop = [c for c in inc.column_names if c.endswith("_id")]
        assert _values(inc.drop_columns(drop)) == _values(ful.drop_columns(drop)), name


def _values(table: object) -> list[str]:
    return sorted(map(str, table.to_pylist()))  # type: ignore[attr-defined]


def test_legal_reps_read_every_record_of_the_entities_that_can_take_part(
        both: tuple[Path, Path]) -> None:
    """The scoped inputs of an incremental run's legal representatives: the entities
    holding a representative's name or ID number, and every record of them, are those
    the run folder's whole table gives (so the exact joins of resolve_legal_reps meet
    the same rows as over the whole master)."""
    from types import SimpleNamespace

    import pyarrow as pa
    import pyarrow.compute as pc

    from linkage.service import MasterIndex
    from linkage.service.incremental import _current_records, _holding
    from linkage.service.incremental_tables import Loads

    _, run = both
    ti = MasterIndex.open(run).types["person"]
    records = read_run_table(run, "records")
    records = records.filter(pc.equal(records["entity_type"], "person"))
    names = pa.array(sorted(set(records["name"].drop_null().to_pylist()))[:12])
    ids = pa.array(sorted(set(records["id_number"].drop_null().to_pylist()))[-12:])
    nothing = SimpleNamespace(records_added=records.slice(0, 0),
                              replaced=np.zeros(0, dtype=np.int64))
    found = _holding(ti, nothing, {"name": names, "id_number": ids})  # type: ignore[arg-type]
    hit = pc.or_(pc.is_in(records["name"], value_set=names),
                 pc.is_in(records["id_number"], value_set=ids))
    expected = set(records.filter(pc.fill_null(hit, False))["entity_id"].to_pylist())
    assert set(found.to_pylist()) == expected and len(expected) >= 12
    rows = _current_records(ti, nothing, Loads(ti), found)  # type: ignore[arg-type]
    whole = records.filter(pc.is_in(records["entity_id"], value_set=found))
    assert sorted(rows["record_id"].to_pylist()) == sorted(whole["record_id"].to_pylist())
    assert len(whole) > len(expected)  # entities' other records came along
