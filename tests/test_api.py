"""The public names of the package are pinned: changing them is a deliberate act."""

from __future__ import annotations

import linkage


def test_all_is_pinned() -> None:
    assert linkage.__all__ == [
        "BlockingPass", "Comparison", "ConfigError", "EntityConfig", "FellegiSunter",
        "LinkageError", "Pipeline", "PipelineConfig", "PipelineResult", "Resolver",
        "STANDARDISERS",
        "SchemaError", "ScoringConfig", "SourceConfig", "SourceError", "StageError",
        "SurvivorshipConfig", "block", "build_golden", "build_index", "cluster", "compare",
        "find_conflicts", "load_pipeline", "read_records", "read_sources", "run_incremental",
        "run_pipeline",
        "source_quality", "standardise", "write_outputs",
    ]


def test_every_public_name_resolves() -> None:
    for name in linkage.__all__:
        assert getattr(linkage, name) is not None, name
