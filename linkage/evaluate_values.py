"""Values as evaluation compares them, each field normalised once per evaluation.

Golden accuracy, reachability, conflict detectability and standardisation repair all
compare a run's values with the truth's after the same normalisation (NFKC, trimmed,
empty as null, one spelling of plain numbers). NFKC is the costly part and departments
repeat values, so each column's distinct values are normalised once and the rows keep
only indices into them; within :func:`normalised_once` a table's field is normalised at
most once, and :func:`forget` lets a finished entity type's columns go.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.groups import as_ints

__all__ = ["Normal", "forget", "normalise", "normalised_at", "normalised_codes",
           "normalised_once"]


class Normal:
    """A column normalised: its distinct values normalised once (``distinct``) and each
    row's index into them (``indices``, null for a null). The rows' normalised values and
    codes are made on demand and not kept: kept for every field of a million records,
    they were the largest thing evaluation held."""

    def __init__(self, table: pa.Table, column: pa.ChunkedArray | pa.Array) -> None:
        self.table = table  # kept alive: the cache is keyed by its id
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        # Each distinct value once: departments repeat values, and NFKC is the costly part.
        encoded = pc.dictionary_encode(column)
        self.indices = encoded.indices
        self.distinct = _normalise_distinct(encoded.dictionary)
        self._distinct_codes: np.ndarray | None = None

    def values(self) -> pa.Array:
        return self.distinct.take(self.indices)

    def codes(self) -> np.ndarray:
        """One code per distinct normalised value (two spellings that normalise alike
        share it), -1 for null: equal codes are equal values, nothing more."""
        if self._distinct_codes is None:
            again = pc.dictionary_encode(self.distinct)  # the distinct values, not the rows
            self._distinct_codes = np.append(as_ints(pc.fill_null(again.indices, -1)), -1)
        code = self._distinct_codes
        out: np.ndarray = code[as_ints(pc.fill_null(self.indices, len(code) - 1))]
        return out


#: while :func:`evaluate` runs: (id of a table, field) -> that column normalised
_NORMALISED: ContextVar[dict[tuple[int, str], Normal] | None] = ContextVar(
    "_NORMALISED", default=None)


@contextmanager
def normalised_once() -> Iterator[None]:
    """Within the block, :func:`normalised_at` normalises each table's field once: golden
    accuracy, reachability, detectability and repair read the same record, golden and
    truth columns (row subsets of them; a normalised value does not depend on its row)."""
    token = _NORMALISED.set({})
    try:
        yield
    finally:
        _NORMALISED.reset(token)


def forget(*tables: pa.Table) -> None:
    """Drop the normalised columns of ``tables`` from the :func:`normalised_once` cache
    (no later step reads them): the cache then holds only what is still to be read."""
    cache = _NORMALISED.get()
    if cache is None:
        return
    ids = {id(t) for t in tables}
    for key in [k for k, v in cache.items() if k[0] in ids and any(v.table is t for t in tables)]:
        del cache[key]


def _normal(table: pa.Table, field: str) -> Normal:
    cache = _NORMALISED.get()
    if cache is None:
        return Normal(table, table.column(field))
    hit = cache.get((id(table), field))
    if hit is not None and hit.table is table:
        return hit
    normal = Normal(table, table.column(field))
    cache[(id(table), field)] = normal
    return normal


def normalised_at(table: pa.Table, field: str,
                   rows: pa.Array | pa.ChunkedArray | np.ndarray) -> pa.Array | pa.ChunkedArray:
    """:func:`normalise` of ``table[field]`` at ``rows``, each distinct value normalised
    once per :func:`normalised_once` block, and only those rows' values taken."""
    normal = _normal(table, field)
    return normal.distinct.take(normal.indices.take(rows))


def normalised_codes(table: pa.Table, field: str) -> np.ndarray:
    """Per row of ``table``, a code of its normalised ``field`` value (-1 for null):
    what dictionary-encoding the normalised values gives, without hashing every row again."""
    return _normal(table, field).codes()


def normalise(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Values for comparison: NFKC, trimmed, empty -> null, plain decimal numbers in one
    spelling ("100.0" and "100" agree). Whole-column Arrow compute."""
    return Normal(pa.table({}), column).values()


def _normalise_distinct(column: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(column, "NFKC"))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    numeric = pc.fill_null(pc.match_substring_regex(text, r"^-?\d+(\.\d+)?$"), False)
    as_number = pc.cast(pc.cast(pc.if_else(numeric, text, "0"), pa.float64()), pa.string())
    return pc.if_else(numeric, as_number, text)
