"""Dates (ISO ``YYYY-MM-DD`` or compact ``YYYYMMDD``) with the errors departments make:
day and month swapped, one mistyped digit, a wrong day in the right month.

Similarity levels (default thresholds 0.7, 0.85): 0.9 day/month swapped, or one digit
substituted, or two adjacent digits transposed; 0.75 same year and month; 0.5 same year
only; 0 else. Values that are not ISO dates fall back to a positional comparison capped
below the first threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.match.comparators.identifiers import _char_matrix, _positional
from linkage.match.comparators.strings import Cache, Codes, Derived, Values, memo


def date_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
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


def _prepare(uniques: Values) -> tuple[
    npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32],
    npt.NDArray[np.int32], tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]],
]:
    """Year, month, month*100+day, day*100+month (int32 per value) and the byte matrix.
    ISO dates are read off the matrix; only other shapes are parsed in Python."""
    matrix, lengths = _char_matrix(uniques, 10)
    digits = matrix.astype(np.int64) - ord("0")
    is_digit = (digits >= 0) & (digits <= 9)
    iso = ((lengths == 10) & (matrix[:, 4] == ord("-")) & (matrix[:, 7] == ord("-"))
           & is_digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1))
    ymd = np.zeros((len(lengths), 3), dtype=np.int64)
    ymd[:, 0] = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    ymd[:, 1] = digits[:, 5] * 10 + digits[:, 6]
    ymd[:, 2] = digits[:, 8] * 10 + digits[:, 9]
    ymd[~iso] = 0
    other = np.flatnonzero(~iso)
    if len(other):
        values = (uniques.take(pa.array(other)).to_pylist() if isinstance(uniques, pa.Array)
                  else [uniques[i] for i in other.tolist()])
        ymd[other] = np.asarray([_parse(v) for v in values], dtype=np.int64).reshape(-1, 3)
    year = ymd[:, 0].astype(np.int32)
    month = ymd[:, 1].astype(np.int32)
    month_day = (ymd[:, 1] * 100 + ymd[:, 2]).astype(np.int32)
    swapped_md = (ymd[:, 2] * 100 + ymd[:, 1]).astype(np.int32)
    return year, month, month_day, swapped_md, (matrix, np.minimum(lengths, 10))


def _parse(value: str) -> tuple[int, int, int]:
    """(year, month, day) of an ISO (or compact ``YYYYMMDD``) date, zeros when it is not."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return (int(text[:4]), int(text[4:6]), int(text[6:]))
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return (0, 0, 0)
    if len(parts[0]) > 4 or len(parts[1]) > 2 or len(parts[2]) > 2:
        return (0, 0, 0)  # not a date; a day of 22000000 would overflow day*100+month
    return (int(parts[0]), int(parts[1]), int(parts[2]))
