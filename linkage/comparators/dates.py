"""Dates (ISO ``YYYY-MM-DD`` or compact ``YYYYMMDD``) with the errors departments make:
day and month swapped, one mistyped digit, a wrong day in the right month.

Similarity levels (default thresholds 0.7, 0.85): 0.9 day/month swapped, or one digit
substituted, or two adjacent digits transposed; 0.75 same year and month; 0.5 same year
only; 0 else. Values that are not ISO dates fall back to a positional comparison capped
below the first threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from linkage.comparators.identifiers import _byte_matrix, _positional

Codes = npt.NDArray[np.int64]
Derived = Mapping[str, Sequence[str | None]]


def date_similarity(
    uniques: Sequence[str], a: Codes, b: Codes, derived: Derived | None = None
) -> npt.NDArray[np.float32]:
    """Dates compared by parts: swap and typo levels, then same month, then else."""
    ymd = np.asarray([_parse(v) for v in uniques], dtype=np.int64).reshape(-1, 3)
    matrix, lengths = _byte_matrix(list(uniques), 10)
    typo = _positional(matrix, lengths, a, b)  # 0.9 for one substitution / transposition
    ya, ma, da = ymd[a, 0], ymd[a, 1], ymd[a, 2]
    yb, mb, db = ymd[b, 0], ymd[b, 1], ymd[b, 2]
    parsed = (ya > 0) & (yb > 0)
    swapped = parsed & (ya == yb) & (ma == db) & (da == mb) & (ma != mb)
    same_month = parsed & (ya == yb) & (ma == mb)
    same_year = parsed & (ya == yb)
    sims = np.where(same_year, 0.5, 0.0)
    sims = np.where(same_month, 0.75, sims)
    sims = np.where(typo >= 0.9, 0.9, sims)
    sims = np.where(swapped, 0.9, sims)
    unparsed = ~parsed
    sims = np.where(unparsed, np.minimum(typo, 0.6), sims)
    return sims.astype(np.float32)


def _parse(value: str) -> tuple[int, int, int]:
    """(year, month, day) of an ISO (or compact ``YYYYMMDD``) date, zeros when it is not."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return (int(text[:4]), int(text[4:6]), int(text[6:]))
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return (0, 0, 0)
    return (int(parts[0]), int(parts[1]), int(parts[2]))
