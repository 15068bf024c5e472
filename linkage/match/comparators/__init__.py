"""Similarity functions behind :class:`linkage.match.compare.Comparison` methods.

Each method takes the distinct values of a column (a sequence of strings or an Arrow
string array: the compare stage passes Arrow, and values become Python strings only where
rapidfuzz needs them) and two aligned code arrays (pair i compares ``uniques[a[i]]`` with
``uniques[b[i]]``, never equal codes) and returns a similarity in [0, 1] per pair, or NaN
when the two values cannot be compared (e.g. a credit code against a registration
number: the compare stage turns that into the null level). Work is column-wise (NumPy on
fixed-width character matrices or code points, or rapidfuzz; see
:func:`linkage.match.comparators.strings.scoring_workers` for its threads). Domain methods
encode their discrete levels as fixed similarity values and ship default thresholds, so a
comparison that names only the method gets the domain's levels (e.g. ID numbers: one
edit < masked/legacy-equal < exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from linkage.match.comparators.dates import date_similarity
from linkage.match.comparators.general import (
    EDIT_SCORERS,
    abs_diff_similarity,
    array_intersect_similarity,
    date_diff_similarity,
    edit_similarity,
    token_jaccard_similarity,
)
from linkage.match.comparators.identifiers import credit_code_similarity, id_number_similarity
from linkage.match.comparators.names import (
    ELSEWHERE_CAP,
    address_similarity,
    enterprise_name_similarity,
    person_name_similarity,
)
from linkage.match.comparators.strings import (
    STRING_SCORERS,
    Cache,
    Codes,
    Derived,
    Values,
    numeric_similarity,
    string_similarity,
)

Similarity = Callable[[Values, Codes, Codes, Derived, Cache | None], npt.NDArray[np.float32]]

#: derived columns (``<field>__<name>``) a method uses when the standardiser made them;
#: they arrive aligned with ``uniques``, and the method computes them itself otherwise
DERIVED_INPUTS: dict[str, tuple[str, ...]] = {
    "person_name": ("pinyin", "parts_sorted"),
    "address": ("county_code", "detail"),
}

#: methods whose similarity is capped when both records hold different values of a derived
#: column (``<field>__<name>``): name and cap. The compare stage settles such pairs as
#: "else" without scoring them when the cap is below the comparison's lowest threshold.
CAPPED_APART: dict[str, tuple[str, float]] = {"address": ("county_code", ELSEWHERE_CAP)}

_DOMAIN: dict[str, Similarity] = {
    "numeric": numeric_similarity,
    "id_number": id_number_similarity,
    "credit_code": credit_code_similarity,
    "person_name": person_name_similarity,
    "enterprise_name": enterprise_name_similarity,
    "address": address_similarity,
    "date": date_similarity,
    "abs_diff": abs_diff_similarity,
    "token_jaccard": token_jaccard_similarity,
    "array_intersect": array_intersect_similarity,
}

#: date gaps by unit (``date_diff`` alone counts days)
DATE_UNITS = ("days", "months", "years")

_DEFAULT_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "exact": (),
    "numeric": (0.9, 0.99),
    "id_number": (0.85, 0.95),
    "credit_code": (0.85, 0.95),
    "person_name": (0.8, 0.9, 0.95),
    "enterprise_name": (0.8, 0.9, 0.95),
    "address": (0.7, 0.85, 0.95),
    "date": (0.7, 0.85),
    "token_jaccard": (0.5, 0.75),
    "array_intersect": (0.5,),  # at least one shared item
}

METHODS: tuple[str, ...] = ("exact", *STRING_SCORERS, *_DOMAIN, "date_diff")
#: scorers a comparison may use besides its method's name: edit counts (a string method
#: with levels ``within`` N edits) and date gaps in a unit (``date_diff_years``)
SCORERS: tuple[str, ...] = (*METHODS, *EDIT_SCORERS, *(f"date_diff_{u}" for u in DATE_UNITS))


def default_thresholds(method: str) -> tuple[float, ...]:
    """Thresholds used when a comparison declares none: the domain's own levels, or none
    (exact / else) for plain string scorers."""
    return _DEFAULT_THRESHOLDS.get(method, ())


def similarity(
    method: str, uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None, *, floor: float | None = None,
) -> npt.NDArray[np.float32]:
    """Similarity of each pair (uniques[a[i]], uniques[b[i]]) under ``method``; ``uniques``
    is a sequence of strings or an Arrow string array; ``derived`` optionally carries
    per-value derived columns (see ``DERIVED_INPUTS``); ``cache`` (one dict per set of
    ``uniques``) keeps per-value preparations between calls.

    ``floor``: the caller tells apart no similarities below it (its lowest level
    threshold), so a method may return any value below ``floor`` for a pair it knows
    falls below it, without scoring the strings (an address in another county)."""
    if len(a) != len(b):
        raise ValueError("similarity needs equal-length code arrays")
    if method == "exact":
        return np.asarray(np.asarray(a) == np.asarray(b), dtype=np.float32)
    if method in STRING_SCORERS:
        return string_similarity(method, uniques, a, b, cache)
    if method in EDIT_SCORERS:
        return edit_similarity(method, uniques, a, b, cache)
    if method == "date_diff" or method.startswith("date_diff_"):
        unit = method.removeprefix("date_diff").lstrip("_") or "days"
        if unit in DATE_UNITS:
            return date_diff_similarity(unit, uniques, a, b, cache)
    if method == "address":
        return address_similarity(uniques, a, b, derived or {}, cache, floor=floor)
    if method in _DOMAIN:
        return _DOMAIN[method](uniques, a, b, derived or {}, cache)
    raise ValueError(f"unknown comparison method {method!r} (known: {', '.join(METHODS)})")


def pairs_from_lists(
    left: Sequence[str], right: Sequence[str]
) -> tuple[list[str], Codes, Codes]:
    """Distinct values and codes for two aligned lists (a convenience for tests and users)."""
    index: dict[str, int] = {}
    a = np.fromiter((index.setdefault(v, len(index)) for v in left), np.int64, len(left))
    b = np.fromiter((index.setdefault(v, len(index)) for v in right), np.int64, len(right))
    return list(index), a, b


__all__ = ["CAPPED_APART", "DATE_UNITS", "DERIVED_INPUTS", "METHODS", "SCORERS",
           "default_thresholds", "pairs_from_lists", "similarity"]
