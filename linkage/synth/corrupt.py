"""The error model: corrupt a department's true snapshot and log every error made.

Per field, errors are drawn in a fixed order among the records that are *eligible* (the
error makes sense for the value) and not yet corrupted in that field, each with its rate.
So a rate is exactly "the probability of this error for an eligible record", and the log
keeps the eligible count and expected number per (field, kind), which is what
``benchmarks/check_error_rates.py`` compares against the injected errors.

Only the affected rows (a few per cent) pass through Python; choices are pre-drawn.

Kinds written to truth/errors.parquet (field: kind <- SynthConfig rate):

    id_number, legal_rep_id: missing <- id_missing; masked <- id_masked (courts);
        placeholder <- id_placeholder; shared (another person's number, pre-2015
        snapshots) <- id_shared_pre2015; id15 (legacy 15 digits, born before 1985)
        <- id_15_digit; typo <- id_typo; transposition <- id_transposition;
        fullwidth <- id_fullwidth; spaced <- id_spaced
    name, legal_rep_name (persons): missing <- name_missing; rare_char (written ?, □,
        a homophone or pinyin) <- rare_char_replaced; minority_order <- minority_order_swap;
        minority_separator <- minority_separator; homophone (often also alike in shape)
        <- name_homophone; lookalike <- name_lookalike; traditional <- traditional;
        traditional_hmt <- traditional_hmt
    name (enterprises): missing <- field_missing; branch_confusion (parent's name on a
        branch) <- branch_confusion; former_name <- former_name_per_year x snapshot lag;
        abbreviated <- abbreviated_name; legal_form_variant <- legal_form_variant;
        region_prefix (dropped, or added to a bracketed name) <- region_prefix;
        traditional <- traditional
    credit_code: missing <- credit_code_missing; old_reg_number <- old_reg_number_pre2016;
        org_code <- org_code_pre2016 (both pre-2016 snapshots); typo <- credit_code_typo
    birth_date: missing <- birth_date_missing; wrong_value <- registration_error
    sex: missing <- sex_missing;  phone: missing <- phone_missing, typo <- phone_typo
    address: missing <- address_missing; outdated_division (former city/county name)
        <- outdated_division_base + _per_year x snapshot age, capped at _max;
        drop_prefix (province, half the time also the city) <- address_drop_prefix;
        drop_suffix (省/市/自治区 left off: 广东深圳南山区) <- address_drop_suffix
    established_date, capital, status, customs_code: missing <- field_missing
    any field: stale (true when the record was updated, superseded since; not a rate)
    record: duplicate (a second record of the entity) <- within_department_duplicate
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import opencc
import pyarrow as pa
import pyarrow.compute as pc

from linkage.standardisers.checksums import USCC_ALPHABET
from linkage.synth import words
from linkage.synth.columns import BoolArray, IntArray, day, join, set_rows, to_list
from linkage.synth.config import SynthConfig
from linkage.synth.divisions import COUNTIES, former_names
from linkage.synth.enterprises import Enterprises
from linkage.synth.population import Persons, county_column
from linkage.synth.snapshot import Snapshot

Fn = Callable[[str, float], str | None]

_FULLWIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
_HOMOPHONE_CLASS = "[" + "".join(words.HOMOPHONES) + "]"
_LOOKALIKE_CLASS = "[" + "".join(words.LOOKALIKES) + "]"
_RARE_CLASS = "[" + "".join(words.RARE_CHARS) + "]"
_PLACEHOLDERS = ("000000000000000000", "111111111111111111", "123456789012345678")
_FORMER = [former_names(c) for c in COUNTIES]


@functools.cache
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


@functools.cache
def _traditional_class() -> str:
    """A regex class of every character the generator writes that has a different
    traditional form (checking characters, not whole values, keeps this vectorised)."""
    from linkage.synth.divisions import CITY_RENAMES, COUNTY_RENAMES

    texts = [*(s for s, _ in words.SURNAMES), *words.HOMOPHONES, *words.HOMOPHONES.values(),
             *words.LOOKALIKES, *words.LOOKALIKES.values(),
             *words.RARE_CHARS, *words.COMMON_NAMES_MALE, *words.COMMON_NAMES_FEMALE,
             *words.MINORITY_PARTS, *words.TRADE_CHARS, *words.INDUSTRIES, *words.ROADS,
             *words.COMMUNITIES, *(f for f, _ in words.LEGAL_FORMS),
             *words.LEGAL_FORM_VARIANTS.values(), "分公司（）",
             *(f"{c.province}{c.city}{c.name}" for c in COUNTIES),
             *(n for n, _ in CITY_RENAMES.values()), *(n for n, _ in COUNTY_RENAMES.values())]
    chars = sorted({c for t in texts for c in t})
    convert = _s2t().convert
    return "[" + "".join(c for c in chars if convert(c) != c) + "]"


@dataclass
class ErrorLog:
    """Every injected error of one file, and eligible/expected counts per (field, kind)."""

    rows: list[IntArray] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    true: list[pa.Array] = field(default_factory=list)
    written: list[pa.Array] = field(default_factory=list)
    stats: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, fld: str, kind: str, rows: IntArray, true: pa.Array, written: pa.Array) -> None:
        if len(rows):
            self.rows.append(rows)
            self.fields.append(fld)
            self.kinds.append(kind)
            self.true.append(true.cast(pa.string()))
            self.written.append(written.cast(pa.string()))

    def count(self, fld: str, kind: str, eligible: int, expected: float) -> None:
        entry = self.stats.setdefault((fld, kind), [0.0, 0.0])
        entry[0] += eligible
        entry[1] += expected

    def table(self, source: str, entity_type: str, keys: pa.Array) -> pa.Table:
        """The log as errors.parquet rows (source, entity_type, source_key, field, kind,
        true_value, written_value), sorted by record (keys ascend with rows), field, kind."""
        if not self.rows:
            empty = pa.array([], pa.string())
            return pa.table({"source": empty, "entity_type": empty, "source_key": empty,
                             "field": empty, "kind": empty, "true_value": empty,
                             "written_value": empty})
        rows = np.concatenate(self.rows)
        chunk = np.repeat(np.arange(len(self.rows)), [len(r) for r in self.rows])
        field_rank = np.array([sorted(set(self.fields)).index(f) for f in self.fields])[chunk]
        kind_rank = np.array([sorted(set(self.kinds)).index(k) for k in self.kinds])[chunk]
        order = pa.array(np.lexsort((kind_rank, field_rank, rows)), pa.int64())
        n = len(rows)
        return pa.table({
            "source": pa.array(np.full(n, source, dtype=object), pa.string()),
            "entity_type": pa.array(np.full(n, entity_type, dtype=object), pa.string()),
            "source_key": keys.take(pa.array(rows, pa.int64()).take(order)),
            "field": pa.array(self.fields, pa.string()).take(pa.array(chunk).take(order)),
            "kind": pa.array(self.kinds, pa.string()).take(pa.array(chunk).take(order)),
            "true_value": pa.concat_arrays(self.true).take(order),
            "written_value": pa.concat_arrays(self.written).take(order),
        })


# --- value-level corruptions (one affected value at a time) ------------------------------


def _typo(alphabet: str, limit: int) -> Fn:
    def fn(value: str, u: float) -> str:
        pos = int(u * min(limit, len(value)))
        current = value[pos]
        options = [c for c in alphabet if c != current]
        new = options[int((u * 7919) % 1 * len(options))]
        return value[:pos] + new + value[pos + 1:]
    return fn


def _transpose(value: str, u: float) -> str:
    candidates = [i for i in range(len(value) - 1) if value[i] != value[i + 1]]
    if not candidates:
        return value
    i = candidates[int(u * len(candidates))]
    return value[:i] + value[i + 1] + value[i] + value[i + 2:]


def _id15(value: str, u: float) -> str:
    return value[:6] + value[8:17]


def _fullwidth(value: str, u: float) -> str:
    return value.translate(_FULLWIDTH)


def _spaced(value: str, u: float) -> str:
    if u < 0.5:
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def _masked(value: str, u: float) -> str:
    if u < 0.7:
        return value[:6] + "********" + value[14:]
    return value[:4] + "*" * 10 + value[14:]


def _placeholder(value: str, u: float) -> str:
    return _PLACEHOLDERS[int(u * len(_PLACEHOLDERS))]


def _missing(value: str, u: float) -> None:
    return None


def _char_error(table: dict[str, str]) -> Fn:
    """Replace one given-name character found in ``table`` by one of its entries."""
    def fn(value: str, u: float) -> str:
        positions = [i for i, c in enumerate(value) if i > 0 and c in table]
        if not positions:
            return value
        i = positions[int(u * len(positions))]
        options = table[value[i]]
        return value[:i] + options[int((u * 7919) % 1 * len(options))] + value[i + 1:]
    return fn


def _rare_replaced(value: str, u: float) -> str:
    out = []
    for c in value:
        if c in words.RARE_CHARS:
            homophone, pinyin = words.RARE_CHARS[c]
            c = ("?", "□", homophone, pinyin)[int(u * 4)]
        out.append(c)
    return "".join(out)


def _traditional(value: str, u: float) -> str:
    """Traditional characters; OpenCC converts by phrase, and where a phrase keeps every
    character (周杰) the characters are converted one by one, so the value always changes
    when it has a convertible character."""
    convert = _s2t().convert
    result: str = convert(value)
    if result == value:
        result = "".join(convert(c) for c in value)
    return result


def _separator(value: str, u: float) -> str:
    return value.replace("·", words.MINORITY_SEPARATORS[int(u * len(words.MINORITY_SEPARATORS))])


def _swap_order(value: str, u: float) -> str:
    parts = value.split("·")
    return "·".join(reversed(parts))


def _shift_date(value: str, u: float) -> str:
    """A wrong birth date: day and month swapped when possible, else a few days off."""
    y, m, d = value.split("-")
    if u < 0.4 and int(d) <= 12 and d != m:
        return f"{y}-{d}-{m}"
    shifted = date.fromisoformat(value) + timedelta(days=int(u * 60) - 30 or 1)
    return shifted.isoformat()


def _org_instead(org: str, u: float) -> str:
    return f"{org[:8]}-{org[8]}" if u < 0.5 else org


# --- the corruptor -------------------------------------------------------------------------


class Corruptor:
    """Applies the error model to one snapshot's values (in place) and logs every error."""

    def __init__(self, snap: Snapshot, config: SynthConfig, rng: np.random.Generator) -> None:
        self.snap = snap
        self.config = config
        self.rng = rng
        self.n = snap.n
        self.values = snap.values
        self.log = ErrorLog()
        self.department = snap.spec.department
        snapshot = config.snapshot(self.department)
        self.snapshot_day = day(snapshot)
        self.age_years = (day(config.reference_date) - self.snapshot_day) / 365.25
        self.pre2015 = snapshot.year < 2015
        self.pre2016 = self.snapshot_day < day("2016-01-01")
        self.touched = {f: np.zeros(self.n, dtype=bool) for f in snap.values}

    # generic machinery

    def rate(self, kind: str) -> float:
        return self.config.rate(kind, self.department)

    def choose(self, fld: str, kind: str, eligible: BoolArray, rate: float) -> IntArray:
        """Rows of ``fld`` that get error ``kind``: eligible, untouched, drawn with ``rate``."""
        elig = eligible & ~self.touched[fld] & self.valid(fld)
        draw = self.rng.random(self.n) < rate
        self.log.count(fld, kind, int(elig.sum()), float(elig.sum()) * rate)
        chosen = elig & draw
        self.touched[fld] |= chosen
        return np.flatnonzero(chosen)

    def valid(self, fld: str) -> BoolArray:
        mask: BoolArray = pc.is_valid(self.values[fld]).to_numpy(zero_copy_only=False)
        return mask

    def apply(self, fld: str, kind: str, eligible: BoolArray, rate: float, fn: Fn) -> None:
        rows = self.choose(fld, kind, eligible, rate)
        if not len(rows):
            return
        old = to_list(self.values[fld], rows)
        u = self.rng.random(len(rows))
        new = [fn(v, float(x)) if v is not None else None for v, x in zip(old, u, strict=True)]
        self.replace(fld, kind, rows, old, new)

    def replace(self, fld: str, kind: str, rows: IntArray, old: list[str | None],
                new: list[str | None]) -> None:
        self.values[fld] = set_rows(self.values[fld], rows, new, self.n)
        self.log.add(fld, kind, rows, pa.array(old, pa.string()), pa.array(new, pa.string()))

    def everyone(self) -> BoolArray:
        return np.ones(self.n, dtype=bool)

    def matches(self, fld: str, pattern: str) -> BoolArray:
        mask: BoolArray = pc.fill_null(pc.match_substring_regex(self.values[fld], pattern),
                                       False).to_numpy(zero_copy_only=False)
        return mask

    # field families

    def log_stale(self) -> None:
        """Values that were true at the record's date but are no longer (kind ``stale``)."""
        for fld, value in self.values.items():
            now = self.snap.current[fld]
            differs = pc.fill_null(pc.not_equal(value, now), False).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(differs)
            self.log.add(fld, "stale", rows, now.take(pa.array(rows)), value.take(pa.array(rows)))

    def identity(self, fld: str, pool: pa.Array, born_before_1985: BoolArray) -> None:
        """ID-number errors, in order: masked, missing, placeholder, shared, 15-digit, typo,
        transposition, full-width, spaced."""
        if fld not in self.values:
            return
        every = self.everyone()
        self.apply(fld, "missing", every, self.rate("id_missing"), _missing)
        self.apply(fld, "masked", every, self.rate("id_masked"), _masked)
        self.apply(fld, "placeholder", every, self.rate("id_placeholder"), _placeholder)
        if self.pre2015:
            rows = self.choose(fld, "shared", every, self.rate("id_shared_pre2015"))
            if len(rows):
                other = pool.take(pa.array(self.rng.integers(0, len(pool), len(rows))))
                self.replace(fld, "shared", rows, to_list(self.values[fld], rows),
                             other.to_pylist())
        self.apply(fld, "id15", born_before_1985, self.rate("id_15_digit"), _id15)
        self.apply(fld, "typo", every, self.rate("id_typo"), _typo("0123456789", 17))
        self.apply(fld, "transposition", every, self.rate("id_transposition"), _transpose)
        self.apply(fld, "fullwidth", every, self.rate("id_fullwidth"), _fullwidth)
        self.apply(fld, "spaced", every, self.rate("id_spaced"), _spaced)

    def person_name(self, fld: str, hmt: BoolArray | None) -> None:
        """Name errors: missing, rare character replaced, minority-name separator and order,
        homophone or look-alike character, traditional characters."""
        if fld not in self.values:
            return
        every = self.everyone()
        self.apply(fld, "missing", every, self.rate("name_missing"), _missing)
        self.apply(fld, "rare_char", self.matches(fld, _RARE_CLASS),
                   self.rate("rare_char_replaced"), _rare_replaced)
        dotted = self.matches(fld, "·")
        self.apply(fld, "minority_order", dotted, self.rate("minority_order_swap"), _swap_order)
        self.apply(fld, "minority_separator", dotted, self.rate("minority_separator"),
                   _separator)
        self.apply(fld, "homophone", self.matches(fld, "^..*" + _HOMOPHONE_CLASS),
                   self.rate("name_homophone"), _char_error(words.HOMOPHONES))
        self.apply(fld, "lookalike", self.matches(fld, "^..*" + _LOOKALIKE_CLASS),
                   self.rate("name_lookalike"), _char_error(words.LOOKALIKES))
        convertible = self._convertible(fld)
        if hmt is not None:
            self.apply(fld, "traditional_hmt", convertible & hmt, self.rate("traditional_hmt"),
                       _traditional)
            convertible &= ~hmt
        self.apply(fld, "traditional", convertible, self.rate("traditional"), _traditional)

    def _convertible(self, fld: str) -> BoolArray:
        """Values with at least one character whose traditional form differs."""
        return self.matches(fld, _traditional_class())

    def simple(self, fld: str, kind: str, rate: float, fn: Fn) -> None:
        if fld in self.values:
            self.apply(fld, kind, self.everyone(), rate, fn)

    def address(self) -> None:
        """Address errors: missing; outdated city/county names (more in older snapshots);
        province (and sometimes city) dropped; 省/市 suffixes dropped. The last three can
        combine."""
        if "address" not in self.values or self.snap.address is None:
            return
        fld = "address"
        every = self.everyone()
        self.apply(fld, "missing", every, self.rate("address_missing"), _missing)
        county = self.snap.address.county
        present = self.valid(fld)
        has_former = np.array([f is not None for f in _FORMER])[county]
        c = self.config
        outdated_rate = min(c.outdated_division_max,
                            c.outdated_division_base + c.outdated_division_per_year
                            * self.age_years)
        outdated = has_former & present & (self.rng.random(self.n) < outdated_rate)
        self.log.count(fld, "outdated_division", int((has_former & present).sum()),
                       float((has_former & present).sum()) * outdated_rate)
        drop_rate = self.rate("address_drop_prefix")
        dropped = present & (self.rng.random(self.n) < drop_rate)
        self.log.count(fld, "drop_prefix", int(present.sum()), float(present.sum()) * drop_rate)
        city_too = dropped & (self.rng.random(self.n) < 0.5)
        suffix_rate = self.rate("address_drop_suffix")
        short = present & (self.rng.random(self.n) < suffix_rate)
        self.log.count(fld, "drop_suffix", int(present.sum()), float(present.sum()) * suffix_rate)
        former_city = pa.array([f[0] if f else "" for f in _FORMER]).take(pa.array(county))
        former_county = pa.array([f[1] if f else "" for f in _FORMER]).take(pa.array(county))
        province = county_column("province", county)
        city = pc.if_else(pa.array(outdated), former_city, county_column("city", county))
        cname = pc.if_else(pa.array(outdated), former_county, county_column("name", county))
        province = pc.if_else(pa.array(short), pc.replace_substring_regex(
            province, "(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$", ""), province)
        city = pc.if_else(pa.array(short), pc.replace_substring_regex(city, "市$", ""), city)
        province = pc.if_else(pa.array(dropped), "", province)
        city = pc.if_else(pa.array(city_too), "", city)
        written = join(province, city, cname, self.snap.address.detail)
        true = self.values[fld]
        for kind, mask in (("outdated_division", outdated), ("drop_prefix", dropped),
                           ("drop_suffix", short)):
            rows = np.flatnonzero(mask)
            self.log.add(fld, kind, rows, true.take(pa.array(rows)), written.take(pa.array(rows)))
        changed = outdated | dropped | short
        self.values[fld] = pc.if_else(pa.array(changed), written, true)
        self.touched[fld] |= changed

    def enterprise_name(self, ent: Enterprises, entity: IntArray) -> None:
        """Enterprise-name errors: missing, branch/head-office confusion, former name,
        abbreviation, legal-form variant, region prefix dropped or added, traditional."""
        fld = "name"
        every = self.everyone()
        self.apply(fld, "missing", every, self.rate("field_missing"), _missing)
        branch = ent.branch[entity]
        rows = self.choose(fld, "branch_confusion", branch, self.rate("branch_confusion"))
        if len(rows):
            parent = ent.parent[entity[rows]]
            parent_renamed = pa.array(self.snap.as_of[rows] >= ent.rename[parent])
            parent_name = pc.if_else(parent_renamed, ent.name_new.take(pa.array(parent)),
                                     ent.name_old.take(pa.array(parent)))
            self.replace(fld, "branch_confusion", rows, to_list(self.values[fld], rows),
                         parent_name.to_pylist())
        renamed = self.snap.as_of >= ent.rename[entity]
        former_rate = min(1.0, self.config.former_name_per_year * self.age_years)
        rows = self.choose(fld, "former_name", renamed, former_rate)
        if len(rows):
            self.replace(fld, "former_name", rows, to_list(self.values[fld], rows),
                         ent.name_old.take(pa.array(entity[rows])).to_pylist())
        plain = ~branch
        rows = self.choose(fld, "abbreviated", plain, self.rate("abbreviated_name"))
        if len(rows):
            cores = pc.if_else(pa.array(renamed[rows]), ent.core_new.take(pa.array(entity[rows])),
                               ent.core_old.take(pa.array(entity[rows])))
            self.replace(fld, "abbreviated", rows, to_list(self.values[fld], rows),
                         cores.to_pylist())
        forms = ent.legal_form.take(pa.array(entity)).to_pylist()
        rows = self.choose(fld, "legal_form_variant", plain, self.rate("legal_form_variant"))
        if len(rows):
            old = to_list(self.values[fld], rows)
            new = [v[: -len(forms[r])] + words.LEGAL_FORM_VARIANTS[forms[r]]
                   if v is not None and v.endswith(forms[r]) else v
                   for v, r in zip(old, rows, strict=True)]
            self.replace(fld, "legal_form_variant", rows, old, new)
        rows = self.choose(fld, "region_prefix", plain, self.rate("region_prefix"))
        if len(rows):
            old = to_list(self.values[fld], rows)
            regions = ent.region.take(pa.array(entity[rows])).to_pylist()
            new = [v[len(g):] if v is not None and v.startswith(g) else f"{g}{v}"
                   for v, g in zip(old, regions, strict=True)]
            self.replace(fld, "region_prefix", rows, old, new)
        self.apply(fld, "traditional", self._convertible(fld), self.rate("traditional"),
                   _traditional)

    def credit_code(self, ent: Enterprises, entity: IntArray) -> None:
        """Credit-code errors: missing, legacy registration number or organisation code in
        pre-2016 snapshots, one-character typo."""
        fld = "credit_code"
        if fld not in self.values:
            return
        every = self.everyone()
        self.apply(fld, "missing", every, self.rate("credit_code_missing"), _missing)
        if self.pre2016:
            reg = ent.reg_number.take(pa.array(entity))
            has_reg = pc.is_valid(reg).to_numpy(zero_copy_only=False)
            rows = self.choose(fld, "old_reg_number", has_reg, self.rate("old_reg_number_pre2016"))
            if len(rows):
                self.replace(fld, "old_reg_number", rows, to_list(self.values[fld], rows),
                             to_list(reg, rows))
            rows = self.choose(fld, "org_code", every, self.rate("org_code_pre2016"))
            if len(rows):
                orgs = to_list(ent.org_code.take(pa.array(entity)), rows)
                u = self.rng.random(len(rows))
                new: list[str | None] = [
                    _org_instead(o or "", float(x)) for o, x in zip(orgs, u, strict=True)]
                self.replace(fld, "org_code", rows, to_list(self.values[fld], rows), new)
        self.apply(fld, "typo", every, self.rate("credit_code_typo"), _typo(USCC_ALPHABET, 18))


def corrupt_persons(snap: Snapshot, config: SynthConfig, rng: np.random.Generator,
                    persons: Persons) -> ErrorLog:
    """Apply the person error model to ``snap`` (values replaced in place)."""
    c = Corruptor(snap, config, rng)
    c.log_stale()
    born_early = persons.birth[snap.entity] < day("1985-01-01")
    c.identity("id_number", persons.id_number, born_early & ~persons.hmt[snap.entity])
    c.person_name("name", persons.hmt[snap.entity])
    c.simple("birth_date", "missing", c.rate("birth_date_missing"), _missing)
    c.simple("birth_date", "wrong_value", c.rate("registration_error"), _shift_date)
    c.simple("sex", "missing", c.rate("sex_missing"), _missing)
    c.simple("phone", "missing", c.rate("phone_missing"), _missing)
    c.simple("phone", "typo", c.rate("phone_typo"), _typo("0123456789", 11))
    c.address()
    return c.log


def corrupt_enterprises(snap: Snapshot, config: SynthConfig, rng: np.random.Generator,
                        ent: Enterprises, persons: Persons) -> ErrorLog:
    """Apply the enterprise error model to ``snap`` (values replaced in place)."""
    c = Corruptor(snap, config, rng)
    c.log_stale()
    entity = snap.entity
    c.enterprise_name(ent, entity)
    c.credit_code(ent, entity)
    c.person_name("legal_rep_name", None)
    if "legal_rep_id" in c.values:
        ids = c.values["legal_rep_id"]
        year = pc.cast(pc.utf8_slice_codeunits(ids, 6, 10), pa.int64())
        early = pc.fill_null(pc.less(year, 1985), False).to_numpy(zero_copy_only=False)
        c.identity("legal_rep_id", persons.id_number, early)
    for fld in ("established_date", "capital", "status", "customs_code"):
        c.simple(fld, "missing", c.rate("field_missing"), _missing)
    c.address()
    return c.log

