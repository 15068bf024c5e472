"""Score stage: Fellegi-Sunter match weights with m and u estimated from the data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    """How pairs are scored and which ones are links."""

    link_threshold: float = 0.9
    max_iter: int = 100
    tolerance: float = 1e-6
    u_sample_pairs: int = 200_000

    def __post_init__(self) -> None:
        if not 0.0 < self.link_threshold < 1.0:
            raise ValueError("link_threshold is a probability strictly between 0 and 1")
