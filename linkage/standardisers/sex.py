"""Sex as departments code it.

Standardiser ``"sex"``. Value ``M`` / ``F`` from 男 / 女 / 男性 / 女性 / M / F / male /
female / 1 / 2 (GB/T 2261.1: 1 male, 2 female). Statuses ``ok``, ``unknown`` (0 / 9 /
未知 / 未说明: the code table's own "not known"), ``invalid``, ``missing``.
"""

from __future__ import annotations

import unicodedata

import pyarrow as pa

from linkage.standardisers.base import MISSING, OK, OneValue, Standardised, map_distinct

UNKNOWN = "unknown"
INVALID = "invalid"

_CODES = {
    "男": "M", "男性": "M", "M": "M", "MALE": "M", "1": "M", "男士": "M",
    "女": "F", "女性": "F", "F": "F", "FEMALE": "F", "2": "F", "女士": "F",
}
_UNKNOWN = frozenset({"0", "9", "未知", "未说明", "未知的性别", "未说明的性别", "U", "UNKNOWN"})


def standardise_sex_text(text: str) -> tuple[str | None, str]:
    """One raw value -> (value, status)."""
    s = unicodedata.normalize("NFKC", text).strip().upper()
    if not s:
        return (None, MISSING)
    if s in _CODES:
        return (_CODES[s], OK)
    if s in _UNKNOWN:
        return (None, UNKNOWN)
    return (None, INVALID)


def standardise_sex(values: pa.Array) -> Standardised:
    """Standardiser ``"sex"`` (see the module docstring)."""
    value, status = map_distinct(
        values, standardise_sex_text, [pa.string(), pa.string()], null_result=(None, MISSING)
    )
    return Standardised(value=value, status=status)


#: :func:`standardise_sex` for one value
SEX_ONE = OneValue(standardise_sex_text, (), (None, MISSING))
