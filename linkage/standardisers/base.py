"""What every standardiser returns, and the distinct-value trick that makes them fast.

A standardiser is a function ``pa.Array -> Standardised``. It never raises on a bad
value and never drops a row: the output arrays have the input's length, and a value it
cannot use becomes null with a status saying why.

Status vocabulary: ``"ok"`` (usable and valid), ``"missing"`` (null or blank), and
standardiser-specific reasons. A status that starts with ``"ok"`` (``"ok_upgraded_15"``)
counts as valid; anything else is a problem that ends up in the record's ``flags``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

OK = "ok"
MISSING = "missing"

#: Words departments type into a field they have no value for ("none", "unknown", "N/A",
#: dashes); compared after NFKC, trimming and upper-casing. A standardiser sees them as
#: missing (see :func:`null_words_to_null`); "0" is not among them, a capital of 0 is a value.
NULL_WORDS = frozenset(
    {"无", "不详", "未知", "暂无", "空", "(空)", "NULL", "NONE", "NAN", "N/A", "NA", "\\N",
     "-", "--", "/", "—", "——"}
)


@dataclass(frozen=True)
class Standardised:
    """Normalised values (null when unusable), a status per row, and derived columns."""

    value: pa.Array
    status: pa.Array
    derived: Mapping[str, pa.Array] = field(default_factory=dict)


Standardiser = Callable[[pa.Array], Standardised]


@dataclass(frozen=True)
class OneValue:
    """A standardiser's form for a single value, giving what its array function gives
    that value's row (a resolver's one record would pay for dozens of Arrow calls
    otherwise): ``prepare`` is the whole-column step the array function takes before its
    per-value function (trimming, cutting a time of day), ``fn`` that per-value function,
    ``derived`` the names of the derived values after (value, status) in ``fn``'s tuple,
    ``null_row`` the tuple of a null. A test holds every registered form to its array
    function."""

    fn: Callable[[str], tuple[Any, ...]]
    derived: tuple[str, ...]
    null_row: tuple[Any, ...]
    prepare: Callable[[str], str] | None = None

    def __call__(self, value: str | None) -> tuple[Any, ...]:
        if value is None:
            return self.null_row
        return self.fn(self.prepare(value) if self.prepare is not None else value)


def is_valid_status(status: str) -> bool:
    """A status that starts with ``"ok"`` marks a usable, valid value."""
    return status.startswith(OK)


def as_string_array(values: pa.Array | pa.ChunkedArray | Sequence[Any]) -> pa.Array:
    """Any array-like of values -> one contiguous ``pa.string()`` array (nulls kept)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def map_distinct(
    values: pa.Array,
    fn: Callable[[str], tuple[Any, ...]],
    types: Sequence[pa.DataType],
    *,
    null_result: tuple[Any, ...],
) -> list[pa.Array]:
    """Apply a scalar function once per distinct value and spread the results to every row.

    Real departmental columns repeat heavily (names, addresses, dates), so the Python work
    is proportional to the number of distinct values, and the expansion back to rows is an
    Arrow ``take``. ``fn`` returns one tuple per value, aligned with ``types``; null inputs
    get ``null_result``.
    """
    return map_distinct_batch(values, lambda uniques: [fn(u) for u in uniques], types,
                              null_result=null_result)


def map_distinct_batch(
    values: pa.Array,
    fn: Callable[[list[str]], list[tuple[Any, ...]]],
    types: Sequence[pa.DataType],
    *,
    null_result: tuple[Any, ...],
) -> list[pa.Array]:
    """:func:`map_distinct` with a function of all the distinct values at once (one that
    runs some of its steps over the whole list rather than value by value)."""
    def columns(uniques: pa.Array) -> list[pa.Array]:
        results = fn(uniques.to_pylist())
        return [pa.array([r[j] for r in results], type=typ) for j, typ in enumerate(types)]

    return map_distinct_columns(values, columns, types, null_result=null_result)


def map_distinct_columns(
    values: pa.Array,
    fn: Callable[[pa.Array], Sequence[pa.Array]],
    types: Sequence[pa.DataType],
    *,
    null_result: tuple[Any, ...],
) -> list[pa.Array]:
    """:func:`map_distinct` with a function of the distinct values as one array (no
    nulls), returning one array per type: column work on the distinct values, then a
    ``take`` back to the rows."""
    values = as_string_array(values)
    encoded = pc.dictionary_encode(values)
    columns = fn(encoded.dictionary)
    indices = pc.fill_null(encoded.indices, len(encoded.dictionary))
    out: list[pa.Array] = []
    for column, typ, null in zip(columns, types, null_result, strict=True):
        with_null = pa.concat_arrays([column.cast(typ), pa.array([null], typ)])
        out.append(with_null.take(indices))
    return out


def is_null_word(text: str) -> bool:
    """Whether :func:`null_words_to_null` turns this one value into null (the same
    byte-level pre-check; the few short values that pass it are folded by Arrow, as the
    column function folds them, and remembered)."""
    data = text.encode("utf-8")
    if not 0 < len(data) <= _NULL_WORD_MAX_BYTES or not _NULL_WORD_FIRST_BYTES[data[0]]:
        return False
    return _folded_null_word(text)


@lru_cache(maxsize=4096)
def _folded_null_word(text: str) -> bool:
    folded = pc.utf8_upper(pc.utf8_trim_whitespace(pa.array([text], pa.string())))
    return bool(pc.is_in(folded, value_set=_NULL_WORD_FORMS)[0].as_py())


def null_words_to_null(values: pa.Array, words: frozenset[str] = NULL_WORDS) -> pa.Array:
    """``values`` with every null word (:data:`NULL_WORDS`, also in full-width forms,
    any case, with a few surrounding spaces) replaced by null. Whole-column passes, and
    only over the values short enough to be one (addresses and IDs cost a length pass).

    ``words``: the field type's own list (a subset of :data:`NULL_WORDS` where some are
    values: the surnames Na and Nan and the name None in a Latin name field). A word
    matches a whole value only, never a part of one (``Na Li`` is a name either way)."""
    values = as_string_array(values)
    rows = _null_word_candidates(values)
    if len(rows) == 0:
        return values
    candidates = values if len(rows) == len(values) else values.take(pa.array(rows))
    folded = pc.utf8_upper(pc.utf8_trim_whitespace(candidates))
    forms = _NULL_WORD_FORMS if words == NULL_WORDS else _forms(words)
    found = np.asarray(pc.fill_null(pc.is_in(folded, value_set=forms), False)
                       .to_numpy(zero_copy_only=False), dtype=bool)
    if not found.any():
        return values
    hit = np.zeros(len(values), dtype=bool)
    hit[rows[found]] = True
    return pc.if_else(pa.array(hit), pa.scalar(None, pa.string()), values)


def _null_word_candidates(values: pa.Array) -> npt.NDArray[np.int64]:
    """Rows that may hold a null word: short, and starting with a byte some null word
    (or a space) starts with; read off Arrow's buffers, so ID, phone and date columns
    (digits first) cost one NumPy pass."""
    n = len(values)
    if n == 0 or values.null_count == n:
        return np.zeros(0, dtype=np.int64)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else None
    if data is None or len(data) == 0:
        return np.zeros(0, dtype=np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    first = data[np.minimum(starts, len(data) - 1)]
    keep = (lengths > 0) & (lengths <= _NULL_WORD_MAX_BYTES) & _NULL_WORD_FIRST_BYTES[first]
    if values.null_count:
        keep &= np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return np.flatnonzero(keep)


@lru_cache(maxsize=16)
def _forms(words: frozenset[str]) -> pa.Array:
    """Every word of ``words`` as written half- or full-width (a subset of the forms
    :func:`_null_word_candidates` looks for, so its pre-filter still holds)."""
    return pa.array(sorted(words | {_full_width(w) for w in words}), pa.string())


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def nfkc_clean(text: str) -> str:
    """NFKC fold (full-width -> half-width), trim and collapse inner whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def standardise_text(values: pa.Array) -> Standardised:
    """Generic text: NFKC, trimmed, inner whitespace collapsed; blank -> missing."""

    value, status = map_distinct(
        values, _text_one, [pa.string(), pa.string()], null_result=(None, MISSING)
    )
    return Standardised(value=value, status=status)


def _text_one(text: str) -> tuple[str | None, str]:
    cleaned = nfkc_clean(text)
    return (cleaned, OK) if cleaned else (None, MISSING)


#: :func:`standardise_text` for one value
TEXT_ONE = OneValue(_text_one, (), (None, MISSING))


def combine_parts(
    n: int, parts: Sequence[tuple[npt.NDArray[np.int64], Sequence[pa.Array]]]
) -> list[pa.Array]:
    """Reassemble row-aligned columns from disjoint row subsets computed separately.

    Standardisers run a vectorised fast path on the rows already in canonical shape and
    the per-distinct-value path on the rest; ``parts`` holds each subset's row positions
    and its output columns (same number and types of columns in every part). Returns
    full-length columns in row order.
    """
    positions = np.concatenate([idx for idx, _ in parts]) if parts else np.zeros(0, np.int64)
    if len(positions) != n:
        raise AssertionError(f"combine_parts: {len(positions)} positions for {n} rows")
    order = pa.array(np.argsort(positions, kind="stable"), type=pa.int64())
    n_columns = len(parts[0][1])
    out: list[pa.Array] = []
    for j in range(n_columns):
        pieces = [cols[j] for _, cols in parts]
        out.append(pa.concat_arrays(pieces).take(order))
    return out


def fast_or_distinct(
    text: pa.Array,
    fast_pattern: str,
    fast: Callable[[pa.Array], Sequence[pa.Array]],
    slow: Callable[[str], tuple[Any, ...]],
    types: Sequence[pa.DataType],
    *,
    null_result: tuple[Any, ...],
) -> list[pa.Array]:
    """Rows matching ``fast_pattern`` (already in canonical shape) go through the
    whole-column ``fast`` function; the rest through ``slow`` once per distinct value.
    Returns the ``types`` columns in row order."""
    n = len(text)
    fast_rows = rows_where(pc.match_substring_regex(text, fast_pattern))
    slow_rows = np.setdiff1d(np.arange(n, dtype=np.int64), fast_rows, assume_unique=True)
    parts: list[tuple[npt.NDArray[np.int64], Sequence[pa.Array]]] = []
    if len(fast_rows):
        parts.append((fast_rows, fast(text.take(pa.array(fast_rows)))))
    if len(slow_rows):
        parts.append((slow_rows, map_distinct(text.take(pa.array(slow_rows)), slow, types,
                                              null_result=null_result)))
    return combine_parts(n, parts) if parts else [pa.array([], t) for t in types]


def rows_where(mask: pa.Array) -> npt.NDArray[np.int64]:
    """Row positions where a boolean array is true (null counts as false)."""
    filled = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(filled).astype(np.int64)


def ascii_matrix(values: pa.Array, width: int) -> npt.NDArray[np.uint8]:
    """Fixed-width ASCII strings (no nulls) -> an (n, width) ``uint8`` matrix, zero copy
    where Arrow's buffer allows. The caller guarantees every value has ``width`` bytes."""
    values = as_string_array(values)
    n = len(values)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset :]
    start = int(offsets[0])
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    return data[start : start + n * width].reshape(n, width)


#: every null word as written half- or full-width (after trimming and upper-casing)
_NULL_WORD_FORMS = pa.array(sorted(NULL_WORDS | {_full_width(w) for w in NULL_WORDS}))
#: longest raw text (UTF-8 bytes) looked at: the longest form plus a few spaces
_NULL_WORD_MAX_BYTES = max(len(w.encode()) for w in _NULL_WORD_FORMS.to_pylist()) + 8
#: first UTF-8 bytes a null word can start with (either case, or after white space)
_NULL_WORD_FIRST_BYTES = np.zeros(256, dtype=bool)
for _form in [*_NULL_WORD_FORMS.to_pylist(), " ", "\t", "\u3000", "n", "ｎ"]:
    _NULL_WORD_FIRST_BYTES[_form.lower().encode()[0]] = True
    _NULL_WORD_FIRST_BYTES[_form.encode()[0]] = True
