"""The public API: names pinned (changing them is a deliberate act), DataFrames in and out,
in-memory tables numbered by the engine, explanations by department key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import linkage
import linkage as lk
from linkage.errors import ConfigError, SchemaError, SourceError


def test_all_is_pinned() -> None:
    assert linkage.__all__ == [
        "BlockingPass", "Comparison", "ConfigError", "EntityConfig", "Explanation",
        "FellegiSunter", "GatesConfig", "LinkageError", "Pipeline", "PipelineConfig",
        "PipelineResult", "Resolver", "STANDARDISERS", "SchemaError", "ScoringConfig",
        "Source", "SourceConfig", "SourceError", "StageError", "SurvivorshipConfig", "block",
        "build_golden", "build_index", "cluster", "compare", "explain_saved_run",
        "find_conflicts", "load_pipeline", "read_records", "read_sources", "run_incremental",
        "run_pipeline", "run_spark", "source_quality", "standardise", "write_outputs",
    ]


def test_every_public_name_resolves() -> None:
    for name in linkage.__all__:
        assert getattr(linkage, name) is not None, name


# --- in-memory inputs, DataFrames, explanations, conversions -----------------------------




TINY = Path(__file__).parent / "fixtures" / "tiny"
#: the hand-checked entities of the tiny fixture (tests/fixtures/tiny/pipeline.toml)
EXPECTED = sorted([
    {"household:H001", "social_security:S01"},
    {"household:H002", "tax:T1"},
    {"household:H003", "social_security:S02"},
    {"household:H004", "social_security:S03", "tax:T3"},
    {"household:H005", "tax:T2"},
    {"social_security:S04"},
], key=sorted)


def _entities(records: pa.Table) -> list[set[str]]:
    groups: dict[object, set[str]] = {}
    for r in records.select(["source", "source_key", "entity_id"]).to_pylist():
        groups.setdefault(r["entity_id"], set()).add(f"{r['source']}:{r['source_key']}")
    return sorted(groups.values(), key=sorted)


def _tiny_tables() -> dict[str, pa.Table]:
    """The tiny fixture's three files as Arrow tables of text, as a user would load them."""
    config = lk.load_pipeline(TINY / "pipeline.toml")
    out = {}
    for s in config.sources:
        encoding = "gb18030" if s.encoding == "gb18030" else "utf-8"
        out[s.department] = pacsv.read_csv(
            s.path, read_options=pacsv.ReadOptions(encoding=encoding),
            convert_options=pacsv.ConvertOptions(column_types={
                c: pa.string() for c in [s.key, *s.columns.values(), s.updated_at or ""] if c}))
    return out


def _tiny_sources(tables: dict[str, object]) -> list[lk.Source]:
    config = lk.load_pipeline(TINY / "pipeline.toml")
    return [lk.Source.from_frame(tables[s.department], department=s.department,
                                 entity_type=s.entity_type, key=s.key, columns=s.columns,
                                 updated_at=s.updated_at, trust=s.trust)
            for s in config.sources]


def test_several_in_memory_tables_get_engine_assigned_record_ids() -> None:
    pipeline = lk.Pipeline.from_toml(TINY / "pipeline.toml")
    tables = _tiny_tables()
    parts = [lk.read_records(tables[s.department], department=s.department,
                             entity_type=s.entity_type, key=s.key, columns=s.columns,
                             updated_at=s.updated_at) for s in pipeline.config.sources]
    assert all(p.column("record_id").to_pylist()[0] == 0 for p in parts)  # each from 0
    result = pipeline.run(records=parts)
    assert sorted(result.records.column("record_id").to_pylist()) == list(range(12))
    assert _entities(result.records) == EXPECTED


def test_colliding_record_ids_are_refused_not_silently_merged() -> None:
    pipeline = lk.Pipeline.from_toml(TINY / "pipeline.toml")
    tables = _tiny_tables()
    parts = [lk.read_records(tables[s.department], department=s.department,
                             entity_type=s.entity_type, key=s.key, columns=s.columns)
             for s in pipeline.config.sources]
    glued = pa.concat_tables(parts, promote_options="default")
    with pytest.raises(SchemaError, match=r"record id\(s\) are used by more than one record"):
        pipeline.run(records=glued)
    # two tables of one department are refused like two such sources in a pipeline file
    with pytest.raises(ConfigError, match="department 'tax' already has person records"):
        pipeline.run(records=[parts[2], parts[2]])


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_source_from_frame_links_dataframes_of_every_kind(kind: str) -> None:
    tables: dict[str, object] = dict(_tiny_tables())
    if kind == "pandas":
        pytest.importorskip("pandas")
        tables = {k: t.to_pandas() for k, t in tables.items()}  # type: ignore[attr-defined]
    elif kind == "polars":
        pl = pytest.importorskip("polars")
        tables = {k: pl.from_arrow(t) for k, t in tables.items()}
    config = lk.load_pipeline(TINY / "pipeline.toml")
    pipeline = lk.Pipeline(sources=_tiny_sources(tables), person=config.person, seed=config.seed)
    result = pipeline.run()
    assert _entities(result.records) == EXPECTED
    # the same records, whichever way they came in
    assert result.records.num_rows == 12


def test_source_from_frame_names_a_missing_column() -> None:
    table = pa.table({"k": ["1"], "n": ["王芳"]})
    with pytest.raises(SourceError, match=r"source 'tax/person'.*'姓名'"):
        lk.Source.from_frame(table, department="tax", entity_type="person", key="k",
                             columns={"name": "姓名"})
    with pytest.raises(ConfigError, match="entity type 'Person X' must be a lower-case"):
        lk.Source.from_frame(table, department="tax", entity_type="Person X", key="k",
                             columns={"name": "n"})


def test_pipeline_built_in_code_reports_every_problem_at_once() -> None:
    person = lk.EntityConfig.preset("person")
    bad = lk.SourceConfig(department="tax", entity_type="person", path=Path("t.csv"), key="k",
                          columns={"name": "x"}, encoding="latin-1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        lk.Pipeline(sources=[bad], person=person, name=3)  # type: ignore[arg-type]
    text = str(info.value)
    assert text.startswith("configuration: 2 problem(s)")
    assert "sources[0].encoding: 'latin-1' is not one of 'utf-8'" in text
    assert "name: expected str, got 3" in text
    with pytest.raises(ConfigError, match="at least one"):
        lk.Pipeline(sources=[], person=person)
    # objects that are well-formed alone but do not fit together: the file's cross checks
    odd = dataclasses.replace(bad, encoding="utf-8", columns={"nickname": "x"})
    extra = lk.BlockingPass(name="by_nick", keys=("nick",))
    with pytest.raises(ConfigError) as info:
        lk.Pipeline(sources=[odd], person=dataclasses.replace(
            person, blocking=(*person.blocking, extra)))
    text = str(info.value)
    assert "sources[0].columns: field(s) 'nickname' are not declared" in text
    assert f"person.blocking[{len(person.blocking)}].keys: 'nick' is not a field" in text


def test_explanation_by_department_keys_is_printable_and_masked(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = lk.Pipeline.from_toml(TINY / "pipeline.toml").run()
    explanation = result.explain(("household", "H001"), ("social_security", "S01"))
    print(explanation)
    text = capsys.readouterr().out
    assert "Explanation(" not in text
    assert "household:H001 vs social_security:S01" in text
    # the robust fit puts this pair (same ID, name, birth date) at 1.0000 or just below
    assert re.search(r"linked: match probability (0\.9999|1\.0000) >= link threshold 0\.9 "
                     r"\(candidate from blocking pass id_number\)", text)
    assert "110*************2X | 110*************2X" in text  # ID numbers masked
    assert "11010519491231002X" not in text and "13800138000" not in text
    assert "张伟 | 张伟" in text
    # the same pair by record ids and by "department:key" text
    ids = {r["source_key"]: r["record_id"] for r in result.records.to_pylist()}
    assert str(result.explain(ids["H001"], ids["S01"])) == text.rstrip("\n")
    # asked the other way round: the same weights, shown in the order asked
    swapped = result.explain(("social_security", "S01"), ("household", "H001"))
    assert swapped.left == "social_security:S01" and swapped.match_weight == \
        explanation.match_weight
    assert str(result.explain("household:H001", "social_security:S01")) == text.rstrip("\n")
    apart = result.explain(("household", "H001"), ("tax", "T2"))
    assert apart.linked is False and "not linked" in str(apart)
    with pytest.raises(lk.LinkageError, match="household:H999: no such record"):
        result.explain(("household", "H999"), ("tax", "T2"))


def test_results_convert_to_pandas_and_polars_in_one_call() -> None:
    result = lk.Pipeline.from_toml(TINY / "pipeline.toml").run()
    pd = pytest.importorskip("pandas")
    frame = result.to_pandas("golden_person")
    assert isinstance(frame, pd.DataFrame) and len(frame) == 6
    pl = pytest.importorskip("polars")
    records = result.to_polars("records")
    assert isinstance(records, pl.DataFrame) and records.height == 12
    with pytest.raises(SchemaError, match="no golden_persons: this run resolved person"):
        result.to_pandas("golden_persons")
    with pytest.raises(SchemaError, match=r"no table 'golden' in a result \(choose from"):
        result.to_polars("golden")


def test_explanation_labels_mask_keys_that_could_be_identifiers() -> None:
    from linkage.io.explained import _key

    assert _key("HJ00000068") == "HJ00000068"
    assert _key("11010519491231002X") == "110*************2X"
    assert _key("tel13800138000") == "tel138******00"


def test_a_written_pipeline_of_dataframes_names_the_sources_to_point_at_files(
        tmp_path: Path) -> None:
    config = lk.load_pipeline(TINY / "pipeline.toml")
    pipeline = lk.Pipeline(sources=_tiny_sources(dict(_tiny_tables())), person=config.person)
    path = tmp_path / "p.toml"
    path.write_text(pipeline.to_toml(), encoding="utf-8")
    with pytest.raises(SourceError, match=r"source 'household/person': this source was a "
                                          r"DataFrame .* set its path"):
        lk.Pipeline.from_toml(path).run()


def test_results_and_explanations_display_briefly_in_a_notebook() -> None:
    result = lk.Pipeline.from_toml(TINY / "pipeline.toml").run()
    assert repr(result) == ("<PipelineResult 'tiny': 12 records; person: 12 records -> 6 "
                            f"entities; {result.conflicts.num_rows} conflicts>")
    explanation = result.explain("household:H001", "social_security:S01")
    html = explanation._repr_html_()
    assert html.startswith("<pre>pair ") and "<svg" in html and "张伟 | 张伟" in html
