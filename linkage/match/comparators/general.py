"""General comparators: distances (numbers, dates, edit counts), token sets and arrays.

Every method here returns a similarity in [0, 1] like the others, so levels, the compare
stage and the property tests treat them alike; the pipeline file states its levels in the
method's own unit, and :class:`linkage.match.compare.Comparison` turns them into
similarity thresholds by the same formula:

* distances ``d`` (``abs_diff``: ``|x - y|`` of two numbers; ``date_diff_days`` /
  ``_months`` / ``_years``: the gap between two ISO dates; ``levenshtein_edits``,
  ``damerau_levenshtein_edits``, ``indel_edits``: edit counts) are ``1 / (1 + d)``, so
  "within 2" is similarity >= 1/3;
* counts ``c`` (``array_intersect``: items two lists share) are ``c / (1 + c)``, so
  "shares at least 2" is similarity >= 2/3;
* ``token_jaccard`` is the shared words over all words of the two values: a value whose
  words are a subset of the other's scores below 1 (``joes pizza`` against ``joes pizza
  bar`` is 2/3), unlike ``token_set`` (rapidfuzz's token_set_ratio gives a subset 1).

Values that cannot be read (a number that is not one, a date that is not ISO) are NaN:
the null level. Work is per distinct value (parsing, splitting) and whole-column per pair
(NumPy; rapidfuzz ``process.cpdist`` for edit counts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import DamerauLevenshtein, Indel, Levenshtein

from linkage.match.comparators.strings import (
    Cache,
    Codes,
    Derived,
    Values,
    as_list,
    cpdist_chunked,
    memo,
)

#: edit-count methods -> rapidfuzz distance scorers (raw counts)
EDIT_SCORERS = {
    "levenshtein_edits": Levenshtein.distance,
    "damerau_levenshtein_edits": DamerauLevenshtein.distance,
    "indel_edits": Indel.distance,
}
#: separators of the items of a list written in one field (``array_intersect``)
ARRAY_SEPARATORS = r"[;|,]"

Floats = npt.NDArray[np.float64]


def distance_to_similarity(distance: float | npt.NDArray[np.floating[Any]]) -> Floats:
    """``1 / (1 + d)``: the similarity a distance becomes (NaN stays NaN)."""
    return np.asarray(1.0 / (1.0 + np.asarray(distance, dtype=np.float64)), dtype=np.float64)


def count_to_similarity(count: float | Floats) -> Floats:
    """``c / (1 + c)``: the similarity a count of shared items becomes."""
    c = np.asarray(count, dtype=np.float64)
    return np.asarray(c / (1.0 + c), dtype=np.float64)


def edit_similarity(method: str, uniques: Values, a: Codes, b: Codes,
                    cache: Cache | None = None) -> npt.NDArray[np.float32]:
    """Edit counts of each pair (rapidfuzz over the aligned pairs) as ``1 / (1 + d)``."""
    values = memo(cache, "values", lambda: np.asarray(as_list(uniques), dtype=object))
    edits = cpdist_chunked(EDIT_SCORERS[method], values, a, b)
    return distance_to_similarity(edits).astype(np.float32)


def abs_diff_similarity(uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
                        cache: Cache | None = None) -> npt.NDArray[np.float32]:
    """``1 / (1 + |x - y|)`` of two numbers; NaN when either is not a number."""
    numbers = memo(cache, "numbers", lambda: _numbers(as_list(uniques)))
    return distance_to_similarity(np.abs(numbers[a] - numbers[b])).astype(np.float32)


def date_diff_similarity(unit: str, uniques: Values, a: Codes, b: Codes,
                         cache: Cache | None = None) -> npt.NDArray[np.float32]:
    """``1 / (1 + gap)`` of two ISO dates, the gap in whole days, calendar months (by
    year and month only) or years (days / 365.25); NaN when either is not an ISO date."""
    days, months = memo(cache, "date_parts", lambda: _date_parts(as_list(uniques)))
    if unit == "days":
        gap = np.abs(days[a] - days[b])
    elif unit == "months":
        gap = np.abs(months[a] - months[b])
    else:
        gap = np.abs(days[a] - days[b]) / 365.25
    return distance_to_similarity(gap).astype(np.float32)


def token_jaccard_similarity(uniques: Values, a: Codes, b: Codes,
                             derived: Derived | None = None,
                             cache: Cache | None = None) -> npt.NDArray[np.float32]:
    """Shared words / all words of the two values (whitespace-separated, as sets)."""
    tokens = memo(cache, "words", lambda: _token_sets(as_list(uniques), None))
    shared, size_a, size_b = _shared_counts(tokens, a, b)
    union = size_a + size_b - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, shared / np.maximum(union, 1), np.nan).astype(np.float32)


def array_intersect_similarity(uniques: Values, a: Codes, b: Codes,
                               derived: Derived | None = None,
                               cache: Cache | None = None) -> npt.NDArray[np.float32]:
    """Items the two lists share (items separated by ``;``, ``|`` or ``,``, trimmed,
    compared as sets) as ``c / (1 + c)``; NaN when a list has no item."""
    tokens = memo(cache, "items", lambda: _token_sets(as_list(uniques), ARRAY_SEPARATORS))
    shared, size_a, size_b = _shared_counts(tokens, a, b)
    sims = count_to_similarity(shared)
    sims[(size_a == 0) | (size_b == 0)] = np.nan
    return sims.astype(np.float32)


# --- preparation, once per distinct value --------------------------------------------------


def _numbers(values: Sequence[str]) -> Floats:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            x = float(v.replace(",", "").strip())
        except ValueError:
            continue
        if math.isfinite(x):
            out[i] = x
    return out


def _date_parts(values: Sequence[str]) -> tuple[Floats, Floats]:
    """Day number and year * 12 + month of each ISO date (NaN when not one: 1985-02-30)."""
    days = np.full(len(values), np.nan)
    months = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        text = v.strip()[:10]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            continue
        try:
            day = np.datetime64(text, "D")
        except ValueError:
            continue
        days[i] = day.astype(np.int64)
        months[i] = day.astype("datetime64[M]").astype(np.int64)
    return days, months


def _token_sets(values: Sequence[str], separator: str | None) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each value's distinct tokens as ids, CSR-style: (offsets, token ids)."""
    vocabulary: dict[str, int] = {}
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    ids: list[int] = []
    for i, v in enumerate(values):
        parts = v.split() if separator is None else re.split(separator, v)
        tokens = {p.strip() for p in parts} - {""}
        ids.extend(sorted(vocabulary.setdefault(t, len(vocabulary)) for t in tokens))
        offsets[i + 1] = len(ids)
    return offsets, np.asarray(ids, dtype=np.int64)


def _shared_counts(tokens: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], a: Codes,
                   b: Codes) -> tuple[Floats, Floats, Floats]:
    """Per pair: tokens both values hold, and each value's number of tokens. The two
    sides' token ids are laid out per pair, sorted by (pair, token): a shared token is
    two equal neighbours (a value holds each token once)."""
    offsets, ids = tokens
    sizes = np.diff(offsets)
    size_a, size_b = sizes[a], sizes[b]
    n = len(a)
    pair = np.concatenate([np.repeat(np.arange(n), size_a), np.repeat(np.arange(n), size_b)])
    token = np.concatenate([_gather(offsets, ids, a, size_a), _gather(offsets, ids, b, size_b)])
    width = np.int64(max(len(ids), 1) + 1)
    keys = np.sort(pair.astype(np.int64) * width + token)
    twin = keys[1:] == keys[:-1]
    shared = np.bincount((keys[1:][twin] // width), minlength=n).astype(np.float64)
    return shared, size_a.astype(np.float64), size_b.astype(np.float64)


def _gather(offsets: npt.NDArray[np.int64], ids: npt.NDArray[np.int64], rows: Codes,
            lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The token ids of values ``rows``, one after another (no Python loop)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(offsets[rows], lengths)
    within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out: npt.NDArray[np.int64] = ids[starts + within]
    return out
