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
import pyarrow as pa

from linkage.comparators.identifiers import _byte_matrix, _positional
from linkage.comparators.strings import Cache, memo

Codes = npt.NDArray[np.int64]
Derived = Mapping[str, Sequence[str | None] | pa.Array]


def date_similarity(
    uniques: Sequence[str], a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """Dates compared by parts: swap and typo levels, then same month, then else."""
    year, month, month_day, swapped_md, (matrix, lengths) = memo(
        cache, "dates", lambda: _prepare(uniques))
    sims = _positional(matrix, lengths, a, b)  # 0.9 one substitution / transposition
    parsed = (year[a] > 0) & (year[b] > 0)
    same_year = parsed & (year[a] == year[b])
    typo = sims >= 0.9
    sims[~parsed] = np.minimum(sims[~parsed], 0.6)
    out = np.where(same_year, np.float32(0.5), np.float32(0.0)).astype(np.float32)
    out[~parsed] = sims[~parsed]
    out[same_year & (month[a] == month[b])] = 0.75
    out[parsed & typo] = 0.9
    swapped = same_year & (month_day[a] == swapped_md[b]) & (month[a] != month[b])
    out[swapped] = 0.9
    return out


def _prepare(uniques: Sequence[str]) -> tuple[
    npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32],
    npt.NDArray[np.int32], tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
]:
    """Year, month, month*100+day, day*100+month (int32 per value) and the byte matrix."""
    ymd = np.asarray([_parse(v) for v in uniques], dtype=np.int64).reshape(-1, 3)
    year = ymd[:, 0].astype(np.int32)
    month = ymd[:, 1].astype(np.int32)
    month_day = (ymd[:, 1] * 100 + ymd[:, 2]).astype(np.int32)
    swapped_md = (ymd[:, 2] * 100 + ymd[:, 1]).astype(np.int32)
    return year, month, month_day, swapped_md, _byte_matrix(list(uniques), 10)


def _parse(value: str) -> tuple[int, int, int]:
    """(year, month, day) of an ISO (or compact ``YYYYMMDD``) date, zeros when it is not."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return (int(text[:4]), int(text[4:6]), int(text[6:]))
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return (0, 0, 0)
    return (int(parts[0]), int(parts[1]), int(parts[2]))
