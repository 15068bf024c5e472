"""Run folders with a master index, made once per session: the hand-checked tiny pipeline
(12 records, 6 people) and a small synthetic one with ground truth."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from linkage.io.outputs import write_outputs
from linkage.io.run_tables import read_run_table
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


@pytest.fixture
def report_counts_are_whole() -> Callable[[Path], None]:
    """A check of a run folder: the report's counts it keeps (an incremental run updated
    them) are those of its whole tables, and draw the same page."""
    return _report_counts_are_whole


def _report_counts_are_whole(run: Path) -> None:
    """The report's counts an incremental run updated are those of its folder's whole
    tables, and the figures drawn from them the same page."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.compute as pc

    from linkage.io.report import counted_figures, ranked_conflicts, render_figures
    from linkage.io.report_counts import TOP_KEPT, ReportCounts, count_tables, read_counts
    from linkage.service.index import MasterIndex

    kept = read_counts(run)
    assert kept is not None
    conflicts = read_run_table(run, "conflicts")
    whole = {}
    for etype, ti in MasterIndex.open(run).types.items():
        whole[etype] = count_tables(
            records=ti.full_records(), scored=ti.pairs(),
            threshold=ti.section.scoring.link_threshold, clusters=ti.clusters,
            golden=ti.full_golden(),
            conflicts=conflicts.filter(pc.equal(conflicts["entity_type"], etype)))
        got = kept.types[etype]
        assert got.density_sum == pytest.approx(whole[etype].density_sum, rel=1e-12)
        assert got.conflicts and got.weights and got.rules and got.links  # something counted
        assert dataclasses.replace(got, density_sum=0.0) == \
            dataclasses.replace(whole[etype], density_sum=0.0), etype
    ranked = ranked_conflicts(conflicts, TOP_KEPT)
    assert kept.top.num_rows >= min(50, conflicts.num_rows)
    assert kept.top.to_pylist() == ranked.slice(0, kept.top.num_rows).to_pylist()
    assert kept.top_complete == (conflicts.num_rows <= TOP_KEPT)

    def page(counts: ReportCounts) -> str:
        return render_figures(counted_figures(counts, summary={}, thresholds={
            "person": 0.9, "enterprise": 0.9}, quality=pa.table({}), blocking={}), lang="en")

    assert page(kept) == page(ReportCounts(whole, ranked, kept.top_complete))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert f"{conflicts.num_rows:,}" in html
    # the index (base and parts) holds every conflict (the run gave it the touched
    # entities' alone): each entity's, as the run folder has them
    index = MasterIndex.open(run)
    for etype, ti in index.types.items():
        mine = conflicts.filter(pc.equal(conflicts["entity_type"], etype))
        for entity in ti.full_golden().column("entity_id").to_pylist():
            expected = mine.filter(pc.equal(mine["entity_id"], entity))
            assert sorted((c["field"], c["kind"]) for c in ti.conflicts_of(entity)) == \
                sorted(zip(expected["field"].to_pylist(), expected["kind"].to_pylist(),
                           strict=True)), entity
