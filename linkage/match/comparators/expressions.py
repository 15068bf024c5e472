"""Per-comparison expressions: what a comparison compares instead of the raw field.

A comparison's ``transform`` lists expressions applied in order to both records' values,
on the whole column (Arrow compute) before the column is encoded, so the rest of the
compare stage runs unchanged on the transformed values:

``lower`` / ``upper``       case
``first_token``             the first whitespace-separated word (a given name)
``last_token``              the last word (a surname written last)
``digits``                  only the digits (a house number, a phone written loosely)
``substring:<start>:<stop>``  characters start..stop-1 (``substring:0:3``: the first three)

A value that becomes blank is null (the comparison's null level).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

_SIMPLE = ("lower", "upper", "first_token", "last_token", "digits")
_SUBSTRING = re.compile(r"substring:(\d+):(\d+)")


def transform_problem(transform: Sequence[str]) -> str | None:
    """Why ``transform`` is not a list of known expressions, or None."""
    for expr in transform:
        if expr in _SIMPLE:
            continue
        match = _SUBSTRING.fullmatch(expr)
        if match is None:
            return (f"unknown transform {expr!r} (known: {', '.join(_SIMPLE)}, "
                    "substring:<start>:<stop>)")
        if int(match.group(2)) <= int(match.group(1)):
            return f"transform {expr!r}: stop must be after start"
    return None


def apply_transforms(column: pa.ChunkedArray | pa.Array, transform: Sequence[str]) -> pa.Array:
    """``column`` as strings with each expression of ``transform`` applied in order."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    for expr in transform:
        column = _apply(column, expr)
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), False)
    return pc.if_else(blank, pa.scalar(None, pa.string()), column)


def _apply(column: pa.Array, expr: str) -> pa.Array:
    if expr == "lower":
        return pc.utf8_lower(column)
    if expr == "upper":
        return pc.utf8_upper(column)
    if expr == "first_token":
        return pc.replace_substring_regex(pc.utf8_trim_whitespace(column), r"\s.*$", "")
    if expr == "last_token":
        return pc.replace_substring_regex(pc.utf8_trim_whitespace(column), r"^.*\s", "")
    if expr == "digits":
        return pc.replace_substring_regex(column, r"[^0-9]+", "")
    match = _SUBSTRING.fullmatch(expr)
    if match is None:
        raise ValueError(f"unknown transform {expr!r}")
    return pc.utf8_slice_codeunits(column, int(match.group(1)), int(match.group(2)))
