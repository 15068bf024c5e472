"""Person names, enterprise names and addresses: the domain signals behind each level.

All preprocessing runs once per distinct value; the per-pair work is rapidfuzz
``cpdist`` plus NumPy comparisons of per-value keys (integer codes), so the cost per pair
stays in C.

Person names (default thresholds 0.8, 0.9, 0.95):
  0.97 same name up to dots / part order (``买买提·艾力`` = ``艾力买买提``... when the parts
  swap) or a rare-character placeholder (``?``, ``□``) in the other's position;
  0.92 same pinyin (homophone) or same after folding look-alike characters;
  otherwise Jaro-Winkler on the characters, capped at 0.89.
Enterprise names (0.8, 0.9, 0.95): 0.97 same core, equivalent legal form and same
bracketed region; 0.9 same core but another legal form; branch vs non-branch or different
branches, and different bracketed regions, are capped at 0.6 (different legal entities);
otherwise Jaro-Winkler on the cores, capped at 0.89.
Addresses (0.7, 0.85, 0.95): 0.9 when one address ends with the other (a dropped province
/ city prefix); otherwise the Indel ratio of the two strings, capped at 0.89.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import Indel, JaroWinkler

from linkage.match.comparators.strings import (
    Cache,
    Codes,
    Derived,
    Values,
    as_arrow,
    as_list,
    cpdist_chunked,
    memo,
    strings_for,
)

_DOTS = re.compile(r"[·•・.．\s]+")
#: the same class for Arrow's RE2, whose ``\s`` is ASCII only: Python's Unicode whitespace
#: (every character whose ``str.isspace()`` holds) spelled out
_DOTS_ARROW = ("[·•・.．\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029"
               "\u202f\u205f\u3000]+")
_PLACEHOLDERS = frozenset("?？□")
#: Look-alike character groups (字形相近): each character folds to the group's first one.
_LOOKALIKE_GROUPS = (
    "己已巳", "戊戌戍", "未末", "土士", "日曰", "人入", "干千于", "王玉", "大太犬",
    "田由甲申", "刀力", "夭天", "免兔", "折拆", "侯候", "锡赐", "祟崇", "辨辩辫",
    "泊柏", "徽微", "晴睛", "即既", "贷货", "壁璧", "栗粟", "茶荼", "汩汨", "毫豪",
)
_LOOKALIKE = {c: g[0] for g in _LOOKALIKE_GROUPS for c in g}
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKE)

_LEGAL_FORMS = (
    ("股份有限公司", "joint_stock"), ("股份公司", "joint_stock"),
    ("有限责任公司", "limited"), ("有限公司", "limited"),
    ("集团公司", "group"), ("合伙企业", "partnership"), ("个人独资企业", "sole"),
    ("公司", "company"), ("厂", "factory"), ("店", "shop"), ("合作社", "cooperative"),
)
_BRANCH = re.compile(r"(分公司|分行|支行|营业部|办事处|分店|分厂)$")
_BRACKET = re.compile(r"[(（]([^()（）]*)[)）]")
_REGION_SUFFIX = ("省", "市", "区", "县", "自治区", "自治州", "盟", "旗")
#: an address's similarity to one in another county is at most this (below every level)
ELSEWHERE_CAP = 0.69
#: leading province and prefecture names of an address (at most two, each short)
_LEADING_DIVISIONS = re.compile(r"^(?:[^省市区县]{2,7}?(?:自治区|省|市)){1,2}")


def person_name_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """Person names: characters, pinyin homophones, look-alikes, part order, placeholders.
    Jaro-Winkler runs only on the pairs no key settles."""
    compact, pinyin, folded, same_key, parts, placeholder = memo(
        cache, "names", lambda: _prepare_person(uniques, derived or {}))
    homophone = (pinyin[a] == pinyin[b]) | (folded[a] == folded[b])
    same = (same_key[a] == same_key[b]) | (parts[a] == parts[b])
    if placeholder.any():
        marked = np.flatnonzero(placeholder[a] | placeholder[b])
        strings = strings_for(compact, a[marked], b[marked], cache, "name_strings")
        same[marked] |= _placeholder_equal(strings, placeholder, a[marked], b[marked])
    sims = np.empty(len(a), dtype=np.float32)
    rest = ~(homophone | same)
    ra, rb = a[rest], b[rest]
    sims[rest] = np.minimum(cpdist_chunked(JaroWinkler.normalized_similarity,
                                           strings_for(compact, ra, rb, cache, "name_strings"),
                                           ra, rb), np.float32(0.89))
    sims[homophone] = 0.92
    sims[same] = 0.97
    return sims


def _prepare_person(uniques: Values, given: Derived) -> tuple[
    pa.Array, Codes, Codes, Codes, Codes, npt.NDArray[np.bool_]
]:
    """Per value: compact form (Arrow), pinyin / look-alike / exact / part-order codes, and
    whether it holds a rare-character placeholder."""
    if len(uniques) <= _FEW:
        return _prepare_few_persons(as_list(uniques), given)
    values = as_arrow(uniques)
    compact = pc.replace_substring_regex(values, _DOTS_ARROW, "")
    parts_src = given.get("parts_sorted")
    parts = _codes([".".join(sorted(p for p in _DOTS.split(v) if p)) for v in as_list(uniques)]
                   if parts_src is None else _or_else(parts_src, values))
    pinyin_src = given.get("pinyin")
    pinyin = _codes([_pinyin(v) for v in compact.to_pylist()] if pinyin_src is None else
                    _or_else(pinyin_src, compact))
    same_key = _codes(compact)
    return (compact, pinyin, _folded_codes(compact, same_key), same_key, parts,
            _has_placeholder(compact))


#: up to this many values, names are prepared in plain Python (a resolver's handful of
#: candidates: twenty Arrow calls on a tiny array cost more than the strings)
_FEW = 32


def _prepare_few_persons(values: list[str], given: Derived) -> tuple[
    list[str], Codes, Codes, Codes, Codes, npt.NDArray[np.bool_]
]:
    """:func:`_prepare_person` of a few values, the same keys without Arrow."""
    compact = [_DOTS.sub("", v) for v in values]

    def or_else(src: Sequence[str | None] | pa.Array, fallback: list[str]) -> list[str]:
        return [g if g is not None and g != "" else f
                for g, f in zip(as_list(src), fallback, strict=True)]

    parts_src, pinyin_src = given.get("parts_sorted"), given.get("pinyin")
    parts = _small_codes([".".join(sorted(p for p in _DOTS.split(v) if p)) for v in values]
                         if parts_src is None else or_else(parts_src, values))
    pinyin = _small_codes([_pinyin(v) for v in compact] if pinyin_src is None else
                          or_else(pinyin_src, compact))
    same_key = _small_codes(compact)
    folded = same_key.copy()
    hits = [i for i, v in enumerate(compact) if any(c in _LOOKALIKE for c in v)]
    if hits:
        folded[hits] = _small_codes([compact[i].translate(_LOOKALIKE_TABLE) for i in hits]) \
            + len(values)
    placeholder = np.array([any(c in _PLACEHOLDERS for c in v) for v in compact], dtype=bool)
    return compact, pinyin, folded, same_key, parts, placeholder


def _small_codes(keys: Sequence[str]) -> Codes:
    """:func:`_codes` in plain Python (first-seen order, as Arrow's encoding numbers)."""
    seen: dict[str, int] = {}
    return np.array([seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)


def enterprise_name_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None,
) -> npt.NDArray[np.float32]:
    """Enterprise names split into core, legal form, bracketed region and branch."""
    cores, core, form, region, branch = memo(
        cache, "enterprises", lambda: _prepare_enterprise(uniques))
    sims = cpdist_chunked(JaroWinkler.normalized_similarity, cores, a, b)
    np.minimum(sims, np.float32(0.89), out=sims)
    same_core = core[a] == core[b]
    sims[same_core] = np.where(form[a][same_core] == form[b][same_core], 0.97, 0.9)
    different_entity = (branch[a] != branch[b]) | (region[a] != region[b])
    sims[different_entity] = np.minimum(sims[different_entity], np.float32(0.6))
    return sims


def _prepare_enterprise(uniques: Values) -> tuple[
    npt.NDArray[np.object_], Codes, Codes, Codes, Codes
]:
    parsed = [_split_enterprise(v) for v in as_list(uniques)]
    cores = [p[0] for p in parsed]
    return (np.asarray(cores, dtype=object), _codes(cores), _codes([p[1] for p in parsed]),
            _codes([p[2] for p in parsed]), _codes([p[3] for p in parsed]))


def address_similarity(
    uniques: Values, a: Codes, b: Codes, derived: Derived | None = None,
    cache: Cache | None = None, *, floor: float | None = None,
) -> npt.NDArray[np.float32]:
    """Addresses: division first, then detail. With the standardiser's ``county_code``,
    two different counties cap the similarity below the first level (``朝阳区`` of Beijing
    is not ``朝阳区`` of Changchun) and the same county with the same ``detail`` is 0.97.
    Otherwise: equal once leading province / city names are dropped (departments omit
    them) is 0.9, else the Indel ratio of the full strings (at most 0.89).

    The text is prepared and scored only where the result depends on it: not for the
    same place, nor for two counties when the caller's ``floor`` is above the 0.69 cap
    (those get 0.69)."""
    given = derived or {}
    county, detail = memo(cache, "address_divisions", lambda: (
        _nullable_codes(given.get("county_code")), _nullable_codes(given.get("detail"))))
    score = np.ones(len(a), dtype=bool)
    elsewhere = same_place = None
    if county is not None:
        known = (county[a] >= 0) & (county[b] >= 0)
        elsewhere = known & (county[a] != county[b])
        if floor is not None and floor > ELSEWHERE_CAP:
            score &= ~elsewhere
        if detail is not None:
            same_place = known & ~elsewhere & (detail[a] >= 0) & (detail[a] == detail[b])
            score &= ~same_place
    sims = np.full(len(a), np.float32(ELSEWHERE_CAP))
    sa, sb = a[score], b[score]
    if cache is not None:
        compact, core, lengths = memo(cache, "addresses",
                                      lambda: _prepare_address(as_arrow(uniques)))
    else:  # only the values the scored pairs use
        used = np.zeros(len(uniques), dtype=bool)
        used[sa] = True
        used[sb] = True
        remap = np.cumsum(used, dtype=np.int64) - 1
        sa, sb = remap[sa], remap[sb]
        values = as_arrow(uniques)
        compact, core, lengths = _prepare_address(
            values if used.all() else values.take(pa.array(np.flatnonzero(used))))
    text = np.minimum(cpdist_chunked(Indel.normalized_similarity,
                                     strings_for(compact, sa, sb, cache, "address_strings"),
                                     sa, sb), np.float32(0.89))
    same_core = (core[sa] == core[sb]) & (np.minimum(lengths[sa], lengths[sb]) >= 4)
    text[same_core] = np.maximum(text[same_core], np.float32(0.9))
    sims[score] = text
    if elsewhere is not None:
        sims[elsewhere] = np.minimum(sims[elsewhere], np.float32(ELSEWHERE_CAP))
    if same_place is not None:
        sims[same_place] = 0.97
    return sims


def _prepare_address(values: pa.Array) -> tuple[pa.Array | list[str], Codes, Codes]:
    """Compact form (spaces dropped, Arrow), core codes (leading divisions dropped) and
    lengths in characters (a few values: the same in plain Python)."""
    if len(values) <= _FEW:
        texts = [v.replace(" ", "") for v in as_list(values)]
        return (texts, _small_codes([_LEADING_DIVISIONS.sub("", v, count=1) for v in texts]),
                np.array([len(v) for v in texts], dtype=np.int64))
    spaced = pc.any(pc.match_substring(values, " ")).as_py()
    compact = pc.replace_substring(values, " ", "") if spaced else values
    cores = pc.replace_substring_regex(compact, _LEADING_DIVISIONS.pattern, "")
    core = _codes(cores)
    del cores
    lengths = np.asarray(pc.utf8_length(compact).to_numpy(zero_copy_only=False), np.int64)
    return compact, core, lengths


def _or_else(values: Sequence[str | None] | pa.Array, fallback: Sequence[str]) -> pa.Array:
    """Each value, or the fallback's where it is missing or blank."""
    given = as_arrow(values)
    usable = pc.fill_null(pc.not_equal(given, ""), False)
    return pc.if_else(usable, given, as_arrow(fallback))


def _nullable_codes(values: Sequence[str | None] | pa.Array | None) -> Codes | None:
    """Codes of a derived column (-1 where missing), or None when it is absent."""
    if values is None:
        return None
    if len(values) <= _FEW:
        seen: dict[str, int] = {}
        return np.array([-1 if v is None else seen.setdefault(v, len(seen))
                         for v in as_list(values)], dtype=np.int64)
    encoded = pc.dictionary_encode(as_arrow(values))
    return np.asarray(pc.fill_null(pc.cast(encoded.indices, pa.int64()), -1).to_numpy(
        zero_copy_only=False), dtype=np.int64)


# --- helpers -------------------------------------------------------------------------------


def _folded_codes(values: pa.Array, codes: Codes) -> Codes:
    """Codes of the values with look-alike characters folded, given the values' own codes.
    Only values holding a look-alike character change (an Arrow regex finds them; they
    are folded in Python and get codes of their own, past the others'): every group's
    folded form is one of its characters, so a folded value never equals a value that
    holds none, whose folded form is itself."""
    if len(values) == 0:
        return codes
    pattern = "[" + "".join(sorted(_LOOKALIKE)) + "]"
    hits = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    if not pc.any(hits).as_py():
        return codes
    folded = [v.translate(_LOOKALIKE_TABLE) for v in values.filter(hits).to_pylist()]
    out = codes.copy()
    out[np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)] = (
        _codes(folded) + len(values))
    return out


def _codes(keys: Sequence[str] | pa.Array) -> Codes:
    """Integer code per key (equal keys, equal codes), hashed in Arrow."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(as_arrow(keys))
    return np.asarray(encoded.indices.to_numpy(), dtype=np.int64)


@lru_cache(maxsize=65536)
def _char_pinyin(char: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(char, style=Style.NORMAL, errors="default"))


def _pinyin(text: str) -> str:
    """Toneless pinyin, one syllable per character, via a per-character cache."""
    return " ".join(_char_pinyin(c) if "\u4e00" <= c <= "\u9fff" else c.lower() for c in text)


def _has_placeholder(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Values holding a rare-character placeholder (``?``, ``□``)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    pattern = "[" + "".join(sorted(_PLACEHOLDERS)) + "]"
    return np.asarray(pc.match_substring_regex(values, pattern)
                      .to_numpy(zero_copy_only=False), dtype=bool)


def _placeholder_equal(
    values: npt.NDArray[np.object_], has: npt.NDArray[np.bool_], a: Codes, b: Codes
) -> npt.NDArray[np.bool_]:
    """Same length and equal except where one side holds a rare-character placeholder
    (position by position, on fixed-width NumPy strings of the pairs that hold one)."""
    out = np.zeros(len(a), dtype=bool)
    marked = np.flatnonzero(has[a] | has[b])
    if len(marked) == 0:
        return out
    left, right = values[a[marked]], values[b[marked]]
    lengths_l = np.fromiter(map(len, left), np.int64, len(left))
    lengths_r = np.fromiter(map(len, right), np.int64, len(right))
    width = max(int(lengths_l.max()), int(lengths_r.max()), 1)
    x = np.asarray(left.tolist(), dtype=f"<U{width}").view(np.uint32).reshape(-1, width)
    y = np.asarray(right.tolist(), dtype=f"<U{width}").view(np.uint32).reshape(-1, width)
    placeholders = np.array([ord(c) for c in sorted(_PLACEHOLDERS)], dtype=np.uint32)
    fits = (x == y) | np.isin(x, placeholders) | np.isin(y, placeholders)
    out[marked] = (lengths_l == lengths_r) & fits.all(axis=1)
    return out


def _split_enterprise(name: str) -> tuple[str, str, str, str]:
    """(core, legal form class, bracketed region, branch suffix) of an enterprise name."""
    text = _DOTS.sub("", name)
    branch = ""
    match = _BRANCH.search(text)
    if match:
        branch = text  # a branch is identified by its whole name
        text = text[: match.start()]
    region = ""
    bracket = _BRACKET.search(text)
    if bracket:
        region = bracket.group(1)
        text = text[: bracket.start()] + text[bracket.end():]
    form = ""
    for suffix, kind in _LEGAL_FORMS:
        if text.endswith(suffix) and len(text) > len(suffix):
            form = kind
            text = text[: -len(suffix)]
            break
    return _strip_region_prefix(text), form, region, branch


def _strip_region_prefix(core: str) -> str:
    """Drop one leading division name that ends in a division suffix (``深圳市``), never a
    bare prefix (``阿里巴巴`` keeps ``阿里``)."""
    for suffix in _REGION_SUFFIX:
        pos = core.find(suffix)
        if 1 <= pos <= 6 and len(core) - pos - len(suffix) >= 2:
            return core[pos + len(suffix):]
    return core
