"""Compare stage: an int8 level per comparison for every candidate pair, on whole columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Method = Literal["exact", "jaro_winkler", "levenshtein"]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """An ordered list of levels for one field: null (-1), else (0), then one level per
    threshold (ascending strictness), then exact (highest)."""

    name: str
    field: str
    method: Method = "jaro_winkler"
    thresholds: tuple[float, ...] = ()
    term_frequency: bool = False

    def __post_init__(self) -> None:
        if any(not 0.0 < t <= 1.0 for t in self.thresholds):
            raise ValueError(f"comparison {self.name!r}: thresholds must be within (0, 1]")


def compare(records: pa.Table, pairs: pa.Table, comparisons: Sequence[Comparison]) -> pa.Table:
    """ComparisonVectors for ``pairs`` (id_l, id_r, gamma_<name> int8, sim_<name> float32)."""
    raise NotImplementedError
