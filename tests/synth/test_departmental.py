"""The departments' own layouts: read back through the pipeline file, nothing read twice."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkage.config import load_pipeline
from linkage.io.sources import read_sources
from linkage.synth.departmental import ADDRESS_PARTS, reshape_departmental
from linkage.synth.generate import generate


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("departmental")
    generate(persons=400, enterprises=120, seed=3, out=out)
    reshape_departmental(out, seed=3)
    return out


def test_files_take_the_departments_layouts(world: Path) -> None:
    household = (world / "household_persons.csv").read_text(encoding="utf-8").splitlines()[0]
    assert all(f'"{p}"' in household for p in ADDRESS_PARTS) and "住址" not in household
    assert not (world / "courts_persons.csv").exists()
    courts = (world / "courts_parties.csv").read_text(encoding="utf-8")
    assert "自然人" in courts and "法人" in courts
    (world / "customs_enterprises.csv").read_bytes().decode("gbk")  # a GBK snapshot
    tax = (world / "tax_enterprises.csv").read_text(encoding="utf-8-sig")
    assert ",\"正常\"," in tax and "万元" not in tax


def test_every_record_is_read_once_with_the_truths_keys(world: Path) -> None:
    records = read_sources(load_pipeline(world / "pipeline.toml"))
    truth = pq.read_table(world / "truth" / "records.parquet")
    assert records.num_rows == truth.num_rows  # the mixed courts file is not read twice
    key = pc.binary_join_element_wise(records["source"], records["entity_type"],
                                      records["source_key"], "/")
    true_key = pc.binary_join_element_wise(truth["source"], truth["entity_type"],
                                           truth["source_key"], "/")
    assert set(key.to_pylist()) == set(true_key.to_pylist())
    persons = records.filter(pc.equal(records["source"], "household"))
    held = pc.sum(pc.is_valid(persons["address"])).as_py()  # four columns, one address
    assert held > 0.9 * persons.num_rows  # (the generator leaves a few missing)
