"""The true enterprises: names, codes, legal representatives, branches and their changes.

A name is region + trade name (字号) + industry + legal form, or with the region in
brackets before the legal form. Codes are valid: the credit code embeds a valid
organisation code and the registration county; enterprises registered before the credit
code existed (October 2015) also have a legacy registration number. Each enterprise has at
most one rename, one legal-representative change, one move and one status change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.checksums import (
    USCC_ALPHABET,
    org_check_chars,
    regno_check_digits,
    uscc_check_chars,
)
from linkage.synth import words
from linkage.synth.columns import (
    BoolArray,
    IntArray,
    ascii_of,
    choose,
    day,
    digit_matrix,
    digits_to_strings,
    join,
    padded,
    stream,
    uniform_days,
)
from linkage.synth.config import SynthConfig
from linkage.synth.divisions import COUNTIES
from linkage.synth.population import CURRENT_INDEX, Addresses, Persons, random_details

CREDIT_CODE_START = "2015-10-01"
_USCC_INDEX = np.zeros(128, dtype=np.int64)
_USCC_INDEX[[ord(c) for c in USCC_ALPHABET]] = np.arange(len(USCC_ALPHABET))


@dataclass(frozen=True)
class Enterprises:
    """Every true enterprise; arrays are aligned by enterprise index."""

    entity_id: pa.Array
    county: IntArray
    region: pa.Array  # the region word of the name ("深圳市"), for prefix errors
    core_old: pa.Array  # trade name + industry: what an abbreviation keeps
    core_new: pa.Array
    legal_form: pa.Array
    bracketed: BoolArray
    name_old: pa.Array
    name_new: pa.Array
    rename: IntArray
    branch: BoolArray
    parent: IntArray  # parent enterprise index, -1 when not a branch
    credit_code: pa.Array
    org_code: pa.Array
    reg_number: pa.Array  # null for enterprises registered after CREDIT_CODE_START
    established: IntArray
    capital: pa.Array
    status_new: pa.Array
    status_change: IntArray
    rep_old: IntArray  # person index
    rep_new: IntArray
    rep_change: IntArray
    addr_old: Addresses
    addr_new: Addresses
    move: IntArray
    customs_code: pa.Array  # null for enterprises without one

    @property
    def n(self) -> int:
        return len(self.established)


def _unique_draw(rng: np.random.Generator, n: int,
                 draw: Callable[[np.random.Generator, int], IntArray]) -> IntArray:
    """Integer keys from ``draw(rng, size)`` redrawn until all ``n`` are distinct."""
    keys = draw(rng, n)
    while True:
        _, first = np.unique(keys, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return keys
        keys[dup] = draw(rng, int(dup.sum()))


def _names(rng: np.random.Generator, n: int, region: pa.Array, short_region: pa.Array,
           bracketed: BoolArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    three = rng.random(n) < 0.2
    trade = join(choose(rng, words.TRADE_CHARS, n), choose(rng, words.TRADE_CHARS, n),
                 pc.if_else(pa.array(three), choose(rng, words.TRADE_CHARS, n), ""))
    core = join(trade, choose(rng, words.INDUSTRIES, n))
    forms, weights = zip(*words.LEGAL_FORMS, strict=True)
    form = choose(rng, forms, n, weights)
    plain = join(region, core, form)
    with_bracket = join(core, "（", short_region, "）", form)
    return pc.if_else(pa.array(bracketed), with_bracket, plain), core, form


def _org_codes(rng: np.random.Generator, n: int,
               modern: BoolArray) -> tuple[pa.Array, npt.NDArray[np.uint8]]:
    """Unique 9-character organisation codes (codes issued with credit codes start "MA"),
    and their characters as credit-code alphabet values for building the credit code."""
    def draw(r: np.random.Generator, size: int) -> IntArray:
        return r.integers(0, 31**6, size, dtype=np.int64)

    tail = _unique_draw(rng, n, draw)
    values = np.zeros((n, 9), dtype=np.int64)
    values[:, 0] = np.where(modern, USCC_ALPHABET.index("M"), rng.integers(1, 10, n))
    values[:, 1] = np.where(modern, USCC_ALPHABET.index("A"), rng.integers(0, 10, n))
    for j in range(6):
        values[:, 7 - j] = (tail // 31**j) % 31
    values[~modern, 2:8] = values[~modern, 2:8] % 10  # older codes are digits only
    # Organisation-code values differ from credit-code ones for letters (A..Z -> 10..35).
    org_value = np.array([int(c, 36) for c in USCC_ALPHABET], dtype=np.uint8)
    check = org_check_chars(org_value[values[:, :8]])
    values[:, 8] = _USCC_INDEX[ascii_of(check)]
    ascii_codes = np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)[values]
    return digits_to_strings(ascii_codes.astype(np.uint8)), values.astype(np.uint8)


def _credit_codes(codes: IntArray, org_values: npt.NDArray[np.uint8]) -> pa.Array:
    n = len(codes)
    body = np.concatenate([np.tile(np.array([9, 1], dtype=np.uint8), (n, 1)),
                           digit_matrix(codes, 6), org_values], axis=1)
    check = uscc_check_chars(body)
    alphabet = np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
    return digits_to_strings(np.concatenate([alphabet[body], ascii_of(check)[:, None]], axis=1))


def _reg_numbers(rng: np.random.Generator, division: IntArray) -> pa.Array:
    n = len(division)

    def draw(r: np.random.Generator, size: int) -> IntArray:
        return r.integers(0, 10**8, size, dtype=np.int64)

    seq = _unique_draw(rng, n, draw)
    body = np.concatenate([digit_matrix(division, 6), digit_matrix(seq, 8)], axis=1)
    check = ascii_of(regno_check_digits(body))
    return digits_to_strings(np.concatenate([body + ord("0"), check[:, None]], axis=1))


def _adults(rng: np.random.Generator, persons: Persons, at: IntArray) -> IntArray:
    """A random person index for each day in ``at``, preferring people aged 22+ then."""
    idx = rng.integers(0, persons.n, len(at))
    for _ in range(20):
        young = persons.birth[idx] + 22 * 365 > at
        if not young.any():
            break
        idx[young] = rng.integers(0, persons.n, int(young.sum()))
    return idx


def make_enterprises(m: int, persons: Persons, seed: int, config: SynthConfig) -> Enterprises:
    """``m`` true enterprises whose legal representatives are ``persons``."""
    rng = stream(seed, "enterprises")
    ref = day(config.reference_date)
    county = CURRENT_INDEX[rng.integers(0, len(CURRENT_INDEX), m)]
    province = pa.array([c.province for c in COUNTIES]).take(pa.array(county))
    city = pa.array([c.city for c in COUNTIES]).take(pa.array(county))
    region = pc.if_else(pc.equal(city, ""), province, city)
    short_region = pc.utf8_replace_slice(region, -1, 100, "")  # drop the trailing 市/省
    bracketed = rng.random(m) < 0.15
    name, core, form = _names(rng, m, region, short_region, bracketed)
    branch = (rng.random(m) < config.branch_share) if m >= 20 else np.zeros(m, dtype=bool)
    heads = np.flatnonzero(~branch)
    parent = np.full(m, -1, dtype=np.int64)
    parent[branch] = heads[rng.integers(0, len(heads), int(branch.sum()))]

    established = uniform_days(rng, day("1992-01-01"), ref - 400, m)
    # A branch opens after its parent.
    established[branch] = np.minimum(
        established[parent[branch]] + rng.integers(100, 3000, int(branch.sum())), ref - 60)

    # Branch names: parent's first name + place + 分公司.
    county_name = pa.array([c.name for c in COUNTIES]).take(pa.array(county))
    place = pc.if_else(pc.greater_equal(pc.utf8_length(county_name), 3),
                       pc.utf8_replace_slice(county_name, -1, 100, ""), county_name)
    parent_name = name.take(pa.array(np.where(branch, parent, 0)))
    name = pc.if_else(pa.array(branch), join(parent_name, place, "分公司"), name)
    # Names are unique: redraw the trade names of duplicates (never of branches).
    for _ in range(50):
        _, first = np.unique(np.array(name.to_pylist(), dtype=object), return_index=True)
        dup = np.ones(m, dtype=bool)
        dup[first] = False
        dup &= ~branch
        if not dup.any():
            break
        redo, redo_core, redo_form = _names(rng, m, region, short_region, bracketed)
        name = pc.if_else(pa.array(dup), redo, name)
        core = pc.if_else(pa.array(dup), redo_core, core)
        form = pc.if_else(pa.array(dup), redo_form, form)

    modern = established >= day(CREDIT_CODE_START)
    org, org_values = _org_codes(rng, m, modern)
    codes = np.array([int(c.code) for c in COUNTIES], dtype=np.int64)[county]
    credit = _credit_codes(codes, org_values)
    reg = _reg_numbers(rng, codes)
    reg = pc.if_else(pa.array(modern), pa.scalar(None, pa.string()), reg)

    amounts = np.array([10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000, 50000])
    weights = np.array([8, 6, 12, 20, 10, 8, 12, 10, 5, 4, 3, 1], dtype=np.float64)
    capital_num = amounts[rng.choice(len(amounts), m, p=weights / weights.sum())].astype(float)
    odd = rng.random(m) < 0.1
    capital_num[odd] = np.round(rng.random(int(odd.sum())) * 1000 + 1, 1)
    capital = pc.cast(pa.array(capital_num), pa.string())
    capital = pc.replace_substring_regex(capital, r"\.0$", "")
    capital = pc.if_else(pa.array(branch), pa.scalar(None, pa.string()), capital)

    # Changes over time.
    earliest = established + 365
    renamed = (rng.random(m) < config.rename_share) & ~branch & (earliest < ref - 1)
    rename = uniform_days(rng, earliest, ref - 1, m)
    rename[~renamed] = ref + 1
    # A rename keeps the region and legal form and changes the trade name and industry.
    _, new_core, _ = _names(rng, m, region, short_region, bracketed)
    new_plain = join(region, new_core, form)
    new_bracket = join(new_core, "（", short_region, "）", form)
    name_new = pc.if_else(pa.array(renamed),
                          pc.if_else(pa.array(bracketed), new_bracket, new_plain), name)
    core_new = pc.if_else(pa.array(renamed), new_core, core)
    core_new = pc.if_else(pa.array(branch), name_new, core_new)
    core_old = pc.if_else(pa.array(branch), name, core)

    rep_old = _adults(rng, persons, established)
    rep_changed = (rng.random(m) < config.legal_rep_change_share) & (earliest < ref - 1)
    rep_change = uniform_days(rng, earliest, ref - 1, m)
    rep_change[~rep_changed] = ref + 1
    rep_new = np.where(rep_changed, _adults(rng, persons, rep_change), rep_old)

    addr_old = Addresses(county, random_details(rng, m))
    moved = (rng.random(m) < config.enterprise_move_share) & (earliest < ref - 1)
    move = uniform_days(rng, earliest, ref - 1, m)
    move[~moved] = ref + 1
    addr_new = Addresses(county, pc.if_else(pa.array(moved), random_details(rng, m),
                                            addr_old.detail))

    ended = (rng.random(m) < config.status_end_share) & (earliest < ref - 1)
    status_change = uniform_days(rng, earliest, ref - 1, m)
    status_change[~ended] = ref + 1
    status_new = pc.if_else(pa.array(ended), choose(rng, words.ENTERPRISE_STATUS_ENDED, m),
                            words.ENTERPRISE_STATUS_ACTIVE)

    has_customs = (rng.random(m) < config.customs_share) & ~branch

    def draw_customs(r: np.random.Generator, size: int) -> IntArray:
        return r.integers(0, 10**6, size, dtype=np.int64)

    customs_tail = _unique_draw(rng, m, draw_customs)  # zone, type, 4-digit sequence
    customs = join(padded(codes // 100, 4), padded(customs_tail, 6))
    customs = pc.if_else(pa.array(has_customs), customs, pa.scalar(None, pa.string()))

    width = max(6, len(str(m)))
    entity_id = join("E", padded(np.arange(1, m + 1), width))
    return Enterprises(
        entity_id=entity_id, county=county, region=region, core_old=core_old,
        core_new=core_new, legal_form=form,
        bracketed=bracketed, name_old=name, name_new=name_new, rename=rename, branch=branch,
        parent=parent, credit_code=credit, org_code=org, reg_number=reg,
        established=established, capital=capital, status_new=status_new,
        status_change=status_change, rep_old=rep_old, rep_new=rep_new, rep_change=rep_change,
        addr_old=addr_old, addr_new=addr_new, move=move, customs_code=customs)
