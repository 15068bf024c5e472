"""Block stage: candidate pairs from several passes on standardised keys.

(Owned by the matching-engine work; see ``block()`` for the contract the pipeline uses.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(frozen=True, kw_only=True)
class BlockingPass:
    """One blocking pass: records that agree on every key column become candidate pairs."""

    name: str
    keys: tuple[str, ...]
    max_block_size: int = 500

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError(f"blocking pass {self.name!r} needs at least one key")
        if self.max_block_size < 2:
            raise ValueError(f"blocking pass {self.name!r}: max_block_size must be >= 2")


@dataclass(frozen=True)
class BlockingResult:
    """Candidate pairs (CandidatePairs schema) and a report of what each pass produced."""

    pairs: pa.Table
    report: dict[str, Any] = field(default_factory=dict)


def block(records: pa.Table, passes: Sequence[BlockingPass]) -> BlockingResult:
    """Union of the pairs of every pass, id_l < id_r, each tagged with its first pass."""
    raise NotImplementedError
