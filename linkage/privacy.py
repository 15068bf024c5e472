"""Masking of personal values before they reach a log line, an error message or a report.

Masking goes by content as well as by field name: a department may call its ID column
``sfzh`` or ``mobile``, use ID numbers as its record keys, or type a phone into an address.
:func:`mask_personal` finds every ID number (18 characters, or the old 15 digits, with a
plausible birth date inside) and every mainland mobile number in any text, whatever the
field it came from; whatever is displayed passes through it. :func:`console_safe` also
escapes control characters, so a value cannot drive the terminal it is printed on.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9Xx*]{6,}")

# Birth date inside an ID number: YYYYMMDD (18 characters) or YYMMDD (15 digits).
_DATE8 = r"(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_DATE6 = r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_SEP = r"[ \-]?"
#: an ID number or a mobile number not embedded in a longer run of digits (an account
#: number); letters may touch it ("sfzh11010..."); mobile numbers may carry +86 and
#: separators
_PERSONAL = re.compile(
    r"(?<![0-9])(?:"
    rf"[1-9][0-9]{{5}}{_DATE8}[0-9]{{3}}[0-9Xx]"  # 18-character ID number
    rf"|[1-9][0-9]{{5}}{_DATE6}[0-9]{{3}}"  # 15-digit ID number (before 1999)
    rf"|(?:(?:\+|00)?86{_SEP})?1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}"  # mobile
    r")(?![0-9])"
)
#: C0 and C1 control characters except tab and newline, DEL, and the Unicode direction
#: overrides that can make text read differently from what it is
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def mask(value: object) -> str:
    """Mask an identifier-like value, keeping only its first 3 and last 2 characters.

    ``mask("11010519491231002X") == "110*************2X"``. Short values are masked whole,
    so nothing of a phone or ID number survives beyond what is needed to tell values apart.
    """
    text = "" if value is None else str(value)
    if len(text) <= 6:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 5) + text[-2:]


def mask_digits_in(text: str) -> str:
    """Mask every run of six or more digits inside free text (for messages quoting a row)."""
    return _DIGITS.sub(lambda m: mask(m.group(0)), text)


def mask_personal(text: str) -> str:
    """Mask every ID number and mobile number found in ``text`` by its content.

    Unlike :func:`mask_digits_in` it leaves counts, dates and codes alone, so it can run over
    any displayed text: report cells, summaries, messages.
    """
    if not text:
        return text
    return _PERSONAL.sub(lambda m: mask(m.group(0)), text)


def escape_controls(text: str) -> str:
    """Control characters (escape codes, carriage returns, direction overrides) as visible
    ``\\x1b``-style escapes; tab and newline are kept."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def console_safe(text: str) -> str:
    """Text fit to print on a terminal: personal numbers masked, control characters escaped."""
    return escape_controls(mask_personal(text))
