"""End to end on the hand-checked tiny fixture: entities, nothing lost, determinism."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from linkage.io.outputs import write_outputs
from linkage.pipeline import Pipeline

EXPECTED = [
    {"household:H001", "social_security:S01"},
    {"household:H002", "tax:T1"},
    {"household:H003", "social_security:S02"},
    {"household:H004", "social_security:S03", "tax:T3"},
    {"household:H005", "tax:T2"},
    {"social_security:S04"},
]


def _entities(records: list[dict[str, object]]) -> list[set[str]]:
    groups: dict[object, set[str]] = {}
    for r in records:
        groups.setdefault(r["entity_id"], set()).add(f"{r['source']}:{r['source_key']}")
    return sorted(groups.values(), key=lambda g: sorted(g))


def test_tiny_pipeline_finds_the_true_entities(tiny_dir: Path) -> None:
    result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    assert _entities(result.records.to_pylist()) == sorted(EXPECTED, key=lambda g: sorted(g))
    person = result.entities["person"]
    # Every intermediate table is kept.
    assert person.blocking.pairs.num_rows >= 7
    assert person.vectors.num_rows == person.blocking.pairs.num_rows
    assert person.golden.num_rows == 6


def test_golden_record_prefers_trusted_recent_values(tiny_dir: Path) -> None:
    result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    golden = {r["id_number"]: r for r in result.golden["person"].to_pylist()}
    wang = golden["360426199101010071"]
    # Household (trust 0.9, newer) says 王芳, social security has the typo 王方.
    assert wang["name"] == "王芳"
    assert wang["name__source"] == "household"


def test_every_input_record_appears_exactly_once(tiny_dir: Path, tmp_path: Path) -> None:
    result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    write_outputs(result, tmp_path / "out")
    records = pq.read_table(tmp_path / "out" / "records.parquet").to_pylist()
    keys = [(r["source"], r["source_key"]) for r in records]
    assert len(keys) == 12
    assert len(set(keys)) == 12
    assert sorted(r["record_id"] for r in records) == list(range(12))
    assert all(r["entity_id"] for r in records)


def test_same_input_gives_identical_outputs(tiny_dir: Path, tmp_path: Path) -> None:
    for run in ("a", "b"):
        result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
        write_outputs(result, tmp_path / run)
    for name in ("records", "pairs", "golden_person", "conflicts", "quality"):
        a = pq.read_table(tmp_path / "a" / f"{name}.parquet")
        b = pq.read_table(tmp_path / "b" / f"{name}.parquet")
        assert a.equals(b), name


def test_records_of_an_unresolved_entity_type_are_kept_and_flagged(tiny_dir: Path) -> None:
    import pyarrow as pa

    from linkage.io.sources import read_records, read_sources

    pipeline = Pipeline.from_toml(tiny_dir / "pipeline.toml")
    persons = read_sources(pipeline.config)
    company = read_records(pa.table({"k": ["C1"], "n": ["某某有限公司"]}), department="market",
                           entity_type="enterprise", key="k", columns={"name": "n"},
                           first_record_id=persons.num_rows)
    records = pa.concat_tables([persons, company], promote_options="default")
    result = pipeline.run(records)
    assert result.records.num_rows == 13
    row = result.records.filter(pa.compute.equal(result.records["source"], "market")).to_pylist()
    assert row[0]["flags"] == ["entity_type:not_resolved"]
    assert row[0]["entity_id"] is None


def test_a_saved_model_scores_a_later_run_without_refitting(tiny_dir: Path,
                                                           tmp_path: Path) -> None:
    import pytest

    from linkage.errors import ConfigError

    first = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    write_outputs(first, tmp_path / "first")
    saved = tmp_path / "first" / "model_person.json"
    assert saved.is_file()
    # the pipeline file names the model (relative to the file), as a production build would
    (tiny_dir / "model.json").write_bytes(saved.read_bytes())
    text = (tiny_dir / "pipeline.toml").read_text(encoding="utf-8")
    reused_toml = tiny_dir / "reused.toml"
    reused_toml.write_text(text.replace('[person]\n', '[person]\nmodel = "model.json"\n', 1),
                           encoding="utf-8")
    again = Pipeline.from_toml(reused_toml).run()
    fitted, loaded = first.entities["person"], again.entities["person"]
    assert loaded.model.m_.keys() == fitted.model.m_.keys()
    for name, m in fitted.model.m_.items():
        assert loaded.model.m_[name].tolist() == m.tolist()
    assert loaded.scored.column("match_probability").equals(
        fitted.scored.column("match_probability"))
    assert _entities(again.records.to_pylist()) == _entities(first.records.to_pylist())
    # a model fitted for other comparisons is refused, naming the comparison
    changed = text.replace('[person]\n', '[person]\nmodel = "model.json"\n', 1).replace(
        "thresholds = [0.8]", "thresholds = [0.7]", 1)
    reused_toml.write_text(changed, encoding="utf-8")
    refused = r"person.model: the comparisons of .*model.json differ .*\(name\)"
    with pytest.raises(ConfigError, match=refused):
        Pipeline.from_toml(reused_toml).run()
