"""Telephone numbers: mainland mobiles and landlines with area code.

Standardiser ``"phone"``. Value: a mobile as its 11 digits (``13812345678``), a landline as
``0<area>-<number>`` (``010-62345678``, ``0755-88889999``), a nationwide service number
of an enterprise as ``400-xxx-xxxx`` / ``800-xxx-xxxx``. Cleaning: NFKC (full-width
digits), ``+86`` / ``0086`` / ``86`` country prefixes, spaces, hyphens, dots and brackets
(``(010)``), an extension after ``转`` / ``ext`` / ``#`` (dropped: it is not part of the
line's identity).

Statuses: ``ok``, ``invalid`` (anything else, including a local number without its area
code: which city's line it is cannot be known), ``missing``. Derived: ``kind``
(``mobile`` / ``landline`` / ``service``, null when not ok).

Area codes: ``010`` and ``020``-``029`` have three digits, every other area code
(``03xx``-``09xx``) four; a local number has 7 or 8 digits and does not start with 0 or 1.
Mobiles written as 11 digits (most rows; perhaps after +86, perhaps with hyphens) are
recognised and cleaned by Arrow regexes over the column.
"""

from __future__ import annotations

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
    fast_or_distinct,
)

INVALID = "invalid"
MOBILE = "mobile"
LANDLINE = "landline"
SERVICE = "service"

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SERVICE = re.compile(r"^[48]00\d{7}$")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#).*$", re.IGNORECASE)
_COUNTRY = re.compile(r"^(?:\+|00)\s*86")
_NON_DIGIT = re.compile(r"\D")
#: a mobile written as its 11 digits, perhaps after +86 and with two hyphens (138-0013-8000):
#: what :func:`standardise_phone_text` makes of it is its digits
_FAST_PATTERN = r"^(?:\+86 ?)?1[3-9][0-9]-?[0-9]{4}-?[0-9]{4}$"
PhoneRow = tuple[str | None, str, str | None]
_NULL_ROW: PhoneRow = (None, MISSING, None)
_TYPES = [pa.string(), pa.string(), pa.string()]


def standardise_phone_text(text: str) -> PhoneRow:
    """One raw phone -> (value, status, kind)."""
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return _NULL_ROW
    s = _EXTENSION.sub("", s)
    international = _COUNTRY.match(s) is not None
    s = _COUNTRY.sub("", s)
    digits = _NON_DIGIT.sub("", s)
    if not international and len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # 86 written without + or 00
        international = True
    if _MOBILE.match(digits):
        return (digits, OK, MOBILE)
    if _SERVICE.match(digits):
        return (f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", OK, SERVICE)
    if international and not digits.startswith("0"):
        digits = "0" + digits  # +86 10 6234 5678: the trunk 0 is dropped after +86
    landline = _landline(digits)
    if landline is not None:
        return (landline, OK, LANDLINE)
    return (None, INVALID, None)


def _landline(digits: str) -> str | None:
    """``0<area><local>`` digits -> ``0<area>-<local>``, or None when not a landline."""
    if len(digits) < 10 or digits[0] != "0" or digits[1] == "0":
        return None
    if digits[1] == "1" and digits[2] != "0":  # 010 is the only 01x area code
        return None
    area_len = 3 if digits[1] in "12" else 4
    area, local = digits[:area_len], digits[area_len:]
    if not 7 <= len(local) <= 8 or local[0] in "01":
        return None
    return f"{area}-{local}"


def _fast_mobile(mobiles: pa.Array) -> list[pa.Array]:
    """Rows of :data:`_FAST_PATTERN`: value the 11 digits, ok, mobile."""
    m = len(mobiles)
    digits = pc.replace_substring_regex(mobiles, r"^\+86 ?|-", "")
    return [digits, pa.repeat(pa.scalar(OK, pa.string()), m),
            pa.repeat(pa.scalar(MOBILE, pa.string()), m)]


def standardise_phone(values: pa.Array) -> Standardised:
    """Standardiser ``"phone"`` (see the module docstring)."""
    text = pc.utf8_trim_whitespace(as_string_array(values))
    columns = fast_or_distinct(text, _FAST_PATTERN, _fast_mobile, standardise_phone_text,
                               _TYPES, null_result=_NULL_ROW)
    return Standardised(value=columns[0], status=columns[1], derived={"kind": columns[2]})


#: :func:`standardise_phone` for one value
PHONE_ONE = OneValue(standardise_phone_text, ("kind",), _NULL_ROW, str.strip)
