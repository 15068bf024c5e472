"""Dates in a format the pipeline file declares (``"date:%d/%m/%Y"``).

The ``"date"`` standardiser reads the forms Chinese departments write and refuses
day-first or month-first orders as guesses. A source whose order is known declares it:
``"date:%d/%m/%Y"`` (British), ``"date:%m/%d/%Y"`` (American), ``"date:%d.%m.%Y"``,
``"date:%Y%m%d"``, ``"date:%d %b %Y"`` (``3 Feb 1985``; month names in English), any
``strptime`` format. Surrounding white space is ignored; anything else that does not
fit the format is a bad date, never a guess.

Value: ISO ``YYYY-MM-DD``. Statuses ``ok``, ``bad_date`` (does not fit the format, or
is no calendar date: 30/02/1985), ``missing``. Derived: ``year`` (the four-digit year).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from linkage.standardisers.base import MISSING, OK, Standardised, Standardiser, map_distinct

BAD_DATE = "bad_date"
_YEARS = ("%Y", "%y")


def declared_date(fmt: str) -> Standardiser:
    """The standardiser for dates written as ``fmt`` (``strptime`` directives)."""
    if not any(y in fmt for y in _YEARS):
        raise ValueError(f"date format {fmt!r} has no year (%Y or %y)")
    try:
        dt.datetime.strptime(dt.date(2001, 2, 3).strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"date format {fmt!r} does not read back what it writes ({exc})") \
            from None

    def one(text: str) -> tuple[str | None, str, str | None]:
        cleaned = text.strip()
        if not cleaned:
            return None, MISSING, None
        try:
            day = dt.datetime.strptime(cleaned, fmt).date()
        except ValueError:
            return None, BAD_DATE, None
        return day.isoformat(), OK, f"{day.year:04d}"

    def standardise_declared_date(values: pa.Array) -> Standardised:
        value, status, year = map_distinct(values, one, [pa.string()] * 3,
                                           null_result=(None, MISSING, None))
        return Standardised(value=value, status=status, derived={"year": year})

    standardise_declared_date.__doc__ = f"Dates written as {fmt!r}."
    return standardise_declared_date
