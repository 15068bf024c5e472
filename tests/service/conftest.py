"""Run folders with a master index, made once per session: the hand-checked tiny pipeline
(12 records, 6 people) and a small synthetic one with ground truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from linkage.io.outputs import write_outputs
from linkage.pipeline import Pipeline
from linkage.service.index_write import write_index
from linkage.synth import generate

FIXTURES = Path(__file__).parent.parent / "fixtures"


def make_run(pipeline: Path, out: Path) -> Path:
    result = Pipeline.from_toml(pipeline).run()
    write_outputs(result, out)
    write_index(result, out)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fixture's run: {H001,S01} {H002,T1} {H003,S02} {H004,S03,T3} {H005,T2}
    {S04}."""
    base = tmp_path_factory.mktemp("tiny")
    shutil.copytree(FIXTURES / "tiny", base / "tiny")
    return make_run(base / "tiny" / "pipeline.toml", base / "run")


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("synth")
    generate(persons=300, enterprises=0, seed=5, out=base / "data")
    return base / "data"


@pytest.fixture(scope="session")
def synth_run(synth_data: Path) -> Path:
    return make_run(synth_data / "pipeline.toml", synth_data.parent / "run")
