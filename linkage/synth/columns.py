"""Column-building helpers: seeded random streams, word choice, padded numbers, dates.

Everything works on whole columns (NumPy / Arrow compute); the generator never loops over
records in Python except over the small subsets an error touches.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = date(1970, 1, 1)
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for one named step, so adding a step elsewhere does not
    shift the random numbers of this one."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def day(text: str | date) -> int:
    """Days since 1970-01-01 of an ISO date."""
    d = date.fromisoformat(text) if isinstance(text, str) else text
    return (d - EPOCH).days


def choose(rng: np.random.Generator, words: Sequence[str], n: int,
           weights: Sequence[float] | None = None) -> pa.Array:
    """``n`` words drawn from ``words`` (with ``weights`` when given) as a string array."""
    p = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        p = w / w.sum()
    idx = rng.choice(len(words), size=n, p=p)
    return pa.array(words, pa.string()).take(pa.array(idx))


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate string columns (or constants) row by row; a null part counts as ''."""
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


def padded(numbers: npt.NDArray[np.integer], width: int) -> pa.Array:
    """Non-negative integers as zero-padded decimal strings of ``width`` characters."""
    return pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width, "0")


def digits_to_strings(matrix: npt.NDArray[np.uint8]) -> pa.Array:
    """Rows of ASCII codes (an (n, w) uint8 matrix) as strings of width w."""
    n, w = matrix.shape
    flat = np.ascontiguousarray(matrix).view(f"S{w}").reshape(n)
    return pc.cast(pa.array(flat, pa.binary(w)), pa.string())


def ascii_of(chars: npt.NDArray[np.str_]) -> npt.NDArray[np.uint8]:
    """One-character ASCII strings (NumPy ``U1``) as their byte codes."""
    return np.ascontiguousarray(chars.astype("U1")).view(np.uint32).astype(np.uint8)


def digit_matrix(numbers: npt.NDArray[np.integer], width: int) -> npt.NDArray[np.uint8]:
    """Each integer's ``width`` decimal digits (most significant first) as a uint8 matrix."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((numbers.astype(np.int64)[:, None] // powers) % 10).astype(np.uint8)


def civil(days: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month, day of each day number (proleptic Gregorian), in pure integer NumPy
    arithmetic: Arrow's strftime goes through timestamps and is several times slower."""
    z = days.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def date_strings(days: IntArray, style: str) -> pa.Array:
    """Dates (days since epoch; below -30000 = null) in a department's style.

    Styles: ``iso`` 2020-03-05, ``compact`` 20200305, ``slash`` 2020/3/5, ``dot`` 2020.3.5,
    ``chinese`` 2020年3月5日, ``datetime`` 2020-03-05 00:00:00 (a database export).
    """
    days = np.asarray(days, dtype=np.int64)
    null = days < -30000
    y, m, d = civil(np.where(null, 0, days))
    if style == "datetime":
        out = join(date_strings(np.where(null, 0, days), "iso"), " 00:00:00")
    elif style in ("iso", "compact"):
        parts = [digit_matrix(y, 4) + 48, digit_matrix(m, 2) + 48, digit_matrix(d, 2) + 48]
        if style == "iso":
            dash = np.full((len(days), 1), ord("-"), dtype=np.uint8)
            parts = [parts[0], dash, parts[1], dash, parts[2]]
        out = digits_to_strings(np.concatenate(parts, axis=1).astype(np.uint8))
    else:
        ys, ms, ds = (pc.cast(pa.array(v), pa.string()) for v in (y, m, d))
        if style == "slash":
            out = join(ys, "/", ms, "/", ds)
        elif style == "dot":
            out = join(ys, ".", ms, ".", ds)
        elif style == "chinese":
            out = join(ys, "年", ms, "月", ds, "日")
        else:
            raise ValueError(f"unknown date style {style!r}")
    if null.any():
        out = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), out)
    return out


NO_DATE = -99999


def uniform_days(rng: np.random.Generator, low: IntArray | int, high: IntArray | int,
                 n: int) -> IntArray:
    """Uniform integer days in [low, high] (arrays broadcast); high < low gives low."""
    lo = np.broadcast_to(np.asarray(low, dtype=np.int64), (n,))
    hi = np.maximum(np.broadcast_to(np.asarray(high, dtype=np.int64), (n,)), lo)
    return lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)


def set_rows(values: pa.Array, rows: IntArray, new: Sequence[str | None] | pa.Array,
             n: int) -> pa.Array:
    """``values`` with the rows at positions ``rows`` (ascending) replaced by ``new``."""
    if len(rows) == 0:
        return values
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    replacement = new if isinstance(new, pa.Array) else pa.array(list(new), pa.string())
    # A null replacement is written in two steps: the masked rows get "" first, then the
    # rows whose replacement is null are nulled.
    nulls = replacement.is_null().to_numpy(zero_copy_only=False)
    filled = pc.fill_null(replacement, "")
    out = pc.replace_with_mask(values, pa.array(mask), filled)
    if nulls.any():
        null_mask = np.zeros(n, dtype=bool)
        null_mask[rows[nulls]] = True
        out = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), out)
    return out


def to_list(values: pa.Array, rows: IntArray) -> list[str | None]:
    """The Python strings at ``rows`` (for per-affected-row error functions)."""
    result: list[str | None] = values.take(pa.array(rows, pa.int64())).to_pylist()
    return result
