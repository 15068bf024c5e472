"""Equivalent spellings of one value, for survivorship and the consistency report.

Departments write one value in several ways that standardisation cannot undo alone,
because the other spelling is only known within the entity: an address without its
province (``江北区公园路76号`` of ``重庆市江北区公园路76号``), a name with ``?`` or pinyin for a
character the system could not store, a minority name without its ``·``, a phone with one
mistyped digit. Each fold gives such a row the code of the value it stands for; Python runs
only over the few entities that hold such a row.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.groups import as_bools, as_string, distinct_per_group

__all__ = ["SEPARATOR", "WILDCARDS", "complete_division", "fold_separators", "fold_tails",
           "fold_typos", "originality", "originality_of", "substitutes"]


def fold_separators(column: pa.ChunkedArray | pa.Array, value: np.ndarray,
                    ent: np.ndarray) -> np.ndarray:
    """Codes with each undotted value folded into the dotted one of its entity it spells
    (Python only over the entities holding a dotted value)."""
    present = value >= 0
    dotted = present & np.asarray(pc.fill_null(pc.match_substring(
        as_string(column), SEPARATOR), False).to_numpy(zero_copy_only=False), dtype=bool)
    if not dotted.any():
        return value
    soft = present & ~dotted & np.isin(ent, ent[dotted])
    if not soft.any():
        return value
    return fold_tails(column, value, ent, dotted, soft, separator=True)


def fold_typos(column: pa.ChunkedArray | pa.Array, value: np.ndarray,
               ent: np.ndarray) -> np.ndarray:
    """Codes with each value one substitution away from exactly one value that more records
    of its entity hold folded into it (Python only over entities with several values)."""

    present = value >= 0
    if not present.any():
        return value
    n_ent = int(ent.max()) + 1
    several = present & (distinct_per_group(ent[present], value[present], n_ent) >= 2)[ent]
    rows = np.flatnonzero(several)
    if not len(rows):
        return value
    text = as_string(column).take(pa.array(rows)).to_pylist()
    values: dict[int, dict[int, tuple[str, int]]] = {}
    for row, t in zip(rows.tolist(), text, strict=True):
        per = values.setdefault(int(ent[row]), {})
        code = int(value[row])
        per[code] = (t, per.get(code, (t, 0))[1] + 1)
    out = value.copy()
    for row, t in zip(rows.tolist(), text, strict=True):
        per = values[int(ent[row])]
        mine = per[int(value[row])][1]
        near = [code for code, (u, count) in per.items() if count > mine and _one_off(t, u)]
        if len(near) == 1:
            out[row] = near[0]
    return out


def _one_off(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def originality(text: str) -> int:
    """0: holds a character outside GB 2312 (kept by a system that could store it);
    2: Han characters mixed with Latin letters or ``?`` (a substitute); 1: otherwise."""
    han = any("\u3400" <= c <= "\u9fff" or c >= "\U00020000" for c in text)
    if han and any(c in WILDCARDS or (c.isascii() and c.isalpha()) for c in text):
        return 2
    for c in text:
        if c.isascii() or c in "·":
            continue
        try:
            c.encode("gb2312")
        except UnicodeEncodeError:
            return 0
    return 1


def originality_of(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """:func:`originality` of every value (null: 1), three regular-expression passes over
    the column instead of a Python loop over its characters."""
    text = as_string(values)
    han = _matches(text, r"[\x{3400}-\x{9fff}\x{20000}-\x{10ffff}]")
    mixed = _matches(text, "[A-Za-z" + "".join("\\" + c for c in sorted(WILDCARDS)) + "]")
    outside = _matches(text, _outside_gb2312_class())
    out = np.ones(len(text), dtype=np.int64)
    out[outside] = 0
    out[han & mixed] = 2
    return out


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    return as_bools(pc.fill_null(pc.match_substring_regex(text, pattern), False))


@lru_cache(maxsize=1)
def _outside_gb2312_class() -> str:
    """A character class of every character :func:`originality` counts as outside GB 2312
    (not ASCII, not ``·``, not encodable in GB 2312: a BMP codec)."""
    inside = [c for c in range(0x80, 0x10000) if _encodes(chr(c))]
    inside.append(ord("·"))
    ranges: list[tuple[int, int]] = []
    for c in sorted(set(inside)):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    spans = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                    for a, b in ranges)
    return f"[^\\x{{0}}-\\x{{7f}}{spans}]"


def _encodes(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def originality_among(column: pa.Array | pa.ChunkedArray, ent: np.ndarray) -> np.ndarray:
    """Per row, the ``original`` rule's key (0 best): :func:`originality`, except that a
    spelling with a character outside GB 2312 ranks first only when another record of its
    entity (``ent``: entity code per row) holds a substitute of it (``邵勇月``, ``邵勇yue``
    or ``邵勇?`` beside ``邵勇玥``); a rare-character name nobody wrote a substitute of is
    another name, not a better spelling, and ranks as a plain one (``孙赟`` does not beat
    ``孙玲磊`` by its rare character). Python per entity holding a rare spelling."""
    values = as_string(column)
    encoded = pc.dictionary_encode(values)
    words = encoded.dictionary.to_pylist()
    table = np.append(originality_of(encoded.dictionary), 1).astype(np.int64)
    idx = np.asarray(pc.fill_null(encoded.indices, len(words)).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    key = table[idx]
    rare = np.flatnonzero(key == 0)
    if not len(rare):
        return key
    wanted = np.isin(ent, np.unique(ent[rare]))
    held: dict[int, set[int]] = {}
    for e, v in zip(ent[wanted].tolist(), idx[wanted].tolist(), strict=True):
        if v < len(words):
            held.setdefault(e, set()).add(v)
    for row in rare.tolist():
        original = words[idx[row]]
        if not any(_is_substitute(words[v], original) for v in held.get(int(ent[row]), ())):
            key[row] = 1
    return key


def substitutes(written: pa.Array | pa.ChunkedArray,
                original: pa.Array | pa.ChunkedArray) -> pa.BooleanArray:
    """Per row: ``written`` is what a system that cannot store a rare character makes of
    ``original`` (``刘芬?``, ``邵勇yue`` or ``邵勇月`` for ``邵勇玥``), so ``original`` is
    the better spelling of the same name. Python per distinct pair of differing values.

    For a caller holding a second opinion on a name (an enterprise's legal representative
    resolved by ID to a person whose registry name keeps the rare character)."""
    left, right = as_string(written), as_string(original)
    pairs = pa.table({"w": left, "o": right})
    differ = pc.fill_null(pc.not_equal(left, right), False)
    distinct = pairs.filter(differ).group_by(["w", "o"]).aggregate([])
    hits = [(w, o) for w, o in zip(distinct["w"].to_pylist(), distinct["o"].to_pylist(),
                                   strict=True) if _is_substitute(w, o)]
    if not hits:
        return pa.array(np.zeros(len(left), dtype=bool))
    keys = pc.binary_join_element_wise(left, right, "\x00")
    found = pa.array([f"{w}\x00{o}" for w, o in hits], pa.string())
    return pc.fill_null(pc.is_in(keys, value_set=found), False)


def _is_substitute(written: str, original: str) -> bool:
    """Position by position (a pinyin run standing for one character), ``written`` equals
    ``original`` except where ``original`` holds a character outside GB 2312."""
    if written == original:
        return False
    tokens = re.findall(r"[A-Za-z]+|.", written)
    if len(tokens) != len(original):
        return False
    return all(t == c or _outside_gb2312(c) for t, c in zip(tokens, original, strict=True))


def _outside_gb2312(char: str) -> bool:
    if char.isascii():
        return False
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return True
    return False


def fold_tails(column: pa.ChunkedArray | pa.Array, value: np.ndarray, ent: np.ndarray,
               valid: np.ndarray, soft: np.ndarray, *, wildcard: bool = False,
               separator: bool = False) -> np.ndarray:
    """Give a soft value that ends a valid value of its entity that value's code.

    A department that dropped the province and city (``江北区公园路76号``, status
    ``ambiguous``) wrote the same address as one that kept them: both count as one value
    (when exactly one value of the entity ends so: the fold never depends on row order).
    With ``wildcard``, a soft value instead matches a valid value of the same length whose
    other characters agree, ``?`` standing for any one character (``刘芬?``, a system that
    could not store ``珺``, is ``刘芬珺``); it folds only when exactly one value matches.
    With ``separator``, a soft value matches a valid value that equals it once its ``·``
    are removed (``伊力哈木热合曼`` is ``伊力哈木·热合曼`` without its separator).

    Python runs only over the soft values that could fold at all (a few percent): with
    ``wildcard`` those holding a wildcard, else those shorter than some valid value of
    their entity (a tail, or a value without its separators, is shorter than the value)."""
    text = as_string(column)
    soft_rows = _could_fold(text, ent, valid, np.flatnonzero(soft), wildcard=wildcard)
    if not len(soft_rows):
        return value
    near = np.flatnonzero(valid & np.isin(ent, ent[soft_rows]))
    if not len(near):
        return value
    by_entity: dict[int, list[tuple[str, int]]] = {}
    for row, t in zip(near.tolist(), text.take(pa.array(near)).to_pylist(), strict=True):
        by_entity.setdefault(int(ent[row]), []).append((t, int(value[row])))
    folded = value.copy()
    for row, t in zip(soft_rows.tolist(), text.take(pa.array(soft_rows)).to_pylist(),
                      strict=True):
        candidates = by_entity.get(int(ent[row]), [])
        if wildcard or separator:
            fits = _fits if wildcard else _undotted
            codes = sorted({code for full, code in candidates if fits(t, full)})
            if len(codes) == 1:
                folded[row] = codes[0]
            continue
        tails = {code for full, code in candidates if full != t and full.endswith(t)}
        if len(tails) == 1:  # two addresses it could end (朝阳区 twice) stay ambiguous
            folded[row] = tails.pop()
    return folded


def _could_fold(text: pa.Array, ent: np.ndarray, valid: np.ndarray, soft_rows: np.ndarray,
                *, wildcard: bool) -> np.ndarray:
    """The soft rows :func:`fold_tails` could fold (the others never match a candidate):
    with ``wildcard``, a value holding a wildcard (without one, a value of the same length
    whose characters all agree is the value itself); else a value shorter than the longest
    valid value of its entity (a proper tail, or a value without its separators, is
    shorter than the value it stands for)."""
    if not len(soft_rows):
        return soft_rows
    mine = text.take(pa.array(soft_rows))
    if wildcard:
        hit = np.zeros(len(soft_rows), dtype=bool)
        for char in sorted(WILDCARDS):
            hit |= as_bools(pc.fill_null(pc.match_substring(mine, char), False))
        return soft_rows[hit]
    near = np.flatnonzero(valid)
    if not len(near):
        return soft_rows[:0]
    length = np.asarray(pc.fill_null(pc.utf8_length(text.take(pa.array(near))), -1)
                        .to_numpy(zero_copy_only=False), dtype=np.int64)
    longest = np.full(int(max(ent.max(), 0)) + 1, -1, dtype=np.int64)
    np.maximum.at(longest, ent[near], length)
    own = np.asarray(pc.fill_null(pc.utf8_length(mine), -1).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    kept: np.ndarray = soft_rows[own < longest[ent[soft_rows]]]
    return kept


WILDCARDS = frozenset("?")
SEPARATOR = "·"


def _undotted(text: str, full: str) -> bool:
    """``text`` is ``full`` written without its name separators."""
    return SEPARATOR in full and SEPARATOR not in text and full.replace(SEPARATOR, "") == text


def _fits(pattern: str, text: str) -> bool:
    """``pattern`` with ``?`` for unknown characters could be ``text``."""
    return (pattern != text and len(pattern) == len(text)
            and all(p == t or p in WILDCARDS for p, t in zip(pattern, text, strict=True)))


def complete_division(text: str, code: str) -> str | None:
    """``text`` with the province and city of division ``code`` in front, when ``text``
    starts with that county's name (``通州区红旗路144号`` + 110112 -> ``北京市通州区...``);
    None when the code is not a current county or the text names another place.

    The registering authority's division in a credit code places an address a department
    wrote without province and city (``通州区`` exists in Beijing and Nantong)."""
    from linkage.standardisers.divisions import PSEUDO_CITY_NAMES, load_divisions

    table = load_divisions()
    county = table.divisions.get(code)
    if county is None or not text.startswith(county.name) or county.level < 3:
        return None
    province = table.divisions.get(county.province)
    city = table.divisions.get(county.city) if county.city else None
    head = province.name if province is not None else ""
    if city is not None and city.name not in PSEUDO_CITY_NAMES and city.name != head:
        head += city.name
    return head + text if head else None
