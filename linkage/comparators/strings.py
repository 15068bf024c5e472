"""Plain string similarities: rapidfuzz scorers over whole aligned columns (all cores)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import (
    DamerauLevenshtein,
    Indel,
    Jaro,
    JaroWinkler,
    Levenshtein,
)

#: method name -> (rapidfuzz scorer returning a normalised similarity, scale to 0..1)
STRING_SCORERS: dict[str, tuple[Any, float]] = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "jaro": (Jaro.normalized_similarity, 1.0),
    "levenshtein": (Levenshtein.normalized_similarity, 1.0),
    "damerau_levenshtein": (DamerauLevenshtein.normalized_similarity, 1.0),
    "indel": (Indel.normalized_similarity, 1.0),
    "token_set": (fuzz.token_set_ratio, 0.01),
}


Codes = npt.NDArray[np.int64]
_CHUNK = 1 << 16  # pairs per cpdist call: rapidfuzz's converted copies stay a few MB
#: per-value preparations a method may keep between calls on the same values (the compare
#: stage passes one dict per comparison, so slabs of pairs reuse them)
Cache = dict[str, Any]
T = TypeVar("T")


def memo(cache: Cache | None, key: str, make: Callable[[], T]) -> T:
    """``make()``, kept in ``cache`` under ``key`` when a cache is given."""
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    value: T = cache[key]
    return value
Derived = Mapping[str, Sequence[str | None] | pa.Array]


def string_similarity(
    method: str, uniques: Sequence[str], a: Codes, b: Codes, cache: Cache | None = None
) -> npt.NDArray[np.float32]:
    """rapidfuzz ``process.cpdist`` over the aligned pairs, scaled to 0..1."""
    scorer, scale = STRING_SCORERS[method]
    values = memo(cache, "values", lambda: np.asarray(uniques, dtype=object))
    out = cpdist_chunked(scorer, values, a, b)
    return out * np.float32(scale) if scale != 1.0 else out


def cpdist_chunked(
    scorer: Any, values: Sequence[str] | npt.NDArray[np.object_], a: Codes, b: Codes
) -> npt.NDArray[np.float32]:
    """``process.cpdist(values[a], values[b])`` on all cores, in chunks so the per-pair
    string lists rapidfuzz converts stay small whatever the number of pairs."""
    out = np.empty(len(a), dtype=np.float32)
    if len(a) == 0:
        return out
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    for start in range(0, len(a), _CHUNK):
        stop = start + _CHUNK
        sims = process.cpdist(arr[a[start:stop]].tolist(), arr[b[start:stop]].tolist(),
                              scorer=scorer, dtype=np.float32, workers=-1)
        out[start:stop] = np.asarray(sims, dtype=np.float32).reshape(-1)
    return out


def numeric_similarity(
    uniques: Sequence[str], a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """1 - relative difference of two numbers (capital, amounts); NaN (not comparable) when
    either is not a number."""
    numbers = memo(cache, "numbers", lambda: _to_float(uniques))
    x = numbers[a]
    y = numbers[b]
    scale = np.maximum(np.abs(x), np.abs(y))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, np.abs(x - y) / scale, 0.0)
    sims = np.where(np.isnan(x) | np.isnan(y), np.nan, np.clip(1.0 - rel, 0.0, 1.0))
    return sims.astype(np.float32)


def _to_float(values: Sequence[str]) -> npt.NDArray[np.float64]:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            x = float(v.replace(",", ""))
            out[i] = x if math.isfinite(x) else math.nan
        except ValueError:
            out[i] = math.nan
    return out
