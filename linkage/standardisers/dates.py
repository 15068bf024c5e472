"""Calendar dates as departments write them, folded to ISO ``YYYY-MM-DD`` / ``date32``.

Accepted forms: ``1985-03-02``, ``19850302``, ``1985/3/2``, ``1985.3.2``, ``1985年3月2日``
(full-width digits too), ``一九八五年三月二日`` (Chinese numerals, as court documents write
dates), any of these followed by a time of day (``1985-03-02 08:30:00``,
``1985-03-02T08:30:00+08:00``), Excel serial day numbers (``"31108"`` -> 1985-03-02, with a
fractional time part allowed) and Arrow date/timestamp columns.

Deliberately NOT accepted (they would be guesses): a bare 4-digit number (a year, or a
1900s Excel serial?), 6-digit ``YYMMDD`` (which century?) and day-first or month-first
orders (``02/03/1985``). Excel serials are taken only from 10000 (1927-05-18) to 99999,
so a stray small number is never read as a date in 1900.

Standardiser ``"date"``: value = ISO string; statuses ``ok``, ``bad_date`` (present but
unparseable or impossible, e.g. 1985-02-30), ``implausible`` (a real date, but before 1900
or from 2100 on: no birth, registration or judgement in a department's file is, so it is
a typo; the value is dropped), ``missing`` (null or blank). No derived
columns. :func:`parse_dates` is the same parser returning ``date32`` (null when
unparseable), used by the source reader for update-time columns.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    as_string_array,
    map_distinct,
)

BAD_DATE = "bad_date"
IMPLAUSIBLE = "implausible"

#: Years outside this range are treated as typos, not dates.
MIN_YEAR = 1800
MAX_YEAR = 2200
#: Dates the ``"date"`` standardiser accepts as values: [PLAUSIBLE_FROM, PLAUSIBLE_UNTIL).
PLAUSIBLE_FROM = dt.date(1900, 1, 1)
PLAUSIBLE_UNTIL = dt.date(2100, 1, 1)

#: Excel's 1900 date system counts days from 1899-12-30 (it wrongly has 1900-02-29, so
#: serials from 61 on are offset from 1899-12-30; we only accept serials >= 10000).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
MIN_EXCEL_SERIAL = 10_000
MAX_EXCEL_SERIAL = 99_999

#: A time-of-day tail (``08:30``, ``8时30分``) after the date.
_TIME_TAIL = re.compile(r"(?:[ T]+|(?<=[日号]))\s*\d{1,2}[:时点]\d{0,2}.*$")

_SEPARATED = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^(\d{5})(?:\.\d+)?$")
_CHINESE_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "О": 0}
_CHINESE_DATE = re.compile(r"^([〇零○О一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月"
                           r"([一二三四五六七八九十]{1,3})[日号]$")


def parse_date_text(text: str) -> dt.date | None:
    """One date string (time tail already allowed) -> ``date``, or ``None`` if not a date."""
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return None
    s = _TIME_TAIL.sub("", s).strip()
    chinese = _CHINESE_DATE.match(s)
    if chinese is not None:  # 一九八五年三月二日, as court documents write dates
        year_text, month_text, day_text = chinese.groups()
        year = int("".join(str(_CHINESE_DIGITS[c]) for c in year_text))
        s = f"{year}-{_chinese_number(month_text)}-{_chinese_number(day_text)}"
    match = _SEPARATED.match(s) or _COMPACT.match(s)
    if match is not None:
        year, month, day = (int(g) for g in match.groups())
        if not MIN_YEAR <= year <= MAX_YEAR:
            return None
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    match = _SERIAL.match(s)
    if match is not None:
        serial = int(match.group(1))
        if MIN_EXCEL_SERIAL <= serial <= MAX_EXCEL_SERIAL:
            return _EXCEL_EPOCH + dt.timedelta(days=serial)
    return None


def _chinese_number(text: str) -> int:
    """1..99 written in Chinese numerals (三, 十二, 二十, 三十一); 0 when malformed."""
    if "十" not in text:
        return _CHINESE_DIGITS.get(text, 0) if len(text) == 1 else 0
    tens, _, units = text.partition("十")
    if len(tens) > 1 or len(units) > 1 or tens == "一":
        return 0
    return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[units] if units else 0)


def parse_dates(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any column of dates (strings, Excel serials, dates, timestamps) -> ``date32``.

    Null where the value is missing or cannot be read as a date; never raises on a value.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        return pc.cast(values, pa.date32())
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.date32())
    (dates,) = map_distinct(
        _strip_time(values), lambda s: (parse_date_text(s),), [pa.date32()], null_result=(None,)
    )
    return dates


def standardise_date(values: pa.Array) -> Standardised:
    """Standardiser ``"date"``: ISO string value, status ``ok`` / ``bad_date`` /
    ``implausible`` / ``missing``."""

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        values = pc.cast(pc.cast(values, pa.date32()), pa.string())
    value, status = map_distinct(
        _strip_time(values), _date_one, [pa.string(), pa.string()], null_result=(None, MISSING)
    )
    return Standardised(value=value, status=status)


def _date_one(text: str) -> tuple[str | None, str]:
    if not text.strip():
        return None, MISSING
    parsed = parse_date_text(text)
    if parsed is None:
        return None, BAD_DATE
    if not PLAUSIBLE_FROM <= parsed < PLAUSIBLE_UNTIL:
        return None, IMPLAUSIBLE
    return parsed.isoformat(), OK


_CLOCK = r"(?:[ T]+)\d{1,2}:\d{1,2}.*$"
#: the same pattern for one value (ASCII digits, as RE2's ``\d``)
_CLOCK_ONE = re.compile(_CLOCK, re.ASCII)


def _strip_time(values: pa.Array) -> pa.Array:
    """Cut a trailing time of day (vectorised) so distinct values are distinct days."""
    text = pc.utf8_trim_whitespace(as_string_array(values))
    return pc.replace_substring_regex(text, pattern=_CLOCK, replacement="")


def _strip_time_one(text: str) -> str:
    """:func:`_strip_time` of one value."""
    return _CLOCK_ONE.sub("", text.strip())


#: :func:`standardise_date` for one text value
DATE_ONE = OneValue(_date_one, (), (None, MISSING), _strip_time_one)
