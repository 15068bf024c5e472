"""linkage: record linkage and master-data consistency for Chinese citizen and enterprise
records held by many government departments.

    import linkage as lk
    result = lk.Pipeline.from_toml("pipeline.toml").run()
    result.clusters, result.golden["person"], result.conflicts, result.quality

or, with DataFrames (pandas, polars or Arrow) and the shipped person section:

    pipeline = lk.Pipeline(sources=[lk.Source.from_frame(df, department="tax", ...), ...],
                           person=lk.EntityConfig.preset("person"))
    result = pipeline.run()
    print(result.explain(("household", "HJ001"), ("tax", "NS9")))
    result.to_pandas("golden_person")

Every stage is also usable alone (``lk.standardise``, ``lk.block``, ``lk.compare``,
``lk.FellegiSunter``, ``lk.cluster``, ``lk.build_golden``, ``lk.find_conflicts``,
``lk.source_quality``). Names are imported on first use, so ``import linkage`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Pipeline": "linkage.pipeline",
    "PipelineResult": "linkage.pipeline",
    "run_pipeline": "linkage.pipeline",
    "load_pipeline": "linkage.config",
    "PipelineConfig": "linkage.config",
    "SourceConfig": "linkage.config",
    "EntityConfig": "linkage.config",
    "GatesConfig": "linkage.master.gates",
    "Source": "linkage.io.frames",
    "Explanation": "linkage.match.explain",
    "explain_saved_run": "linkage.io.explained",
    "read_sources": "linkage.io.sources",
    "read_records": "linkage.io.sources",
    "standardise": "linkage.standardisers",
    "STANDARDISERS": "linkage.standardisers",
    "BlockingPass": "linkage.match.block",
    "block": "linkage.match.block",
    "Comparison": "linkage.match.compare",
    "compare": "linkage.match.compare",
    "ScoringConfig": "linkage.match.score",
    "FellegiSunter": "linkage.match.score",
    "cluster": "linkage.master.cluster",
    "SurvivorshipConfig": "linkage.master.golden",
    "build_golden": "linkage.master.golden",
    "find_conflicts": "linkage.master.conflicts",
    "source_quality": "linkage.master.quality",
    "write_outputs": "linkage.io.outputs",
    "run_spark": "linkage.engines.spark.run",
    "Resolver": "linkage.service.resolver",
    "build_index": "linkage.service.index_write",
    "run_incremental": "linkage.service.incremental",
    "LinkageError": "linkage.errors",
    "ConfigError": "linkage.errors",
    "SourceError": "linkage.errors",
    "SchemaError": "linkage.errors",
    "StageError": "linkage.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'linkage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
