"""Enterprise identifiers: credit code, organisation code and legacy registration number.

Departments mix the three in one column (older copies predate the 2015 unified code), so
standardiser ``"credit_code"`` recognises each by shape and validates it by its own rule:

- unified social credit code (GB 32100-2015), 18 characters of the 31-character alphabet:
  its check character AND the check of the embedded organisation code (positions 9-17);
- organisation code (GB 11714-1997), 9 characters (``D2143569-X`` or ``D2143569X``);
- legacy business registration number, 15 digits, ISO 7064 MOD 11,10;
- tax registration number (税务登记号), 15 characters: the 6-digit division of the tax
  office + the 9-character organisation code, whose own check validates it
  (``440104715840724``). A 15-digit number that passes the registration-number check is
  read as one (the established reading); one that fails it but whose last nine characters
  are a valid organisation code is a tax registration number, and so is a 15-character code
  with letters in its organisation part (``44030668241207X``: its organisation code fails
  its check, status ``bad_org_check``, kept with its ``org_code`` like such a credit code).

Value: the normalised code (NFKC, spaces and hyphens removed, upper case); kept for
``bad_check`` / ``bad_org_check`` (a typo is still evidence), null for ``bad_length``,
``bad_chars`` and ``missing``.

Statuses: ``ok``, ``ok_tax_number`` (a valid tax registration number: usable, but an
old identifier the department should replace with the credit code), ``bad_check`` (the
code's own check character), ``bad_org_check`` (credit code whose embedded organisation
code fails its check), ``bad_length``, ``bad_chars``, ``missing``.

Derived: ``kind`` (``uscc`` / ``org_code`` / ``reg_number`` / ``tax_number``),
``org_code`` (9 characters, from a credit code, a tax registration number or the
organisation code itself: the key that links old records to new), ``authority`` and
``category`` (decoded registration authority and organisation category of a credit code),
``division`` (6-digit division code of a credit code or a tax registration number, or the
registering authority's code of a registration number).
"""

from __future__ import annotations

import unicodedata

import numpy as np
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
from linkage.standardisers.checksums import (
    ORG_VALUE,
    ORG_WEIGHTS,
    USCC_ALPHABET,
    USCC_VALUE,
    USCC_WEIGHTS,
    org_is_valid,
    regno_is_valid,
    uscc_is_valid,
)

BAD_CHECK = "bad_check"
BAD_ORG_CHECK = "bad_org_check"
BAD_LENGTH = "bad_length"
BAD_CHARS = "bad_chars"
OK_TAX_NUMBER = "ok_tax_number"

#: Registration authority (first character of a credit code), GB 32100-2015 and its
#: later assignments.
AUTHORITIES = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}

#: Organisation category (first two characters of a credit code).
CATEGORIES = {
    "11": "机关",
    "12": "事业单位",
    "13": "群众团体",
    "19": "其他",
    "51": "社会团体",
    "52": "民办非企业单位",
    "53": "基金会",
    "59": "其他",
    "91": "企业",
    "92": "个体工商户",
    "93": "农民专业合作社",
    "Y1": "其他",
}

_DERIVED_TYPES = {
    "kind": pa.string(),
    "org_code": pa.string(),
    "authority": pa.string(),
    "category": pa.string(),
    "division": pa.string(),
}
_TYPES = [pa.string(), pa.string(), *_DERIVED_TYPES.values()]
CodeRow = tuple[str | None, str, str | None, str | None, str | None, str | None, str | None]
_NULL_ROW: CodeRow = (None, MISSING, None, None, None, None, None)
_DROP = str.maketrans("", "", " \t\r\n-_—－.·/")
_FAST_PATTERN = "^[" + USCC_ALPHABET + "]{18}$"
_STATUS_NAMES = pa.array([OK, BAD_CHECK, BAD_ORG_CHECK])


def standardise_code_text(text: str) -> CodeRow:
    """One raw code -> (value, status, kind, org_code, authority, category, division)."""
    s = unicodedata.normalize("NFKC", text).translate(_DROP).upper()
    if not s:
        return _NULL_ROW
    if not s.isascii() or not s.isalnum():
        return (None, BAD_CHARS, None, None, None, None, None)
    if len(s) == 18:
        if any(c not in USCC_VALUE for c in s):
            return (None, BAD_CHARS, "uscc", None, None, None, None)
        org = s[8:17]
        status = OK
        if not uscc_is_valid(s):
            status = BAD_CHECK
        elif not org_is_valid(org):
            status = BAD_ORG_CHECK
        return (s, status, "uscc", org, AUTHORITIES.get(s[0]), CATEGORIES.get(s[:2]), s[2:8])
    if len(s) == 9:
        if any(c not in ORG_VALUE for c in s[:8]) or not (s[8].isdigit() or s[8] == "X"):
            return (None, BAD_CHARS, "org_code", None, None, None, None)
        status = OK if org_is_valid(s) else BAD_CHECK
        return (s, status, "org_code", s, None, None, None)
    if len(s) == 15:
        return _fifteen(s)
    return (None, BAD_LENGTH, None, None, None, None, None)


def tax_org_code(s: str) -> str | None:
    """The organisation code inside a 15-character tax registration number, or None when
    ``s`` is not one (wrong shape, a valid registration number, or a failed org check)."""
    if len(s) != 15 or not s[:6].isdigit() or not s.isascii():
        return None
    if s.isdigit() and regno_is_valid(s):
        return None
    org = s[6:]
    return org if org_is_valid(org) else None


def _fifteen(s: str) -> CodeRow:
    """A 15-character code: registration number (digits, MOD 11,10 check) or tax
    registration number (division + organisation code)."""
    if s.isdigit() and regno_is_valid(s):
        return (s, OK, "reg_number", None, None, None, s[:6])
    org = tax_org_code(s)
    if org is not None:
        return (s, OK_TAX_NUMBER, "tax_number", org, None, None, s[:6])
    if s.isdigit():
        return (s, BAD_CHECK, "reg_number", None, None, None, s[:6])
    if s[:6].isdigit() and all(c in ORG_VALUE for c in s[6:14]) and s[14] in "0123456789X":
        # letters say it is no registration number: a tax number whose organisation code
        # fails its check (kept, like a credit code with a bad embedded code)
        return (s, BAD_ORG_CHECK, "tax_number", s[6:], None, None, s[:6])
    return (None, BAD_CHARS, None, None, None, None, None)


def standardise_credit_code(values: pa.Array) -> Standardised:
    """Standardiser ``"credit_code"`` (see the module docstring)."""
    text = pc.utf8_trim_whitespace(as_string_array(values))
    columns = fast_or_distinct(text, _FAST_PATTERN, _fast_uscc, standardise_code_text, _TYPES,
                               null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_credit_code` for one value
CREDIT_CODE_ONE = OneValue(standardise_code_text, tuple(_DERIVED_TYPES), _NULL_ROW, str.strip)


_USCC_LUT = np.zeros(256, dtype=np.int64)
for _c, _v in USCC_VALUE.items():
    _USCC_LUT[ord(_c)] = _v
_ORG_LUT = np.zeros(256, dtype=np.int64)
for _c, _v in ORG_VALUE.items():
    _ORG_LUT[ord(_c)] = _v


def _fast_uscc(codes: pa.Array) -> list[pa.Array]:
    """Whole-column checks for codes already written in the credit-code alphabet."""
    mat = ascii_matrix(codes, 18)
    values = _USCC_LUT[mat]
    check_ok = (31 - (values[:, :17] @ USCC_WEIGHTS) % 31) % 31 == values[:, 17]
    org_c = 11 - (_ORG_LUT[mat[:, 8:16]] @ ORG_WEIGHTS) % 11
    org_expected = np.where(org_c == 10, ord("X"), np.where(org_c == 11, ord("0"), org_c + 48))
    org_ok = org_expected == mat[:, 16]
    code = np.where(~check_ok, 1, np.where(~org_ok, 2, 0)).astype(np.int8)
    m = len(codes)
    authority = _lookup(pc.utf8_slice_codeunits(codes, 0, 1), AUTHORITIES)
    category = _lookup(pc.utf8_slice_codeunits(codes, 0, 2), CATEGORIES)
    return [
        codes,
        _STATUS_NAMES.take(pa.array(code)),
        pa.repeat(pa.scalar("uscc", pa.string()), m),
        pc.utf8_slice_codeunits(codes, 8, 17),
        authority,
        category,
        pc.utf8_slice_codeunits(codes, 2, 8),
    ]


def _lookup(keys: pa.Array, table: dict[str, str]) -> pa.Array:
    index = pc.index_in(keys, value_set=pa.array(list(table)))
    return pa.array(list(table.values()), pa.string()).take(index)
