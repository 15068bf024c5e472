"""General text, addresses and numbers, for data that is not Chinese.

Whole-column Arrow passes (no per-row Python): NFKD and combining marks removed (accents:
``Müller`` -> ``muller``), the letters NFKD leaves alone spelled out (``ø`` ``ł`` ``æ``
``œ`` ``ß`` ``đ`` ``þ``), lower case, punctuation and symbols as spaces, white space
folded to one space and trimmed.

Standardisers:

``"text_folded"``
    Value: the folded text. Statuses ``ok``, ``missing`` (null, blank, or nothing left
    after folding: ``"--"``). No derived columns.
``"address_general"``
    Value: the folded text with common street words abbreviated one way (``street`` ->
    ``st``, ``avenue`` -> ``ave``, ``north`` -> ``n``, ...: see :data:`STREET_WORDS`).
    Derived ``numbers`` (every run of digits, in order, space-separated: house number,
    suite, postcode; null when none) and ``words`` (the value without its numbers).
    Statuses ``ok``, ``missing``.
``"number"``
    Value: the number as a plain decimal (``"1,200.50"`` -> ``"1200.5"``, ``"$ 3"`` ->
    ``"3"``). Statuses ``ok``, ``not_a_number``, ``missing``.
"""

from __future__ import annotations

import math
import re

import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.base import MISSING, OK, Standardised, as_string_array, map_distinct

NOT_A_NUMBER = "not_a_number"

#: letters that NFKD does not decompose, written in plain Latin letters
SPELLED_OUT = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "œ": "oe",
               "Œ": "OE", "ß": "ss", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ı": "i"}

#: street words and their one abbreviation (after folding, as whole words)
STREET_WORDS = {
    "street": "st", "str": "st", "road": "rd", "avenue": "ave", "av": "ave",
    "boulevard": "blvd", "drive": "dr", "lane": "ln", "court": "ct", "place": "pl",
    "square": "sq", "terrace": "tce", "highway": "hwy", "parkway": "pkwy",
    "crescent": "cres", "close": "cl", "suite": "ste", "apartment": "apt",
    "building": "bldg", "floor": "fl", "north": "n", "south": "s", "east": "e",
    "west": "w", "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "saint": "st", "mount": "mt", "number": "no",
}

_STREET_PATTERN = r"\b(" + "|".join(sorted(STREET_WORDS, key=len, reverse=True)) + r")\b"


def fold_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Accents off, lower case, punctuation and symbols as spaces, white space folded;
    blank results are null. Arrow compute over the whole column."""
    text = as_string_array(values)
    text = pc.utf8_normalize(text, form="NFKD")
    text = pc.replace_substring_regex(text, r"\p{Mn}+", "")
    for letter, plain in SPELLED_OUT.items():
        text = pc.replace_substring(text, letter, plain)
    text = pc.utf8_lower(text)
    # an apostrophe joins (o'brien -> obrien), every other mark separates
    text = pc.replace_substring_regex(text, r"['’`]", "")
    text = pc.replace_substring_regex(text, r"[\p{P}\p{S}\s]+", " ")
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def present_status(value: pa.Array) -> pa.Array:
    """``ok`` where a value is left, ``missing`` where it is null."""
    return pc.if_else(pc.is_valid(value), pa.scalar(OK), pa.scalar(MISSING))


def standardise_text_folded(values: pa.Array) -> Standardised:
    """Free text compared without case, accents and punctuation."""
    value = fold_text(values)
    return Standardised(value=value, status=present_status(value))


def standardise_general_address(values: pa.Array) -> Standardised:
    """A postal address in any Latin-script country: folded, street words abbreviated one
    way, with its numbers and its words as derived columns."""
    folded = fold_text(values)
    value = _abbreviate(folded)
    numbers = pc.utf8_trim_whitespace(pc.replace_substring_regex(value, r"[^0-9]+", " "))
    words = pc.utf8_trim_whitespace(pc.replace_substring_regex(
        pc.replace_substring_regex(value, r"\b[0-9]+[a-z]?\b", " "), r"\s+", " "))
    blank = pa.scalar(None, pa.string())
    numbers = pc.if_else(pc.equal(numbers, ""), blank, numbers)
    words = pc.if_else(pc.equal(words, ""), blank, words)
    return Standardised(value=value, status=present_status(value),
                        derived={"numbers": numbers, "words": words})


def _abbreviate(folded: pa.Array) -> pa.Array:
    """Each street word of :data:`STREET_WORDS` replaced by its abbreviation: the distinct
    words found are looked up once (an Arrow regex cannot map a match to its own
    replacement)."""
    if len(folded) == 0:
        return folded

    def one(text: str) -> tuple[str]:
        return (re.sub(_STREET_PATTERN, lambda m: STREET_WORDS[m.group(1)], text),)

    has_word = pc.fill_null(pc.match_substring_regex(folded, _STREET_PATTERN), False)
    if not pc.any(has_word).as_py():
        return folded
    (abbreviated,) = map_distinct(pc.if_else(has_word, folded, pa.scalar(None, pa.string())),
                                  one, [pa.string()], null_result=(None,))
    return pc.if_else(has_word, abbreviated, folded)


def standardise_number(values: pa.Array) -> Standardised:
    """A quantity (price, count, year, amount) as a plain decimal."""

    def one(text: str) -> tuple[str | None, str]:
        cleaned = re.sub(r"[\s,_$€£¥]", "", text)
        if not cleaned:
            return None, MISSING
        try:
            number = float(cleaned)
        except ValueError:
            return None, NOT_A_NUMBER
        if not math.isfinite(number):
            return None, NOT_A_NUMBER
        shown = repr(number)
        return (shown[:-2] if shown.endswith(".0") else shown), OK

    value, status = map_distinct(values, one, [pa.string(), pa.string()],
                                 null_result=(None, MISSING))
    return Standardised(value=value, status=status)
