"""Progress: every stage of a run logs its end with records per second."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from linkage.engines.progress import Progress, rate_text
from linkage.pipeline import STAGES, Pipeline


def test_rate_text_counts_records_per_second() -> None:
    assert rate_text(2_000_000, 8.0) == "2,000,000 records in 8.0 s (250,000 records/s)"
    assert rate_text(5, 0.0).endswith("(instant)")


def test_a_stage_is_timed_even_when_it_fails() -> None:
    timings: dict[str, float] = {}
    with pytest.raises(ValueError), Progress(timings).stage("boom", 3):
        raise ValueError("x")
    assert "boom" in timings


def test_every_stage_of_a_run_reports_its_rate(tiny_dir: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="linkage.progress")
    result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    done = {m.group(1): int(m.group(2).replace(",", ""))
            for r in caplog.records if r.name == "linkage.progress"
            for m in [re.match(r"(\S+) done: ([\d,]+) records in [\d.]+ s \(", r.getMessage())]
            if m}
    for etype, entity in result.entities.items():
        for stage in STAGES:
            assert done[f"{etype}.{stage}"] == entity.records.num_rows
    assert set(done) <= set(result.timings)
