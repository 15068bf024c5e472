"""Check characters of the Chinese identifier standards, scalar and vectorised.

Shared by the standardisers (which validate) and the synthetic generator (which issues
valid numbers). The algorithms are those of the standards, restated in DOMAIN.md:

- GB 11643-1999 citizen identity number: weights 2^(17-i) mod 11, ``"10X98765432"[S % 11]``.
- GB 32100-2015 unified social credit code: 31-character alphabet, weights 3^i mod 31,
  check value ``(31 - S % 31) % 31``.
- GB 11714-1997 organisation code: weights 3 7 9 10 5 8 4 2, ``c = 11 - S % 11``
  (10 -> ``X``, 11 -> ``0``).
- Legacy business registration number: ISO 7064 MOD 11,10.

The vectorised forms take a 2-D ``uint8`` array of character *values* (one row per code)
and return the check characters as a NumPy array of 1-character strings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = np.array(
    [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64
)

ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
#: Organisation-code body characters: digits and upper-case letters valued 10..35.
ORG_VALUE = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

UInt8Matrix = npt.NDArray[np.uint8]
StrArray = npt.NDArray[np.str_]


# --- citizen identity number -------------------------------------------------------------


def id_check_char(body: str) -> str:
    """Check character for the first 17 digits of an 18-character identity number."""
    if len(body) != 17 or not body.isdigit() or not body.isascii():
        raise ValueError("an identity-number body is 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def id_is_valid(number: str) -> bool:
    """True when ``number`` is 17 digits plus the right check character (upper-case X)."""
    if len(number) != 18 or not number[:17].isdigit() or not number.isascii():
        return False
    return id_check_char(number[:17]) == number[17]


def id_check_chars(bodies: UInt8Matrix) -> StrArray:
    """Vectorised :func:`id_check_char` over an (n, 17) matrix of digit values."""
    sums = bodies.astype(np.int64) @ ID_WEIGHTS
    table: StrArray = np.array(list(ID_CHECK))
    out: StrArray = table[sums % 11]
    return out


# --- unified social credit code ----------------------------------------------------------


def uscc_check_char(body: str) -> str:
    """Check character for the first 17 characters of a unified social credit code."""
    if len(body) != 17 or any(c not in USCC_VALUE for c in body):
        raise ValueError("a credit-code body is 17 characters of the 31-character alphabet")
    total = sum(USCC_VALUE[c] * int(w) for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_is_valid(code: str) -> bool:
    """True when the credit code's own check character is right (not the embedded org code)."""
    if len(code) != 18 or any(c not in USCC_VALUE for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def uscc_check_chars(bodies: UInt8Matrix) -> StrArray:
    """Vectorised :func:`uscc_check_char` over an (n, 17) matrix of alphabet values."""
    sums = bodies.astype(np.int64) @ USCC_WEIGHTS
    table: StrArray = np.array(list(USCC_ALPHABET))
    out: StrArray = table[(31 - sums % 31) % 31]
    return out


# --- organisation code --------------------------------------------------------------------


def org_check_char(body: str) -> str:
    """Check character for the 8-character body of an organisation code."""
    if len(body) != 8 or any(c not in ORG_VALUE for c in body):
        raise ValueError("an organisation-code body is 8 digits or upper-case letters")
    total = sum(ORG_VALUE[c] * int(w) for c, w in zip(body, ORG_WEIGHTS, strict=True))
    return _org_char(11 - total % 11)


def org_is_valid(code: str) -> bool:
    """True for a 9-character organisation code with the right check character."""
    if len(code) != 9 or any(c not in ORG_VALUE for c in code[:8]):
        return False
    return org_check_char(code[:8]) == code[8]


def org_check_chars(bodies: UInt8Matrix) -> StrArray:
    """Vectorised :func:`org_check_char` over an (n, 8) matrix of character values (0..35)."""
    c = 11 - (bodies.astype(np.int64) @ ORG_WEIGHTS) % 11
    table: StrArray = np.array([_org_char(v) for v in range(12)])
    out: StrArray = table[c]
    return out


def _org_char(c: int) -> str:
    if c == 10:
        return "X"
    if c == 11:
        return "0"
    return str(c)


# --- legacy business registration number (ISO 7064 MOD 11,10) ------------------------------


def regno_check_digit(body: str) -> str:
    """Check digit for the first 14 digits of a 15-digit business registration number."""
    if len(body) != 14 or not body.isdigit() or not body.isascii():
        raise ValueError("a registration-number body is 14 ASCII digits")
    p = 10
    for d in body:
        s = (p + int(d)) % 10
        s = 10 if s == 0 else s
        p = (2 * s) % 11
    return str((11 - p) % 10)


def regno_is_valid(number: str) -> bool:
    """True for a 15-digit registration number with the right MOD 11,10 check digit."""
    if len(number) != 15 or not number.isdigit() or not number.isascii():
        return False
    return regno_check_digit(number[:14]) == number[14]


def regno_check_digits(bodies: UInt8Matrix) -> StrArray:
    """Vectorised :func:`regno_check_digit` over an (n, 14) matrix of digit values."""
    p = np.full(bodies.shape[0], 10, dtype=np.int64)
    for j in range(bodies.shape[1]):
        s = (p + bodies[:, j]) % 10
        s = np.where(s == 0, 10, s)
        p = (2 * s) % 11
    table: StrArray = np.array(list("0123456789"))
    out: StrArray = table[(11 - p) % 10]
    return out
