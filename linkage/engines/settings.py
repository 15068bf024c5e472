"""``[engine]`` of a pipeline file: which engine runs the stages and with what resources.

    [engine]
    kind = "local"             # or "spark" (linkage run --engine overrides it)
    memory_limit = "8GB"       # the local engine's budget (default: 60% of physical memory)
    spark_conf = { "spark.executor.memory" = "8g" }   # Spark settings for kind = "spark"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from linkage.engines.budget import default_memory_limit, parse_size

__all__ = ["EngineConfig", "EngineKind"]

EngineKind = Literal["local", "spark"]


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """``[engine]``. ``kind = "spark"`` runs the stages on Apache Spark
    (:mod:`linkage.engines.spark`) with ``spark_conf``; the local engine
    (:mod:`linkage.engines.local`) keeps its working memory within ``memory_limit``."""

    kind: EngineKind = "local"
    #: the budget, e.g. "8GB"; None: 60% of physical memory
    memory_limit: str | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.memory_limit is not None:
            parse_size(self.memory_limit)

    @property
    def memory_bytes(self) -> int:
        """The budget in bytes."""
        if self.memory_limit is None:
            return default_memory_limit()
        return parse_size(self.memory_limit)
