"""The Spark engine's fit is the embedded engine's: on the same standardised records and
comparison vectors, ``fit_spark`` gives the model ``FellegiSunter.fit`` gives (m, u, the
priors, the training sessions and the diagnostics), for the default per-pass fit, with
the session sample drawn, and for the joint fit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import linkage as lk
import linkage.match.fit as fit_module
from linkage.config import load_pipeline
from linkage.engines.spark.link import fit_spark
from linkage.match.compare import read_columns
from linkage.match.score import FellegiSunter
from linkage.synth.generate import generate

SAMPLE = Path(lk.__file__).parent / "data" / "sample" / "pipeline.toml"


@pytest.fixture(scope="module")
def sample_run() -> Any:
    return lk.Pipeline(load_pipeline(SAMPLE)).run()


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("fit_synth")
    generate(persons=800, enterprises=0, seed=11, out=out)
    return lk.Pipeline(load_pipeline(out / "persons.toml")).run()


def _both_fits(spark: Any, run: Any, etype: str, scoring: Any = None) -> tuple[Any, Any]:
    """The embedded fit and the Spark fit of one entity type's records and vectors (as
    the pipeline made them), with the pipeline's scoring or ``scoring``."""
    config = run.config
    section = config.entity(etype)
    entity = run.entities[etype]
    scoring = section.scoring if scoring is None else scoring
    records, vectors = entity.records, entity.vectors
    pass_name = entity.blocking.pairs.column("pass_name")
    local = FellegiSunter(section.comparisons, scoring, seed=config.seed).fit(
        records, vectors, blocking=section.blocking, pass_name=pass_name)
    keys = {k for bp in section.blocking for k in bp.keys}
    keys |= {f"{k.split('__', 1)[0]}__status" for k in keys}
    columns = sorted(set(read_columns(records.column_names, section.comparisons))
                     | (keys & set(records.column_names)) | {"source"})
    frame = spark.createDataFrame(_plain(records.select(columns)))
    gammas = [f"gamma_{c.name}" for c in section.comparisons]
    pairs = spark.createDataFrame(_plain(vectors.select(["id_l", "id_r", *gammas])
                                         .append_column("pass_name", pass_name)))
    ids = np.sort(np.asarray(records.column("record_id").to_numpy(), np.int64))
    sources = pc.value_counts(records.column("source")).to_pylist()
    remote = fit_spark(FellegiSunter(section.comparisons, scoring, seed=config.seed),
                       frame, pairs, n_records=records.num_rows,
                       source_counts={r["values"]: r["counts"] for r in sources},
                       record_ids=lambda positions: ids[positions],
                       blocking=section.blocking)
    return local, remote


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded (Spark takes plain Arrow types)."""
    return pa.table({name: pc.cast(column, column.type.value_type)
                     if pa.types.is_dictionary(column.type) else column
                     for name, column in zip(table.column_names, table.columns, strict=True)})


def _assert_same_model(local: Any, remote: Any) -> None:
    assert local.m_.keys() == remote.m_.keys()
    for name in local.m_:
        np.testing.assert_allclose(remote.m_[name], local.m_[name], rtol=1e-9, atol=0)
        np.testing.assert_allclose(remote.u_[name], local.u_[name], rtol=1e-9, atol=0)
        np.testing.assert_allclose(remote.u_candidates_[name], local.u_candidates_[name],
                                   rtol=1e-9, atol=0)
    assert remote.prior_ == pytest.approx(local.prior_, rel=1e-9)
    assert remote.prior_candidates_ == pytest.approx(local.prior_candidates_, rel=1e-9)
    assert remote.sessions_ == local.sessions_
    assert remote.diagnostics_ == local.diagnostics_
    assert (remote.n_iter_, remote.n_patterns_) == (local.n_iter_, local.n_patterns_)


@pytest.mark.parametrize("etype", ["person", "enterprise"])
def test_sample_sessions_fit_as_embedded(spark: Any, sample_run: Any, etype: str) -> None:
    local, remote = _both_fits(spark, sample_run, etype)
    assert local.config.fit == "sessions" and len(local.sessions_) >= 5
    _assert_same_model(local, remote)


def test_sample_joint_fit_as_embedded(spark: Any, sample_run: Any) -> None:
    scoring = replace(sample_run.config.entity("person").scoring, fit="joint")
    local, remote = _both_fits(spark, sample_run, "person", scoring)
    assert local.sessions_ == []
    _assert_same_model(local, remote)


def test_generated_sessions_fit_with_a_session_sample_as_embedded(
        spark: Any, generated_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the session sample cut to a third of the pairs, both engines train on the
    same pairs (chosen by their ids, not their positions)."""
    pairs = generated_run.entities["person"].vectors.num_rows
    full, _ = _both_fits(spark, generated_run, "person")
    monkeypatch.setattr(fit_module, "MAX_SESSION_PAIRS", pairs // 3)
    local, remote = _both_fits(spark, generated_run, "person")
    assert pairs > 1000 and len(local.sessions_) == len(full.sessions_) >= 5
    assert all(s.n_pairs < f.n_pairs for s, f in zip(local.sessions_, full.sessions_,
                                                     strict=True))
    assert sum(s.n_pairs for s in local.sessions_) < 0.5 * sum(f.n_pairs
                                                               for f in full.sessions_)
    _assert_same_model(local, remote)
