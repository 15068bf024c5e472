"""Presets: the recommended settings survive a round trip through the pipeline loader."""

from __future__ import annotations

import tomllib

import pytest

from linkage.config import _build
from linkage.match.presets import PRESETS, linking_toml


@pytest.mark.parametrize("entity_type", ["person", "enterprise"])
def test_linking_toml_round_trips(entity_type: str) -> None:
    from pathlib import Path

    from linkage.match.block import BlockingPass
    from linkage.match.compare import Comparison

    data = tomllib.loads(linking_toml(entity_type))[entity_type]
    problems: list[str] = []
    passes = tuple(_build(BlockingPass, d, "b", problems, Path()) for d in data["blocking"])
    comps = tuple(_build(Comparison, d, "c", problems, Path()) for d in data["comparisons"])
    assert problems == []
    assert (passes, comps) == PRESETS[entity_type]


def test_a_preset_written_for_a_declared_type() -> None:
    text = linking_toml("resident", preset="person")
    assert text.startswith("[[entities.resident.blocking]]")
    data = tomllib.loads(text)["entities"]["resident"]
    assert len(data["comparisons"]) == len(PRESETS["person"][1])
    with pytest.raises(ValueError, match="no preset 'restaurant'"):
        linking_toml("restaurant")
