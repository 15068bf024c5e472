"""What a disagreement is: a value read against its entity's reference value.

A department that wrote a value differing from the one its entity's golden record holds
did one of a few things, and the consistency account says which, so the department knows
what to correct:

``typo``                    identifiers, phones and dates: one character substituted, or two
                            neighbours swapped (13800138000 vs 13800183000)
``homophone_or_lookalike``  person names of one length differing in one character: one of
                            the same sound (伟/玮 wei) or of a similar shape (王/玉)
``abbreviation``            enterprise names: one name's characters all appear, in order, in
                            the other (腾讯计算机系统 of 深圳市腾讯计算机系统有限公司)

Anything else is left to the time-based kinds (``stale``, ``value_conflict``). Python runs
once per distinct (value, reference) pair of the disagreeing entities only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.groups import as_string

__all__ = ["ABBREVIATION", "NAME_VARIANT", "TYPO", "TYPO_FIELDS", "classifiable", "classify",
           "explained"]

TYPO = "typo"
NAME_VARIANT = "homophone_or_lookalike"
ABBREVIATION = "abbreviation"

#: Fields whose one-edit variants are typing errors (never a new value: a new phone number
#: or credit code is not one digit from the old one).
TYPO_FIELDS = frozenset({"id_number", "credit_code", "legal_rep_id", "phone", "birth_date",
                         "established_date", "customs_code", "reg_number", "employer_code"})
#: Fields holding a person's name, per entity type.
PERSON_NAME_FIELDS: Mapping[str, frozenset[str]] = {
    "person": frozenset({"name"}),
    "enterprise": frozenset({"legal_rep_name"}),
}
#: Fields holding an enterprise's name, per entity type.
ENTERPRISE_NAME_FIELDS: Mapping[str, frozenset[str]] = {
    "person": frozenset({"employer_name"}),
    "enterprise": frozenset({"name"}),
}


def classify(field: str, entity_type: str, value: str, reference: str) -> tuple[str, str] | None:
    """(kind, evidence) of ``value`` against ``reference``, or None when neither a typo, a
    name variant nor an abbreviation explains the difference. The evidence names positions
    and characters, never a whole identifier or phone number."""
    if value == reference:
        return None
    if field in TYPO_FIELDS:
        edit = one_edit(value, reference)
        return (TYPO, edit) if edit is not None else None
    if field in PERSON_NAME_FIELDS.get(entity_type, ()):
        variant = name_variant(value, reference)
        return (NAME_VARIANT, variant) if variant is not None else None
    if field in ENTERPRISE_NAME_FIELDS.get(entity_type, ()) and abbreviates(value, reference):
        short, full = sorted((value, reference), key=len)
        return (ABBREVIATION, f"{short} is an abbreviation of {full}")
    return None


def classifiable(field: str, entity_type: str) -> bool:
    """Whether :func:`classify` can explain anything in ``field`` (the others skip it)."""
    return (field in TYPO_FIELDS or field in PERSON_NAME_FIELDS.get(entity_type, ())
            or field in ENTERPRISE_NAME_FIELDS.get(entity_type, ()))


def one_edit(a: str, b: str) -> str | None:
    """How ``a`` is one typing error from ``b`` (1-based positions), or None."""
    if len(a) != len(b):
        return None
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        return f"one character differs (position {diff[0] + 1})"
    if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
            and a[diff[1]] == b[diff[0]]:
        return f"two neighbouring characters swapped (positions {diff[0] + 1}-{diff[1] + 1})"
    return None


def name_variant(a: str, b: str) -> str | None:
    """How name ``a`` differs from ``b`` by one character of the same sound or shape."""
    if len(a) != len(b) or len(a) < 2:
        return None
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) != 1:
        return None
    x, y = a[diff[0]], b[diff[0]]
    if not (_is_han(x) and _is_han(y)):
        return None
    px, py = _reading(x), _reading(y)
    if px == py or _near(px, py):
        return f"{x}/{y}: same sound ({px}/{py})"
    return f"{x}/{y}: one character of another sound (a look-alike or a slip)"


def abbreviates(a: str, b: str) -> bool:
    """One enterprise name's characters all appear, in order, in the other, and it keeps at
    least two of them and at most three quarters of the other's length."""
    short, full = sorted((a, b), key=len)
    if len(short) < 2 or len(short) > 0.75 * len(full):
        return False
    it = iter(full)
    return all(c in it for c in short)


def explained(field: str, entity_type: str, column: pa.ChunkedArray | pa.Array,
              value: np.ndarray, reference: np.ndarray,
              candidates: np.ndarray) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """For the rows in ``candidates`` (positions), whose value code differs from their
    entity's ``reference`` code (-1: none): which are explained, with kind and evidence.

    Returns a mask over ``candidates`` and the kind and evidence of each candidate. Python
    runs once per distinct (value, reference) pair."""
    m = len(candidates)
    mask = np.zeros(m, dtype=bool)
    kinds: list[str | None] = [None] * m
    evidence: list[str | None] = [None] * m
    v, r = value[candidates], reference[candidates]
    usable = (v >= 0) & (r >= 0) & (v != r)
    if not usable.any():
        return mask, kinds, evidence
    # ``value`` codes index this dictionary (both come from dictionary-encoding the column)
    words = pc.dictionary_encode(as_string(column)).dictionary
    width = int(max(v.max(), r.max())) + 1
    pair = np.where(usable, v * width + r, -1)
    uniq, inverse = np.unique(pair[usable], return_inverse=True)
    left = words.take(pa.array(uniq // width)).to_pylist()
    right = words.take(pa.array(uniq % width)).to_pylist()
    found = [classify(field, entity_type, a, b) for a, b in zip(left, right, strict=True)]
    hit = np.array([x is not None for x in found], dtype=bool)
    where = np.flatnonzero(usable)
    mask[where] = hit[inverse]
    for i, k in zip(where[mask[where]].tolist(), inverse[mask[where]].tolist(), strict=True):
        kinds[i], evidence[i] = found[k]
    return mask, kinds, evidence


@lru_cache(maxsize=1 << 14)
def _reading(ch: str) -> str:
    from pypinyin import lazy_pinyin

    reading = lazy_pinyin(ch)
    return reading[0].lower() if reading else ch


def _near(a: str, b: str) -> bool:
    """Near-homophones people confuse: front/back nasal (min/ming), flat/retroflex initials
    (z/zh, c/ch, s/sh), n/l and f/h."""
    def fold(s: str) -> str:
        for long, short in (("zh", "z"), ("ch", "c"), ("sh", "s")):
            if s.startswith(long):
                s = short + s[len(long):]
        if s.endswith("ng"):
            s = s[:-1]
        if s[:1] == "l":
            s = "n" + s[1:]
        if s[:1] == "f":
            s = "h" + s[1:]
        return s
    return fold(a) == fold(b)


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f" \
        or "\uf900" <= ch <= "\ufaff"
