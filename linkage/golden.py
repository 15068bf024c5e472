"""Golden-record stage: one row per entity, each value with the rule and record it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Rule = Literal["trust", "recent", "frequent", "valid", "complete", "longest"]


@dataclass(frozen=True, kw_only=True)
class SurvivorshipConfig:
    """Ordered survivorship rules: the first rule that singles out a value decides."""

    default: tuple[Rule, ...] = ("valid", "trust", "recent", "frequent")
    fields: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
