"""Masking of personal values before they reach a log line, an error message or a report."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9Xx*]{6,}")


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
