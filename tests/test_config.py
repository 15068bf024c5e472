"""The pipeline file: validation reports every problem at once, naming key and value."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.config import (
    EntityConfig,
    PipelineConfig,
    SourceConfig,
    load_pipeline,
    pipeline_from_dict,
    to_dict,
    to_toml,
    validate,
)
from linkage.errors import ConfigError
from linkage.master.gates import GatesConfig
from linkage.match.presets import section_toml
from linkage.pipeline import Pipeline

FIXTURES = Path(__file__).parent / "fixtures"


def _minimal() -> dict[str, object]:
    return {
        "sources": [{"department": "tax", "entity_type": "person", "path": "a.csv",
                     "key": "k", "columns": {"name": "姓名"}}],
        "person": {"fields": {"name": "text"},
                   "blocking": [{"name": "by_name", "keys": ["name"]}],
                   "comparisons": [{"name": "name", "field": "name"}]},
    }


def test_minimal_pipeline_resolves_paths_against_the_file_folder(tmp_path: Path) -> None:
    config = pipeline_from_dict(_minimal(), base_dir=tmp_path)
    assert config.sources[0].path == tmp_path / "a.csv"
    assert config.entity_types == ("person",)
    assert config.sources[0].resolved_format == "csv"
    assert to_dict(config)["sources"][0]["path"] == str(tmp_path / "a.csv")


def test_every_problem_is_reported_at_once() -> None:
    data = _minimal()
    data["sources"] = [{"department": "tax", "entity_type": "persn", "path": 3, "key": "k",
                        "columns": {"name": "姓名"}, "colour": "red"}]
    data["seed"] = "x"
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict(data, origin="p.toml")
    problems = info.value.problems
    assert len(problems) == 4, problems
    text = str(info.value)
    assert text.startswith("p.toml: 4 problem(s)")
    assert ("sources[0].entity_type: 'persn' has no [entities.persn] section "
            "(declared: person)") in text
    assert "sources[0].path: expected a path string, got 3" in text
    assert "sources[0].colour: unknown key" in text
    assert "seed: expected int, got 'x'" in text


def test_cross_checks_name_the_offending_key() -> None:
    data = _minimal()
    data["person"] = {"fields": {"name": "text"},
                      "blocking": [{"name": "b", "keys": ["phone"]}],
                      "comparisons": [{"name": "c", "field": "address"}]}
    data["sources"][0]["columns"] = {"name": "姓名", "phone": "电话"}  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict(data)
    text = str(info.value)
    assert "sources[0].columns: field(s) 'phone' are not declared" in text
    assert "person.blocking[0].keys: 'phone' is not a field" in text
    assert "person.comparisons[0].field: 'address' is not a field" in text


def test_unknown_standardiser_lists_known_ones() -> None:
    data = _minimal()
    data["person"]["fields"] = {"name": "soundex"}  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"unknown standardiser.*'soundex'.*known: .*text"):
        pipeline_from_dict(data)


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sources]\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pipeline(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_pipeline(tmp_path / "missing.toml")


def test_trust_outside_unit_interval_is_rejected() -> None:
    data = _minimal()
    data["sources"][0]["trust"] = {"name": 1.5}  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"trust 'name' must be within 0\.\.1"):
        pipeline_from_dict(data)


def test_tiny_fixture_pipeline_loads() -> None:
    config = load_pipeline(FIXTURES / "tiny" / "pipeline.toml")
    assert [s.department for s in config.sources] == ["household", "social_security", "tax"]
    assert config.sources[1].encoding == "gb18030"
    assert config.person is not None and config.person.identity_fields == ("id_number",)


# --- configuration in code: presets, validation, to_toml round trip -----------------------




ROOT = Path(__file__).resolve().parents[1]


def _round_trip(config: PipelineConfig, folder: Path) -> PipelineConfig:
    """Write ``config`` as a file in its base folder and load it back."""
    path = folder / "written.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    return load_pipeline(path)


@pytest.mark.parametrize("path", [
    FIXTURES / "tiny" / "pipeline.toml",
    ROOT / "datasets" / "handwritten.toml",
    ROOT / "linkage" / "data" / "sample" / "pipeline.toml",
    ROOT / "linkage" / "data" / "sample" / "persons.toml",
    ROOT / "datasets" / "restaurants" / "pipeline.toml",
])
def test_every_shipped_pipeline_file_round_trips_through_to_toml(path: Path,
                                                                 tmp_path: Path) -> None:
    config = load_pipeline(path)
    moved = dataclasses.replace(config, base_dir=tmp_path)
    again = _round_trip(moved, tmp_path)
    assert dataclasses.replace(again, base_dir=config.base_dir) == dataclasses.replace(
        moved, base_dir=config.base_dir)


def test_a_pipeline_built_in_code_round_trips(tmp_path: Path) -> None:
    source = SourceConfig(department="tax", entity_type="person", path=tmp_path / "tax.csv",
                          key="纳税人编号", columns={"name": "姓名", "id_number": "证件号码"},
                          trust={"name": 0.8}, encoding="gb18030")
    pipeline = Pipeline(sources=[source], person=EntityConfig.preset("person"), seed=3,
                        name="税务 nightly", gates=GatesConfig(max_new_merges=0.01,
                                                              max_identity_conflicts=0))
    text = pipeline.to_toml()
    assert f'path = "{tmp_path / "tax.csv"}"' in text  # no folder of its own: absolute
    again = Pipeline.from_toml(_write(tmp_path, text)).config
    assert dataclasses.replace(again, base_dir=Path()) == pipeline.config
    assert again.gates.max_new_merges == 0.01


def _write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    return path


@settings(max_examples=40, deadline=None)
@given(
    name=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
    seed=st.integers(min_value=0, max_value=2**62),
    threshold=st.floats(min_value=0.01, max_value=0.99),
    merges=st.none() | st.floats(min_value=0.0, max_value=1.0),
    conflicts=st.none() | st.integers(min_value=0, max_value=10**6),
    trust=st.dictionaries(st.sampled_from(["name", "id_number", "phone"]),
                          st.floats(min_value=0.0, max_value=1.0), max_size=3),
    delimiter=st.sampled_from([",", "\t", "|", ";"]),
)
def test_to_toml_round_trips_any_valid_values(name: str, seed: int, threshold: float,
                                              merges: float | None, conflicts: int | None,
                                              trust: dict[str, float], delimiter: str) -> None:
    base = Path("/tmp/linkage-round-trip").resolve()
    person = EntityConfig.preset("person")
    person = dataclasses.replace(person, scoring=dataclasses.replace(person.scoring,
                                                                     link_threshold=threshold))
    config = validate(PipelineConfig(
        sources=(SourceConfig(department="户籍", entity_type="person", path=base / "h.csv",
                              key="记录号", columns={"name": "姓名"}, trust=trust,
                              delimiter=delimiter),),
        person=person, name=name, seed=seed, base_dir=base,
        gates=GatesConfig(max_new_merges=merges, max_identity_conflicts=conflicts)))
    data = tomllib.loads(to_toml(config))
    again = pipeline_from_dict(data, base_dir=base)
    assert again == config


def test_presets_are_the_sections_linkage_generate_writes() -> None:
    for etype in ("person", "enterprise"):
        preset = EntityConfig.preset(etype)  # type: ignore[arg-type]
        assert preset.blocking and preset.comparisons and preset.identity_fields
        assert f"[{etype}.fields]" in section_toml(etype)
    person = EntityConfig.preset("person")
    assert person.identity_fields == ("id_number",)
    assert person.fields["name"] == "person_name"
    with pytest.raises(ConfigError, match="no preset for 'persons'"):
        EntityConfig.preset("persons")  # type: ignore[arg-type]


def test_declared_entity_types_are_sections_of_their_own(tmp_path: Path) -> None:
    data = _minimal()
    data["sources"] = [*data["sources"],  # type: ignore[misc]
                       {"department": "guide", "entity_type": "restaurant", "path": "r.csv",
                        "key": "id", "columns": {"name": "name", "phone": "phone"}}]
    data["entities"] = {"restaurant": {
        "fields": {"name": "text_folded", "phone": "phone_intl:US"},
        "blocking": [{"name": "phone", "keys": ["phone"]}],
        "comparisons": [{"name": "name", "field": "name"}]}}
    config = pipeline_from_dict(data, base_dir=tmp_path)
    assert config.entity_types == ("person", "restaurant")
    section = config.entity("restaurant")
    assert section is not None and section.fields["phone"] == "phone_intl:US"
    assert config.entity("paper") is None


def test_declared_entity_type_problems() -> None:
    data = _minimal()
    data["entities"] = {
        "Bad-Name": {"fields": {"name": "text"}, "blocking": [{"name": "b", "keys": ["name"]}],
                     "comparisons": [{"name": "name", "field": "name"}]},
        "person": {"fields": {"name": "phone_intl:ZZ"},
                   "blocking": [{"name": "b", "keys": ["nme"]}],
                   "comparisons": [{"name": "name", "field": "name"}]}}
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict(data)
    text = str(info.value)
    assert "unknown phone region 'ZZ'" in text
    with pytest.raises(ConfigError, match="lower-case identifier"):
        pipeline_from_dict({**data, "entities": {"Bad-Name": data["entities"]["Bad-Name"]}})  # type: ignore[index]
    with pytest.raises(ConfigError, match="declared twice"):
        pipeline_from_dict({**data, "entities": {"person": _minimal()["person"]}})


def test_cross_column_names_are_checked_against_the_fields() -> None:
    data = _minimal()
    data["person"] = {"fields": {"name": "text", "former": "text"},
                      "blocking": [{"name": "b", "keys": ["name"], "keys_right": ["formr"]},
                                   {"name": "w", "keys": ["name"], "keys_right": ["name"],
                                    "keys_where": "nam__masked"}],
                      "comparisons": [{"name": "n", "field": "name", "other_field": "nme"}]}
    with pytest.raises(ConfigError) as info:
        pipeline_from_dict(data)
    text = str(info.value)
    assert "person.blocking[0].keys_right: 'formr' is not a field" in text
    assert "person.blocking[1].keys_where: 'nam__masked' is not a field" in text
    assert "person.comparisons[0].other_field: 'nme' is not a field" in text


def test_a_builtin_type_may_be_declared_under_entities() -> None:
    data = _minimal()
    data["entities"] = {"person": data.pop("person")}
    config = pipeline_from_dict(data)
    assert config.entity_types == ("person",) and config.entity("person") is not None
