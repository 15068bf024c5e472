"""The true population of persons: identities, names, phones, addresses and their changes.

Generated first, before any department sees it. Each person has at most one move and one
phone change (with dates), so any department's view at any date is a simple choice
between the old and the new value.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.checksums import id_check_chars
from linkage.synth import words
from linkage.synth.columns import (
    BoolArray,
    IntArray,
    ascii_of,
    choose,
    civil,
    day,
    digit_matrix,
    digits_to_strings,
    join,
    padded,
    stream,
    uniform_days,
)
from linkage.synth.config import SynthConfig
from linkage.synth.divisions import COUNTIES, HMT_CODES, XINJIANG_COUNTIES

#: Index of every current county inside COUNTIES (addresses only use current ones).
CURRENT_INDEX = np.array([i for i, c in enumerate(COUNTIES) if c.current], dtype=np.int64)
_XJ_INDEX = np.array([i for i, c in enumerate(COUNTIES) if c in XINJIANG_COUNTIES],
                     dtype=np.int64)


@dataclass(frozen=True)
class Addresses:
    """An address as parts: county index into COUNTIES plus the street-level detail."""

    county: IntArray
    detail: pa.Array

    def full(self) -> pa.Array:
        """Province + city + county + detail, the true standard form (computed once)."""
        return self._full

    @functools.cached_property
    def _full(self) -> pa.Array:
        return join(county_column("province", self.county), county_column("city", self.county),
                    county_column("name", self.county), self.detail)


@dataclass(frozen=True)
class Persons:
    """Every true person; arrays are aligned by person index."""

    entity_id: pa.Array
    sex: BoolArray  # True = male
    birth: IntArray  # days since epoch
    id_number: pa.Array
    name: pa.Array
    minority: BoolArray
    rare: BoolArray
    hmt: BoolArray
    phone_old: pa.Array
    phone_new: pa.Array
    phone_change: IntArray  # day of change, or a day after reference when none
    addr_old: Addresses
    addr_new: Addresses
    move: IntArray
    twin_of: IntArray  # index of the elder twin, -1 for everyone else

    @property
    def n(self) -> int:
        return len(self.birth)


def county_column(attr: str, index: IntArray) -> pa.Array:
    """One attribute of COUNTIES (province, city, name, code) for every index."""
    values = pa.array([getattr(c, attr) for c in COUNTIES], pa.string())
    return values.take(pa.array(index, pa.int64()))


def random_details(rng: np.random.Generator, n: int) -> pa.Array:
    """Street-level address detail: road, number, and for half of them a flat."""
    road = choose(rng, words.ROADS, n)
    number = pc.cast(pa.array(rng.integers(1, 400, n)), pa.string())
    flat = rng.random(n) < 0.5
    community = choose(rng, words.COMMUNITIES, n)
    building = pc.cast(pa.array(rng.integers(1, 30, n)), pa.string())
    room = pc.cast(pa.array(rng.integers(1, 30, n) * 100 + rng.integers(1, 5, n)), pa.string())
    tail = join(community, building, "栋", room, "室")
    tail = pc.if_else(pa.array(flat), tail, "")
    return join(road, number, "号", tail)


def random_phones(rng: np.random.Generator, n: int) -> pa.Array:
    """Eleven-digit mobile numbers."""
    prefix = choose(rng, words.MOBILE_PREFIXES, n)
    return join(prefix, padded(rng.integers(0, 100_000_000, n), 8))


def _names(rng: np.random.Generator, sex: BoolArray, config: SynthConfig,
           n: int) -> tuple[pa.Array, BoolArray, BoolArray]:
    surnames, weights = zip(*words.SURNAMES, strict=True)
    surname = choose(rng, surnames, n, weights)
    ranks = np.arange(1, len(words.GIVEN_CHARS) + 1, dtype=np.float64)
    zipf = (1.0 / ranks**0.8).tolist()
    g1 = choose(rng, words.GIVEN_CHARS, n, zipf)
    g2 = choose(rng, words.GIVEN_CHARS, n, zipf)
    single = rng.random(n) < 0.25
    g2 = pc.if_else(pa.array(single), "", g2)
    rare = rng.random(n) < config.rare_char_share
    rare_chars = choose(rng, tuple(words.RARE_CHARS), n)
    # The rare character replaces the last given character.
    g1 = pc.if_else(pa.array(rare & single), rare_chars, g1)
    g2 = pc.if_else(pa.array(rare & ~single), rare_chars, g2)
    name = join(surname, g1, g2)
    common = (rng.random(n) < config.common_name_share) & ~rare
    male_common = choose(rng, words.COMMON_NAMES_MALE, n)
    female_common = choose(rng, words.COMMON_NAMES_FEMALE, n)
    name = pc.if_else(pa.array(common), pc.if_else(pa.array(sex), male_common, female_common),
                      name)
    minority = (rng.random(n) < config.minority_name_share) & ~rare & ~common
    k = len(words.MINORITY_PARTS)
    first = rng.integers(0, k, n)
    second = (first + rng.integers(1, k, n)) % k  # two different parts
    parts = pa.array(words.MINORITY_PARTS, pa.string())
    dotted = join(parts.take(pa.array(first)), "·", parts.take(pa.array(second)))
    name = pc.if_else(pa.array(minority), dotted, name)
    return name, minority, rare


def _twin_names(rng: np.random.Generator, name: pa.Array, twin: BoolArray,
                sibling: IntArray, minority: BoolArray) -> tuple[pa.Array, BoolArray, BoolArray]:
    """Each younger twin takes the elder's name with the last character (or, for a dotted
    name, the last part) changed; rare-character and minority flags follow the new name."""
    rows = np.flatnonzero(twin)
    elder = name.take(pa.array(sibling[rows])).to_pylist()
    picks = rng.integers(0, 10**9, len(rows))
    new: list[str] = []
    for old, pick in zip(elder, picks, strict=True):
        if "·" in old:
            head, _, last = old.rpartition("·")
            options = [p for p in words.MINORITY_PARTS if p != last]
            new.append(f"{head}·{options[int(pick) % len(options)]}")
        else:
            options = [c for c in words.GIVEN_CHARS if c != old[-1]]
            new.append(old[:-1] + options[int(pick) % len(options)])
    if len(rows):
        mask = np.zeros(len(name), dtype=bool)
        mask[rows] = True
        name = pc.replace_with_mask(name, pa.array(mask), pa.array(new, pa.string()))
    rare_class = "[" + "".join(words.RARE_CHARS) + "]"
    rare = pc.match_substring_regex(name, rare_class).to_numpy(zero_copy_only=False)
    minority = minority[sibling]
    return name, rare, minority


def _identity_numbers(rng: np.random.Generator, birth: IntArray, sex: BoolArray,
                      division: IntArray) -> pa.Array:
    """Valid, unique 18-digit numbers: division + birth date + sequence (odd = male) + check."""
    n = len(birth)
    y, m, d = civil(birth)
    ymd = y * 10000 + m * 100 + d
    k = rng.integers(1, 498, n)
    while True:
        seq = 2 * k + sex.astype(np.int64)
        key = (division * 10**8 + ymd) * 1000 + seq
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        k[dup] = rng.integers(1, 498, int(dup.sum()))
    body = np.concatenate([digit_matrix(division, 6), digit_matrix(ymd, 8),
                           digit_matrix(seq, 3)], axis=1)
    check = ascii_of(id_check_chars(body))
    return digits_to_strings(np.concatenate([body + ord("0"), check[:, None]], axis=1))


def make_persons(n: int, seed: int, config: SynthConfig) -> Persons:
    """The true population of ``n`` persons, deterministic for ``seed``."""
    rng = stream(seed, "persons")
    ref = day(config.reference_date)
    sex = rng.random(n) < 0.5
    birth = uniform_days(rng, day("1940-01-01"), day("2006-12-31"), n)
    name, minority, rare = _names(rng, sex, config, n)
    hmt = (rng.random(n) < config.hmt_share) & ~minority
    # Twins: hard negatives that share surname, birth date, division and home.
    twin = rng.random(n) < config.twin_share
    twin[0] = False
    twin[1:] &= ~twin[:-1]  # no chains: the elder twin is never a twin itself
    sibling = np.where(twin, np.arange(n) - 1, np.arange(n))
    birth = birth[sibling]
    hmt = hmt[sibling]
    name, rare, minority = _twin_names(rng, name, twin, sibling, minority)

    # Division of registration (the ID's first six digits): historic codes only for people
    # born before 2000; Xinjiang for the minority names; 81/82/83 for HK/MO/TW permits.
    id_county = rng.integers(0, len(COUNTIES), n)
    historic = ~np.array([c.current for c in COUNTIES])[id_county]
    late = historic & (birth >= day("2000-01-01"))
    id_county[late] = CURRENT_INDEX[rng.integers(0, len(CURRENT_INDEX), int(late.sum()))]
    id_county[minority] = _XJ_INDEX[rng.integers(0, len(_XJ_INDEX), int(minority.sum()))]
    codes = np.array([int(c.code) for c in COUNTIES], dtype=np.int64)[id_county]
    codes[hmt] = np.array([int(c) for c in HMT_CODES])[rng.integers(0, 3, int(hmt.sum()))]
    codes = codes[sibling]
    id_county = id_county[sibling]
    historic = historic[sibling]
    id_number = _identity_numbers(rng, birth, sex, codes)

    # Residence: most live in their county of registration (or its successor).
    home = CURRENT_INDEX[rng.integers(0, len(CURRENT_INDEX), n)]
    stay = (rng.random(n) < 0.7) & ~historic & ~hmt
    home[stay] = id_county[stay]
    home = home[sibling]
    detail = random_details(rng, n).take(pa.array(sibling))
    addr_old = Addresses(home, detail)
    moved = (rng.random(n) < config.person_move_share)[sibling]
    move = uniform_days(rng, np.maximum(birth + 18 * 365, day("2005-01-01")), ref - 1,
                        n)[sibling]
    move[~moved] = ref + 1
    new_home = CURRENT_INDEX[rng.integers(0, len(CURRENT_INDEX), n)][sibling]
    new_detail = random_details(rng, n).take(pa.array(sibling))
    addr_new = Addresses(np.where(moved, new_home, home),
                         pc.if_else(pa.array(moved), new_detail, addr_old.detail))

    phone_old = random_phones(rng, n)
    changed = rng.random(n) < config.phone_change_share
    phone_change = uniform_days(rng, day("2012-01-01"), ref - 1, n)
    phone_change[~changed] = ref + 1
    phone_new = pc.if_else(pa.array(changed), random_phones(rng, n), phone_old)

    width = max(7, len(str(n)))
    entity_id = join("P", padded(np.arange(1, n + 1), width))
    return Persons(entity_id=entity_id, sex=sex, birth=birth, id_number=id_number, name=name,
                   minority=minority, rare=rare, hmt=hmt, phone_old=phone_old,
                   phone_new=phone_new, phone_change=phone_change, addr_old=addr_old,
                   addr_new=addr_new, move=move, twin_of=np.where(twin, sibling, -1))
