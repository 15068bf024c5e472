"""Rows of a memory-mapped Arrow table read one at a time, straight from its buffers.

A resolve reads a handful of rows (its candidates, one golden record, a few conflicts)
out of tables of millions. Arrow's ``array[i].as_py()`` builds a scalar object per value
(about 3 us each; a golden record has 40 columns); slicing the table and converting it
costs more still. Here each column gets, once, a reader built from its type that takes
the value out of the column's buffers (validity bit, offsets, bytes) with plain Python
indexing on memoryviews: under a microsecond a value. Types without a reader of their
own (maps, unions, decimals ...) fall back to the scalar.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["Rows", "jsonable", "one_chunk"]

Reader = Callable[[int], Any]
_EPOCH = dt.date(1970, 1, 1).toordinal()
_INTS = {8: "b", 16: "h", 32: "i", 64: "q"}
_UINTS = {8: "B", 16: "H", 32: "I", 64: "Q"}
_DECODED = 4096  # dictionaries up to this size are decoded once, larger ones per read


class Rows:
    """Rows of ``table`` as dicts (the columns ``skip`` left out). ``json``: values as JSON
    takes them (dates as ISO text, NaN as null); otherwise as ``as_py`` gives them."""

    def __init__(self, table: pa.Table, *, json: bool = False,
                 skip: str | tuple[str, ...] | None = None,
                 readers: Mapping[str, Reader] | None = None) -> None:
        left_out = (skip,) if isinstance(skip, str) else skip or ()
        self.names = [n for n in table.column_names if n not in left_out]
        given = readers or {}
        self.readers = {n: given[n] if n in given else reader(one_chunk(table.column(n)),
                                                               json=json)
                        for n in self.names}
        self._items = list(self.readers.items())

    def value(self, i: int, name: str) -> Any:
        return self.readers[name](i)

    def row(self, i: int) -> dict[str, Any]:
        return {n: read(i) for n, read in self._items}

    def rows(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        items = self._items
        return [{n: read(i) for n, read in items} for i in positions]


def one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array (no copy when it is one chunk, as the index writes it)."""
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks() if column.num_chunks else pa.array([], column.type)


def reader(arr: pa.Array, *, json: bool) -> Reader:
    """A function of a row position giving that row's value of ``arr``."""
    try:
        read = _typed(arr, json)
    except (TypeError, ValueError, NotImplementedError):
        read = None  # a buffer layout the readers below do not expect: the scalar path
    return read if read is not None else _scalar(arr, json)


def _typed(arr: pa.Array, json: bool) -> Reader | None:
    kind = arr.type
    bufs = arr.buffers()
    off = arr.offset
    valid = memoryview(bufs[0]) if bufs[0] is not None and arr.null_count else None

    def nullable(get: Reader) -> Reader:
        if valid is None:
            return get
        bits = valid

        def read(i: int) -> Any:
            j = i + off
            return get(i) if (bits[j >> 3] >> (j & 7)) & 1 else None
        return read

    if pa.types.is_null(kind):
        return lambda i: None
    if pa.types.is_dictionary(kind) and off == 0:
        # the index's repeated text: a small dictionary decoded once, a large one read
        # straight from its buffers (as fast as a plain string column)
        assert isinstance(arr, pa.DictionaryArray)
        index = arr.indices
        codes = memoryview(index.buffers()[1]).cast(  # type: ignore[call-overload]
            _INTS[index.type.bit_width])
        start = index.offset
        words = arr.dictionary
        if len(words) <= _DECODED or not pa.types.is_string(words.type) or words.offset:
            word = reader(words, json=json)
            decoded = [word(k) for k in range(len(words))]
            return nullable(lambda i: decoded[codes[i + start]])
        w_bufs = words.buffers()
        w_offsets = memoryview(w_bufs[1]).cast("i")
        w_data = memoryview(w_bufs[2]) if w_bufs[2] is not None else memoryview(b"")

        def word_at(i: int) -> str:
            j = codes[i + start]
            return str(w_data[w_offsets[j]:w_offsets[j + 1]], "utf-8")
        return nullable(word_at)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        offsets = memoryview(bufs[1]).cast("q" if pa.types.is_large_string(kind) else "i")
        data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")

        def text(i: int) -> str:
            j = i + off
            return str(data[offsets[j]:offsets[j + 1]], "utf-8")
        return nullable(text)
    if pa.types.is_boolean(kind):
        bools = memoryview(bufs[1])

        def flag(i: int) -> bool:
            j = i + off
            return bool((bools[j >> 3] >> (j & 7)) & 1)
        return nullable(flag)
    if pa.types.is_integer(kind):
        table = _UINTS if pa.types.is_unsigned_integer(kind) else _INTS
        ints = memoryview(bufs[1]).cast(table[kind.bit_width])  # type: ignore[call-overload]
        return nullable(lambda i: ints[i + off])
    if pa.types.is_float64(kind) or pa.types.is_float32(kind):
        floats = memoryview(bufs[1]).cast("d" if pa.types.is_float64(kind) else "f")
        if json:
            def finite(i: int) -> float | None:
                v = floats[i + off]
                return v if math.isfinite(v) else None
            return nullable(finite)
        return nullable(lambda i: floats[i + off])
    if pa.types.is_date32(kind):
        days = memoryview(bufs[1]).cast("i")
        made = _iso_dates if json else _dates
        return nullable(lambda i: made[days[i + off]])
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and off == 0:
        assert isinstance(arr, pa.ListArray | pa.LargeListArray)
        starts = memoryview(bufs[1]).cast("q" if pa.types.is_large_list(kind) else "i")
        item = reader(arr.values, json=json)

        def items(i: int) -> list[Any]:
            return [item(k) for k in range(starts[i], starts[i + 1])]
        return nullable(items)
    if pa.types.is_struct(kind) and off == 0:
        assert isinstance(arr, pa.StructArray)
        fields = [(kind.field(k).name, reader(arr.field(k), json=json))
                  for k in range(kind.num_fields)]
        return nullable(lambda i: {name: read(i) for name, read in fields})
    return None


class _Days(dict[int, Any]):
    """Days since 1970 -> date (or ISO text), made on first use (a column holds a few
    thousand distinct dates; making one costs more than looking it up)."""

    def __init__(self, iso: bool) -> None:
        super().__init__()
        self.iso = iso

    def __missing__(self, days: int) -> Any:
        day = dt.date.fromordinal(_EPOCH + days)
        value = self[days] = day.isoformat() if self.iso else day
        return value


_dates = _Days(iso=False)
_iso_dates = _Days(iso=True)


def _scalar(arr: pa.Array, json: bool) -> Reader:
    if not json:
        return lambda i: arr[i].as_py()
    return lambda i: jsonable(arr[i].as_py())


def jsonable(value: Any) -> Any:
    """Dates as ISO text, NaN as null, NumPy scalars as Python ones."""
    kind = type(value)
    if kind in _PLAIN:  # the common cases first, by exact type (an answer has hundreds)
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_PLAIN = frozenset({str, int, bool, type(None)})

