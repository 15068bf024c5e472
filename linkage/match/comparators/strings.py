"""Plain string similarities: rapidfuzz scorers over whole aligned columns (all cores)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
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


#: codes of distinct values, one per pair side (every method takes two aligned arrays)
Codes = npt.NDArray[np.int64]
#: derived columns of the values (``<field>__<name>``), aligned with them
Derived = Mapping[str, Sequence[str | None] | pa.Array]
#: the distinct values a method compares: a Python sequence, or an Arrow string array (the
#: compare stage passes one, so values turn into Python strings only where a method needs)
Values: TypeAlias = Sequence[str] | pa.Array
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


def as_arrow(values: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """The values as an Arrow string array (as they are when they already are one)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    return pa.array(list(values), pa.string())


def as_list(values: Values) -> list[str]:
    """The values as a Python list of strings."""
    return values.to_pylist() if isinstance(values, pa.Array) else list(values)


def as_objects(values: Values, a: Codes, b: Codes) -> npt.NDArray[np.object_]:
    """An object array of the values indexed like ``values``, where only those some pair
    (a[i], b[i]) uses are Python strings (None elsewhere): rapidfuzz needs Python
    strings, and building one per unused value costs time and memory."""
    if not isinstance(values, pa.Array):
        return np.asarray(values, dtype=object)
    out = np.full(len(values), None, dtype=object)
    used = np.zeros(len(values), dtype=bool)
    used[a] = True
    used[b] = True
    if used.all():
        out[:] = values.to_pylist()
    else:
        kept = np.flatnonzero(used)
        out[kept] = values.take(pa.array(kept)).to_pylist()
    return out


def strings_for(
    values: Values, a: Codes, b: Codes, cache: Cache | None, key: str
) -> npt.NDArray[np.object_]:
    """Python strings for scoring pairs (a[i], b[i]) of ``values``: with a cache, every
    value once (later calls reuse them); without one, only the values these pairs use."""
    if cache is not None:
        return memo(cache, key, lambda: np.asarray(as_list(values), dtype=object))
    return as_objects(values, a, b)


def string_similarity(
    method: str, uniques: Values, a: Codes, b: Codes, cache: Cache | None = None
) -> npt.NDArray[np.float32]:
    """rapidfuzz ``process.cpdist`` over the aligned pairs, scaled to 0..1."""
    scorer, scale = STRING_SCORERS[method]
    values = memo(cache, "values", lambda: np.asarray(as_list(uniques), dtype=object))
    out = cpdist_chunked(scorer, values, a, b)
    return out * np.float32(scale) if scale != 1.0 else out


_THREAD = threading.local()


@contextmanager
def scoring_workers(workers: int) -> Iterator[None]:
    """Threads rapidfuzz may use for the scoring calls made in this thread (default: all
    cores). The compare stage runs several comparisons on threads at once and gives
    each one worker: more would only contend for the same cores."""
    before = getattr(_THREAD, "workers", -1)
    _THREAD.workers = workers
    try:
        yield
    finally:
        _THREAD.workers = before


def cpdist_chunked(
    scorer: Any, values: Sequence[str] | npt.NDArray[np.object_], a: Codes, b: Codes
) -> npt.NDArray[np.float32]:
    """``process.cpdist(values[a], values[b])`` on all cores (see :func:`scoring_workers`),
    in chunks so the per-pair string lists rapidfuzz converts stay small whatever the
    number of pairs."""
    out = np.empty(len(a), dtype=np.float32)
    if len(a) == 0:
        return out
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    for start in range(0, len(a), _CHUNK):
        stop = start + _CHUNK
        sims = process.cpdist(arr[a[start:stop]].tolist(), arr[b[start:stop]].tolist(),
                              scorer=scorer, dtype=np.float32,
                              workers=getattr(_THREAD, "workers", -1))
        out[start:stop] = np.asarray(sims, dtype=np.float32).reshape(-1)
    return out


def numeric_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """1 - relative difference of two numbers (capital, amounts); NaN (not comparable) when
    either is not a number."""
    numbers = memo(cache, "numbers", lambda: _to_float(as_list(uniques)))
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
