"""Personal names in Latin script (English, European, romanised), any order of parts.

Standardiser ``"latin_name"``. Value: the name folded as
:func:`linkage.standardisers.general.fold_text` does (``José O'Brien-Smith`` ->
``jose obrien smith``), titles and generational suffixes dropped (``Dr``, ``Mrs``,
``Jr``, ``III``: :data:`TITLES`). Words such as ``Na``, ``Nan`` and ``None`` are names
here (a Chinese surname, a given name), not missing values: the pipeline's null-word
list for this standardiser leaves them out (see :data:`NAME_VALUES`).

Statuses: ``ok``, ``no_letters`` (something was written but no letter: ``123``),
``missing``.

Derived:
    first    the first word (a given name, when written given-name first)
    last     the last word
    sorted   the words in alphabetical order: the same for ``smith john`` and
             ``john smith`` (a blocking key and comparison field insensitive to order)
    initials the first letters of the words, in order
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.base import MISSING, OK, Standardised, as_string_array, map_distinct
from linkage.standardisers.general import fold_text

NO_LETTERS = "no_letters"

#: words dropped from a name: titles, honorifics and generational suffixes
TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev",
                    "jr", "sr", "jnr", "snr", "ii", "iii", "iv"})
#: null words that are names in a name field (upper case, as NULL_WORDS holds them)
NAME_VALUES = frozenset({"NA", "NAN", "NONE"})

_TITLE_PATTERN = r"\b(" + "|".join(sorted(TITLES)) + r")\b"


def standardise_latin_name(values: pa.Array) -> Standardised:
    """Folded names, their first and last word, an order-free key and the initials."""
    raw = as_string_array(values)
    folded = fold_text(raw)
    without = pc.utf8_trim_whitespace(pc.replace_substring_regex(
        pc.replace_substring_regex(folded, _TITLE_PATTERN, " "), r"\s+", " "))
    # a name that is only a title ("Mr") keeps it rather than becoming blank
    value = pc.if_else(pc.fill_null(pc.equal(without, ""), False), folded, without)
    letters = pc.fill_null(pc.match_substring_regex(value, r"[a-z]"), False)
    blank = pa.scalar(None, pa.string())
    status = pc.if_else(pc.is_null(value),
                        pa.scalar(MISSING),
                        pc.if_else(letters, pa.scalar(OK), pa.scalar(NO_LETTERS)))
    value = pc.if_else(letters, value, blank)
    first = pc.replace_substring_regex(value, r" .*$", "")
    last = pc.replace_substring_regex(value, r"^.* ", "")

    def words(text: str) -> tuple[str, str]:
        parts = text.split(" ")
        return " ".join(sorted(parts)), "".join(p[0] for p in parts)

    sorted_words, initials = map_distinct(value, words, [pa.string(), pa.string()],
                                          null_result=(None, None))
    return Standardised(value=value, status=status,
                        derived={"first": first, "last": last, "sorted": sorted_words,
                                 "initials": initials})
