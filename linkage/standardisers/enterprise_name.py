"""Enterprise names: one canonical spelling and a core name to compare.

Standardiser ``"enterprise_name"``. An enterprise name is region + trade name + industry +
legal form (深圳市腾讯计算机系统有限公司), the region sometimes in brackets before the legal
form (华为技术（深圳）有限公司), a branch adding a place and 分公司 / 分行 / ... after the
parent's full name.

Value: the canonical full name: NFKC, traditional -> simplified, no whitespace, every
bracket written ``（`` ``）``, the legal form canonicalised (有限责任公司 -> 有限公司,
股份公司 -> 股份有限公司).

Derived:
    core            the name for comparison: without region prefix, bracketed region,
                    legal form, 集团 and branch suffix (腾讯计算机系统)
    legal_form      canonical legal form, or null (有限公司, 股份有限公司, 有限合伙, ...)
    region          current full name of the prefix region (深圳市), or null
    bracket_region  current full name of the bracketed region (深圳市), or null
    branch          the branch suffix (北京分行, 营业部), or null
    group           bool: a group company (集团)
    written         the name as the department wrote it (whitespace removed, nothing
                    folded): the golden record shows the registered spelling
                    (有限责任公司 stays), the canonical value beside it

Region prefixes are stripped only from names with a legal form or a branch suffix (北京大学
keeps its 北京). They are division names: full names of any level (current or historic), short
names only of provinces and of cities whose full name ends in 市. A short prefix is not
taken when the rest would be too short to be a trade name, nor for the trade names in
``TRADE_NAMES_LIKE_PLACES`` (阿里巴巴 is not 阿里 + 巴巴).

Statuses: ``ok``, ``missing``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc
import pyarrow as pa

from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    map_distinct_batch,
)
from linkage.standardisers.divisions import (
    CITY,
    COUNTY,
    LEVEL_SUFFIXES,
    PROVINCE,
    DivisionTable,
    load_divisions,
)

#: Legal-form spellings (longest first) -> canonical form.
LEGAL_FORMS = {
    "股份有限公司": "股份有限公司",
    "有限责任公司": "有限公司",
    "股份公司": "股份有限公司",
    "有限公司": "有限公司",
    "（普通合伙）": "普通合伙",
    "（有限合伙）": "有限合伙",
    "（特殊普通合伙）": "特殊普通合伙",
    "个人独资企业": "个人独资企业",
    "合伙企业": "合伙企业",
    "专业合作社": "专业合作社",
    "合作社": "合作社",
    "公司": "公司",
}
#: How a canonical legal form is written in the canonical full name.
LEGAL_FORM_TEXT = {"有限公司": "有限公司", "股份有限公司": "股份有限公司"}

BRANCH_SUFFIXES = ("分公司", "分行", "支行", "营业部", "办事处", "分理处", "分店", "分厂",
                   "分所", "分部", "分中心", "经营部", "门市部", "代表处", "分社", "分院")

#: Trade names that begin with a place name but are not region + rest.
TRADE_NAMES_LIKE_PLACES = ("阿里巴巴", "中山大学", "长城", "黄河", "长江", "泰山", "华山",
                           "昆仑", "天山", "蓝天", "东方", "南方", "北方", "西部", "中华")

_BRACKETS = str.maketrans({"(": "（", ")": "）", "[": "（", "]": "）", "【": "（", "】": "）",
                           "〔": "（", "〕": "）", "{": "（", "}": "）", "﹙": "（", "﹚": "）"})
_LEGAL_PATTERN = re.compile(
    "|".join(re.escape(f) for f in sorted(LEGAL_FORMS, key=len, reverse=True) if f != "公司")
    + "|(?<!分)公司"  # 公司 alone, but not the 公司 of a 分公司 suffix
)
_BRACKET_AT_END = re.compile(r"（([^（）]*)）$")
_SPACES = re.compile(r"[^\S\n]+")
_MIN_CORE = 2

NameRow = tuple[str | None, str, str | None, str | None, str | None, str | None, str | None,
                bool, str | None]
_NULL_ROW: NameRow = (None, MISSING, None, None, None, None, None, False, None)
_DERIVED_TYPES = {
    "core": pa.string(),
    "legal_form": pa.string(),
    "region": pa.string(),
    "bracket_region": pa.string(),
    "branch": pa.string(),
    "group": pa.bool_(),
    "written": pa.string(),
}
_TYPES = [pa.string(), pa.string(), *_DERIVED_TYPES.values()]


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def standardise_enterprise_text(text: str) -> NameRow:
    """One raw name -> (value, status, core, legal_form, region, bracket_region, branch,
    group, written)."""
    return _parse_clean(text, _clean(text))


def _clean(text: str) -> str:
    """NFKC, no whitespace, every bracket ``（）``, simplified characters, no empty
    brackets."""
    s = "".join(unicodedata.normalize("NFKC", text).split()).translate(_BRACKETS)
    return str(_converter().convert(s)).replace("（）", "")


def _clean_many(texts: list[str]) -> list[str]:
    """:func:`_clean` of many texts, each step once over the texts joined by line breaks
    (as :func:`linkage.standardisers.address.clean_addresses`: no step joins across a line
    break; a text holding one is cleaned alone)."""
    if not texts:
        return []
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        return [_clean(t) for t in texts]
    text = _SPACES.sub("", unicodedata.normalize("NFKC", joined)).translate(_BRACKETS)
    lines = str(_converter().convert(text)).replace("（）", "").split("\n")
    if len(lines) != len(texts):
        return [_clean(t) for t in texts]
    return lines


def _names_distinct(texts: list[str]) -> list[NameRow]:
    return [_parse_clean(t, s) for t, s in zip(texts, _clean_many(texts), strict=True)]


def _parse_clean(text: str, s: str) -> NameRow:
    """:func:`standardise_enterprise_text` of ``text``, cleaned to ``s`` already."""
    written = "".join(text.split()) or None
    if not s:
        return _NULL_ROW
    table = load_divisions()

    # legal form: the last occurrence; what follows it may be a branch suffix
    legal_form = None
    before, after = s, ""
    matches = list(_LEGAL_PATTERN.finditer(s))
    if matches:
        last = matches[-1]
        legal_form = LEGAL_FORMS[last.group(0)]
        before, after = s[: last.start()], s[last.end():]
    branch = after if after.endswith(BRANCH_SUFFIXES) else None
    if branch is None and not after:
        before, branch = _split_branch(table, before)
    if branch is None and after:
        before = before + after  # unknown tail: keep it in the name
        after = ""

    # bracketed region (or 集团) just before the legal form, or before 集团 + legal form
    group = "集团" in s
    bracket_region = None
    group_tail = before.endswith("集团") and before[:-2].endswith("）")
    if group_tail:
        before = before[:-2]
    bracket = _BRACKET_AT_END.search(before)
    if bracket is not None:
        inner = bracket.group(1)
        region_name = _region_name(table, inner, whole=True)
        if region_name is not None or inner in ("集团", "中国"):
            bracket_region = region_name
            before = before[: bracket.start()]

    if legal_form is not None or branch is not None:
        region, core = _strip_region(table, before)
    else:  # institutions (北京大学): the place is part of the name
        region, core = None, before
    if group_tail:
        core += "集团"
    core = core.removesuffix("集团") or core
    core = core.replace("（集团）", "")

    value = _canonical(s, matches, legal_form)
    return (value, OK, core or None, legal_form, region, bracket_region, branch, group,
            written)


def _canonical(s: str, matches: list[re.Match[str]], legal_form: str | None) -> str:
    if not matches or legal_form is None:
        return s
    last = matches[-1]
    written = LEGAL_FORM_TEXT.get(legal_form, last.group(0))
    return s[: last.start()] + written + s[last.end():]


def _split_branch(table: DivisionTable, name: str) -> tuple[str, str | None]:
    """A name without legal form that ends in a branch suffix: (parent part, branch)."""
    for suffix in BRANCH_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            head = name[: -len(suffix)]
            for length in range(min(len(head) - _MIN_CORE, table.max_name_length), 1, -1):
                place = head[-length:]
                if _region_name(table, place, whole=True) is not None:
                    return head[:-length], place + suffix
            return head, suffix
    return name, None


def _strip_region(table: DivisionTable, name: str) -> tuple[str | None, str]:
    """Peel leading division names (广东省深圳市...) -> (innermost region, rest).

    Each further prefix must be a lower level inside the previous one: in 广州市海南星化工
    the 海南 after 广州市 is a trade name, not the province.
    """
    if _trade_name_first(name):
        return None, name
    region: str | None = None
    outer: _Region | None = None
    rest = name
    while True:
        found: tuple[_Region, int] | None = None
        for length in range(min(table.max_name_length, len(rest) - _MIN_CORE), 1, -1):
            candidate = _region(table, rest[:length], whole=False)
            if candidate is not None and _inside(table, candidate, outer):
                found = (candidate, length)
                break
        if found is None or _trade_name_first(rest[found[1]:]):
            return region, rest
        outer, rest = found[0], rest[found[1]:]
        region = outer.name


def _trade_name_first(name: str) -> bool:
    """Starts with a trade name that looks like a place (东方电气), not with the place
    itself written in full (东方市...)."""
    if not name.startswith(TRADE_NAMES_LIKE_PLACES):
        return False
    for word in TRADE_NAMES_LIKE_PLACES:
        if name.startswith(word):
            return not name[len(word):].startswith(tuple(LEVEL_SUFFIXES))
    return False


@dataclass(frozen=True)
class _Region:
    name: str
    level: int
    codes: tuple[str, ...]


def _inside(table: DivisionTable, inner: _Region, outer: _Region | None) -> bool:
    if outer is None:
        return True
    return inner.level > outer.level and any(
        table.linked(o, i) for o in outer.codes for i in inner.codes
    )


def _region_name(table: DivisionTable, text: str, *, whole: bool) -> str | None:
    """Current full name of the division ``text`` names, or None."""
    found = _region(table, text, whole=whole)
    return found.name if found is not None else None


def _region(table: DivisionTable, text: str, *, whole: bool) -> _Region | None:
    """The division ``text`` names, or None.

    Full names of any level count; short names only for provinces and 市 cities (county
    short names are too often ordinary words). ``whole`` (inside brackets, before a branch
    suffix) also accepts county short names: there is nothing else they could be.
    """
    if text not in table.known_names:  # most texts asked about are no name
        return None
    for level in (PROVINCE, CITY, COUNTY):
        codes = table.lookup(level, text, short=False)
        if codes:
            return _Region(_first_name(table, codes), level, tuple(sorted(codes)))
    for level in (PROVINCE, CITY, COUNTY):
        if level == COUNTY and not whole:
            continue
        codes = table.lookup(level, text, short=True)
        if not codes:
            continue
        name = _first_name(table, codes)
        if level == CITY and not whole and not name.endswith("市"):
            continue  # 阿里地区, 延边朝鲜族自治州: their short names start trade names
        return _Region(name, level, tuple(sorted(codes)))
    return None


def _first_name(table: DivisionTable, codes: dict[str, bool]) -> str:
    names = sorted({table.divisions[c].name for c in codes})
    return names[0]


def standardise_enterprise_name(values: pa.Array) -> Standardised:
    """Standardiser ``"enterprise_name"`` (see the module docstring)."""
    columns = map_distinct_batch(values, _names_distinct, _TYPES, null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_enterprise_name` for one value
ENTERPRISE_NAME_ONE = OneValue(standardise_enterprise_text, tuple(_DERIVED_TYPES), _NULL_ROW)
