"""The out-of-core engine gives what the in-memory pipeline gives: same entities, golden
records and conflicts, with standardise batches and entity chunks far smaller than the
data, its tables memory-mapped from spill files."""

from __future__ import annotations

import gc
import mmap
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from linkage.cli import main
from linkage.engines.budget import parse_size
from linkage.engines.local import LocalPipeline, entity_chunks
from linkage.engines.settings import EngineConfig
from linkage.pipeline import Pipeline, PipelineResult
from linkage.synth import generate


def _same(a: PipelineResult, b: PipelineResult) -> None:
    keep = ["record_id", "source", "source_key", "entity_type", "entity_id", "flags"]
    assert a.records.select(keep).equals(b.records.select(keep))
    assert a.records.equals(b.records)  # every column, built in record-id ranges or not
    assert a.records.num_rows == a.raw_records.num_rows
    for etype in a.entities:
        assert a.golden[etype].equals(b.golden[etype]), etype
        assert a.entities[etype].conflicts.equals(b.entities[etype].conflicts), etype
        assert a.entities[etype].quality.equals(b.entities[etype].quality), etype
        _same_scores(a.entities[etype].scored, b.entities[etype].scored)
    assert a.legal_reps is not None and b.legal_reps is not None
    assert a.legal_reps.equals(b.legal_reps)


def _same_scores(a: pa.Table, b: pa.Table) -> None:
    """The same pairs and levels; weights equal to rounding (each run fits its own model,
    and Arrow's threaded sums may add in another order)."""
    assert a.schema == b.schema and a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            assert np.allclose(x.to_numpy(), y.to_numpy(), rtol=1e-9, atol=1e-9,
                               equal_nan=True), name
        else:
            assert x.equals(y), name


def test_the_sample_out_of_core_in_small_chunks(tmp_path: Path) -> None:
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        pipeline = Pipeline.from_toml(Path(folder) / "pipeline.toml")
        in_memory = pipeline.run(evaluate=False)
        local = LocalPipeline(pipeline.config, work_dir=tmp_path / "work", chunk_rows=97)
        out_of_core = local.run(evaluate=False)
    _same(out_of_core, in_memory)
    # the standardised records were spilled in batches and come back memory-mapped
    spilled = local.spilled
    assert sum("std_person" in n for n in spilled) == -(-in_memory.entities[
        "person"].records.num_rows // 97)
    # the records with their entity ids: one file per range of 97 record ids
    assert sum("records" in n for n in spilled) == -(-in_memory.records.num_rows // 97)
    assert any("by_entity" in n for n in spilled)


def test_spill_files_go_once_nothing_reads_them(tmp_path: Path) -> None:
    """Each type's records are read back from the records' files, so the standardised
    batches' files go (a small table's model keeps its u-sample, the records, until it
    goes too), and the folder's peak size is counted."""
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        pipeline = Pipeline.from_toml(Path(folder) / "pipeline.toml")
        in_memory = pipeline.run(evaluate=False)
        local = LocalPipeline(pipeline.config, work_dir=tmp_path / "work", chunk_rows=97)
        result = local.run(evaluate=False)
    for etype, entity in result.entities.items():
        assert entity.records.equals(in_memory.entities[etype].records), etype
        entity.model = None  # type: ignore[assignment]
    gc.collect()
    left = [p.name for p in (tmp_path / "work").iterdir()]
    assert sum("std_" in n for n in local.spilled) > 2
    assert not any("std_" in n for n in left), left
    assert any("records" in n for n in left)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "work").iterdir())
    assert local.space.live == on_disk < local.space.peak
    del result, entity
    gc.collect()
    assert not any((tmp_path / "work").iterdir())
    assert local.space.live == 0


def test_a_generated_set_out_of_core(tmp_path: Path) -> None:
    generate(persons=1000, enterprises=250, seed=7, out=tmp_path / "synth")
    pipeline = Pipeline.from_toml(tmp_path / "synth" / "pipeline.toml")
    in_memory = pipeline.run()
    out_of_core = LocalPipeline(pipeline.config, work_dir=tmp_path / "work",
                                chunk_rows=400).run()
    _same(out_of_core, in_memory)
    assert out_of_core.metrics == in_memory.metrics


def test_entity_chunks_keep_entities_whole_and_in_order() -> None:
    records = pa.table({"record_id": pa.array([5, 1, 2, 3, 4, 0], pa.int64()),
                        "x": pa.array(list("abcdef"))})
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3, 4, 5], pa.int64()),
                         "entity_id": pa.array(["P3", "P1", "P2", "P1", "P3", "P2"])})
    chunks = list(entity_chunks(records, clusters, 2))
    ids = [sorted(set(c.column("entity_id").to_pylist())) for _, c in chunks]
    assert ids == [["P1"], ["P2"], ["P3"]]
    for part, clus in chunks:
        assert part.column("record_id").to_pylist() == clus.column("record_id").to_pylist()
    assert sorted(x for p, _ in chunks for x in p.column("x").to_pylist()) == list("abcdef")


def test_memory_sizes() -> None:
    assert parse_size("8GB") == 8 << 30
    assert parse_size("512mb") == 512 << 20
    assert EngineConfig().memory_bytes > 0
    for bad in ("lots", "8XB", "1MB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_run_takes_a_memory_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = Path(__file__).resolve().parents[2] / "datasets" / "handwritten.toml"
    assert main(["run", str(pipeline), "--out", str(tmp_path / "a"),
                 "--memory-limit", "256MB"]) == 0
    assert (tmp_path / "a" / "run.json").is_file()
    assert not (tmp_path / "a" / ".linkage-work").exists()
    capsys.readouterr()
    assert main(["run", str(pipeline), "--out", str(tmp_path / "b"),
                 "--memory-limit", "lots"]) == 2
    assert "--memory-limit" in capsys.readouterr().err


def test_released_pages_leave_the_process_but_not_the_table(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow.compute as pc

    from linkage.engines.local import release, spill

    def file_kb() -> int:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            line = next(x for x in status if x.startswith("RssFile:"))
        return int(line.split()[1])

    maps: list[mmap.mmap] = []
    table = spill(pa.table({"x": np.arange(20_000_000, dtype=np.int64)}),
                  tmp_path / "x.arrow", maps)
    release(maps)
    before = file_kb()
    total = pc.sum(table["x"]).as_py()
    assert file_kb() - before > 100_000  # 160 MB read through the map
    release(maps)
    assert file_kb() - before < 50_000
    assert pc.sum(table["x"]).as_py() == total == 20_000_000 * 19_999_999 // 2
