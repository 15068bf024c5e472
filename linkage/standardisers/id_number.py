"""Citizen identity numbers (GB 11643-1999, and the 15-digit GB 11643-1989 form).

Standardiser ``"id_number"``. Value: the cleaned 18-character upper-case number (NFKC,
spaces/hyphens removed, ``x`` -> ``X``; a 15-digit number upgraded to 18; a masked number
keeps ``*`` in its masked positions). The value is kept for ``bad_check`` / ``bad_date``
(a one-character typo is still evidence for fuzzy comparison; the status says it is
wrong) and is null for ``bad_length``, ``bad_chars``, ``placeholder`` and ``missing``.

Statuses:
    ok                 18 characters, check character and birth date valid
    ok_upgraded_15     a valid 15-digit number, upgraded to 18
    ambiguous_century  15 digits with sequence 996-999 (born 18xx or 19xx): value is the
                       18xx reading (what those sequences were reserved for), ``alt`` the
                       19xx one
    bad_check          the check character does not match
    bad_date           the birth-date digits are not a date in 1800..2100
    bad_length         not 15 or 18 characters
    bad_chars          right length, but characters other than digits (and a final X)
    masked             contains ``*`` (courts, credit disclosures): a wildcard, not an error
    placeholder        all zeros, one digit repeated, a run of consecutive digits
                       (123456789012345678), or a null word (无, 不详, NULL, ...)
    missing            null or blank

Derived: ``birth_date`` (ISO string), ``sex`` (``M``/``F``, odd sequence = male),
``division`` (6 digits, historic codes accepted as they are), ``alt`` (second candidate
for the century ambiguity, else null), ``masked`` (bool).

Clean 18-character numbers (nearly all rows, and nearly all distinct) are checked with
NumPy on the whole column; the rest go through :func:`standardise_id_text` once per
distinct value. Both paths give the same answer (a property test holds them to it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    as_string_array,
    ascii_matrix,
    fast_or_distinct,
)
from linkage.standardisers.base import NULL_WORDS as BASE_NULL_WORDS
from linkage.standardisers.checksums import ID_CHECK, ID_WEIGHTS

OK_UPGRADED_15 = "ok_upgraded_15"
AMBIGUOUS_CENTURY = "ambiguous_century"
BAD_CHECK = "bad_check"
BAD_DATE = "bad_date"
BAD_LENGTH = "bad_length"
BAD_CHARS = "bad_chars"
MASKED = "masked"
PLACEHOLDER = "placeholder"

MIN_BIRTH_YEAR = 1800
MAX_BIRTH_YEAR = 2100

#: Words departments type where they have no number ("0" too, in an ID column).
NULL_WORDS = BASE_NULL_WORDS | {"0"}

_DERIVED_TYPES = {
    "birth_date": pa.string(),
    "sex": pa.string(),
    "division": pa.string(),
    "alt": pa.string(),
    "masked": pa.bool_(),
}
_TYPES = [pa.string(), pa.string(), *_DERIVED_TYPES.values()]
_NULL_ROW: tuple[str | None, str, str | None, str | None, str | None, str | None, bool] = (
    None, MISSING, None, None, None, None, False
)
IdRow = tuple[str | None, str, str | None, str | None, str | None, str | None, bool]

_FAST_PATTERN = r"^[0-9]{17}[0-9X]$"
_STATUS_NAMES = pa.array([OK, BAD_CHECK, BAD_DATE, PLACEHOLDER])
_SEPARATORS = str.maketrans("", "", " \t\r\n-_.,;:'\"")


def upgrade_15(number: str, century: str = "19") -> str:
    """A 15-digit number -> 18: insert the century after the division, append the check.

    Masked digits (``*``) stay masked and then the check character is ``*`` too.
    """
    body = number[:6] + century + number[6:]
    if "*" in body:
        return body + "*"
    return body + _check_char(body)


def downgrade_18(number: str) -> str:
    """The 15-digit form an 18-digit number was upgraded from (century and check dropped)."""
    return number[:6] + number[8:17]


def standardise_id_text(text: str) -> IdRow:
    """One raw ID string -> (value, status, birth_date, sex, division, alt, masked)."""
    s = unicodedata.normalize("NFKC", text).translate(_SEPARATORS).upper()
    if not s:
        return _NULL_ROW
    if s in NULL_WORDS:
        return (None, PLACEHOLDER, None, None, None, None, False)
    s = s.replace("×", "*")
    if len(s) not in (15, 18):
        return (None, BAD_LENGTH, None, None, None, None, "*" in s)
    if len(s) == 18:
        body, last = s[:17], s[17]
        shape_ok = all(c.isdigit() or c == "*" for c in body) and (last.isdigit() or last in "X*")
    else:
        shape_ok = all(c.isdigit() or c == "*" for c in s)
    if not shape_ok or not s.isascii():
        return (None, BAD_CHARS, None, None, None, None, "*" in s)
    if "*" in s:
        return _masked(s)
    if _is_placeholder(s):
        return (None, PLACEHOLDER, None, None, None, None, False)
    if len(s) == 15:
        return _from_15(s)
    birth = _birth_date(s[6:14])
    sex = "M" if int(s[16]) % 2 else "F"
    if _check_char(s[:17]) != s[17]:
        return (s, BAD_CHECK, birth, sex, s[:6], None, False)
    if birth is None:
        return (s, BAD_DATE, None, sex, s[:6], None, False)
    return (s, OK, birth, sex, s[:6], None, False)


def _from_15(s: str) -> IdRow:
    sex = "M" if int(s[14]) % 2 else "F"
    division = s[:6]
    if s[12:15] in ("996", "997", "998", "999"):
        old, new = upgrade_15(s, "18"), upgrade_15(s, "19")
        old_birth, new_birth = _birth_date("18" + s[6:12]), _birth_date("19" + s[6:12])
        if old_birth and new_birth:
            return (old, AMBIGUOUS_CENTURY, old_birth, sex, division, new, False)
        if old_birth or new_birth:  # only one century gives a real date (29 February)
            value = old if old_birth else new
            return (value, OK_UPGRADED_15, old_birth or new_birth, sex, division, None, False)
        return (new, BAD_DATE, None, sex, division, None, False)
    value = upgrade_15(s)
    birth = _birth_date("19" + s[6:12])
    if birth is None:
        return (value, BAD_DATE, None, sex, division, None, False)
    return (value, OK_UPGRADED_15, birth, sex, division, None, False)


def _masked(s: str) -> IdRow:
    value = upgrade_15(s) if len(s) == 15 else s
    date_digits = value[6:14]
    birth = None if "*" in date_digits else _birth_date(date_digits)
    sex = None if value[16] == "*" else ("M" if int(value[16]) % 2 else "F")
    division = None if "*" in value[:6] else value[:6]
    return (value, MASKED, birth, sex, division, None, True)


def _is_placeholder(s: str) -> bool:
    """One digit repeated, or a run of consecutive digits (123456789012345678)."""
    body = s[:17] if len(s) == 18 else s
    if len(set(body)) == 1:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(body)}
    return steps in ({1}, {9})


def _check_char(body: str) -> str:
    total = sum(int(d) * int(w) for d, w in zip(body, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def _birth_date(yyyymmdd: str) -> str | None:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    if not MIN_BIRTH_YEAR <= year <= MAX_BIRTH_YEAR:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def standardise_id_number(values: pa.Array) -> Standardised:
    """Standardiser ``"id_number"`` (see the module docstring for statuses and derived)."""
    text = pc.utf8_trim_whitespace(as_string_array(values))
    columns = fast_or_distinct(text, _FAST_PATTERN, _fast_18, standardise_id_text, _TYPES,
                               null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_id_number` for one value
ID_NUMBER_ONE = OneValue(standardise_id_text, tuple(_DERIVED_TYPES), _NULL_ROW, str.strip)


def _fast_18(ids: pa.Array) -> list[pa.Array]:
    """Whole-column checks for clean ``[0-9]{17}[0-9X]`` numbers."""
    mat = ascii_matrix(ids, 18)
    digits = mat[:, :17].astype(np.int64) - ord("0")
    check = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[(digits @ ID_WEIGHTS) % 11]
    check_ok = check == mat[:, 17]
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    date_ok = _valid_dates(year, month, day)
    steps = np.diff(digits, axis=1) % 10
    placeholder = ((digits == digits[:, :1]).all(axis=1) | (steps == 1).all(axis=1)
                   | (steps == 9).all(axis=1))
    code = np.where(placeholder, 3, np.where(~check_ok, 1, np.where(~date_ok, 2, 0)))
    status = _STATUS_NAMES.take(pa.array(code.astype(np.int8)))
    keep = pa.array(~placeholder)
    null_str = pa.scalar(None, pa.string())
    value = pc.if_else(keep, ids, null_str)
    iso = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(ids, 6, 10), pc.utf8_slice_codeunits(ids, 10, 12),
        pc.utf8_slice_codeunits(ids, 12, 14), "-",
    )
    birth = pc.if_else(pa.array(date_ok & ~placeholder), iso, null_str)
    sex = pc.if_else(keep, pa.array(["F", "M"]).take(pa.array(digits[:, 16] % 2)), null_str)
    division = pc.if_else(keep, pc.utf8_slice_codeunits(ids, 0, 6), null_str)
    alt = pa.nulls(len(ids), pa.string())
    masked = pa.array(np.zeros(len(ids), dtype=bool))
    return [value, status, birth, sex, division, alt, masked]


def _valid_dates(
    year: npt.NDArray[np.int64], month: npt.NDArray[np.int64], day: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Vectorised calendar check (Gregorian leap years) within the accepted birth years."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    month_ok = (month >= 1) & (month <= 12)
    limit = days[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    year_ok = (year >= MIN_BIRTH_YEAR) & (year <= MAX_BIRTH_YEAR)
    result: npt.NDArray[np.bool_] = year_ok & month_ok & (day >= 1) & (day <= limit)
    return result
