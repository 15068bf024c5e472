"""Compare stage: an int8 level per comparison for every candidate pair, on whole columns.

Every comparison works on dictionary codes: each column is dictionary-encoded once (long
fixed-width values such as ID numbers as fixed-size binary), a pair becomes two integer
codes, equality is an integer test, and the similarity function runs once per *distinct*
unordered (left value, right value) pair of the whole run (found by sorting the code
pairs: blocked candidates repeat value pairs several times over, since the records of one
entity pair with the records of another); its level is taken there, so filling the pairs
in moves one byte each. A comparator gets only the values some pair uses, as an Arrow
array, preprocesses each once (pinyin, byte matrices, legal forms) and scores pairs
column-wise (NumPy, or rapidfuzz ``process.cpdist``); see :mod:`linkage.match.comparators`.
Pairs a derived column already settles as "else" (``CAPPED_APART``: addresses in two
counties) skip the sorting and the comparator. Pairs are processed in small slabs
(temporaries stay in cache and bounded whatever the number of pairs; the pairs' row
positions are looked up per slab, never held whole), and comparisons run on threads,
the costliest first.

Levels: -1 when a side is null, 0 for "else", 1..k for each similarity threshold passed
(thresholds ascending), k+1 for exact equality. Besides ``gamma_<name>`` (int8), a
comparison may add (``sim_<name>``, float32, the raw similarity, only when asked for):

* ``tf_<name>`` (float32): term frequency of the more common of the two values (share of
  records holding it), for term-frequency adjustment in scoring;
* ``ml_<name>`` / ``cl_<name>`` (bool): both values valid (status "ok...") and equal /
  different, for must-link rules and cannot-link constraints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import SchemaError
from linkage.match.comparators import (
    CAPPED_APART,
    DERIVED_INPUTS,
    METHODS,
    default_thresholds,
    similarity,
)
from linkage.match.comparators.expressions import apply_transforms, transform_problem
from linkage.match.comparators.general import count_to_similarity, distance_to_similarity
from linkage.match.comparators.strings import Codes, scoring_workers
from linkage.match.encoding import ColumnCodes, Positions, encode_column
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

#: pairs per slab of the compare loop (bounds its temporaries)
_SLAB = 1 << 14
#: record ids below this go through a lookup table (at most 64 MB of int32) however few
#: records there are (see :class:`_PairRows`)
_LOOKUP_IDS = 1 << 24
#: a pair's level while it is settled as "else" by ``CAPPED_APART`` (0 once filled in)
_APART = np.int8(-2)

#: rough relative cost of a method per pair (string scoring > positional codes > exact;
#: encoding the column, which every method pays, is the 1 of "exact"), for scheduling
#: comparisons on threads (see :func:`_cost`)
_COST = {"address": 3, "person_name": 3, "enterprise_name": 3, "token_set": 3,
         "jaro_winkler": 2, "jaro": 2, "levenshtein": 2, "damerau_levenshtein": 2, "indel": 2,
         "id_number": 2, "credit_code": 2, "date": 1, "numeric": 1, "exact": 1,
         "abs_diff": 1, "date_diff": 1, "token_jaccard": 2, "array_intersect": 2}

Method = Literal[
    "exact",
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "damerau_levenshtein",
    "indel",
    "token_set",
    "numeric",
    "id_number",
    "credit_code",
    "person_name",
    "enterprise_name",
    "address",
    "date",
    "abs_diff",
    "date_diff",
    "token_jaccard",
    "array_intersect",
]
#: methods whose levels may be distances (``within``); the string ones then count edits
_EDIT_METHODS = ("levenshtein", "damerau_levenshtein", "indel")
_WITHIN_METHODS = (*_EDIT_METHODS, "abs_diff", "date_diff")
#: the unit of a ``date_diff`` comparison's ``within`` levels
DateUnit = Literal["days", "months", "years"]
#: how a cross-column comparison combines its two directions (see ``Comparison``)
CrossMode = Literal["either", "both"]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """An ordered list of levels for one field: null (-1), else (0), then one level per
    threshold (ascending strictness), then exact (highest).

    ``thresholds`` empty means the method's default levels (see
    :func:`linkage.match.comparators.default_thresholds`); plain string methods then have just
    exact / else. ``must_link``: both values valid and equal is a deterministic link
    (e.g. the same valid ID number). ``cannot_link``: both values valid and different
    means never the same entity (two different valid 18-digit ID numbers).
    """

    name: str
    field: str
    method: Method = "jaro_winkler"
    thresholds: tuple[float, ...] = ()
    term_frequency: bool = False
    must_link: bool = False
    cannot_link: bool = False
    #: levels as distances instead of similarities, in any order: edit counts for
    #: ``levenshtein`` / ``damerau_levenshtein`` / ``indel``, ``|x - y|`` for ``abs_diff``,
    #: the gap in ``unit`` for ``date_diff`` (``within = [1, 5]``: within 5, within 1)
    within: tuple[float, ...] = ()
    unit: DateUnit = "days"
    #: ``array_intersect`` levels: at least this many shared items (any order)
    min_shared: tuple[int, ...] = ()
    #: expressions applied to both values before comparing, in order: ``lower``,
    #: ``upper``, ``first_token``, ``last_token``, ``digits``, ``substring:<start>:<stop>``
    #: (see :mod:`linkage.match.comparators.expressions`)
    transform: tuple[str, ...] = ()
    #: cross-column comparison: ``field`` of one record against ``other_field`` of the
    #: other, both ways (a former name against a name; a first name against a surname);
    #: ``cross = "either"`` takes the better direction, ``"both"`` the worse (swapped first
    #: and last names: both directions must agree); ``must_link`` then links a pair whose
    #: valid ``field`` of one record equals the valid ``other_field`` of the other (a
    #: legacy registration number in its own column and in another department's code
    #: column)
    other_field: str | None = None
    cross: CrossMode = "either"
    #: a cross-column comparison at its highest level explains why the plain comparisons
    #: on ``field`` and ``other_field`` disagree: below their highest level they count as
    #: null on that pair (a name that is the other record's former name differs from its
    #: name by the rename, which says nothing against the match)
    explains: bool = False

    def __post_init__(self) -> None:
        self._check_general()
        if any(not 0.0 < t <= 1.0 for t in self.thresholds):
            raise ValueError(f"comparison {self.name!r}: thresholds must be within (0, 1]")
        if list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError(f"comparison {self.name!r}: thresholds must be strictly ascending")
        if not self.name.isidentifier():
            raise ValueError(f"comparison {self.name!r}: name must be an identifier")

    def _check_general(self) -> None:
        """Checks of the general options (distances, counts, expressions, cross)."""
        name = repr(self.name)
        levels = [bool(self.thresholds), bool(self.within), bool(self.min_shared)]
        if sum(levels) > 1:
            raise ValueError(f"comparison {name}: give one of thresholds, within, min_shared")
        if self.within:
            if self.method not in _WITHIN_METHODS:
                raise ValueError(f"comparison {name}: within is for methods "
                                 f"{', '.join(_WITHIN_METHODS)}, not {self.method!r}")
            if any(w < 0 for w in self.within) or len(set(self.within)) != len(self.within):
                raise ValueError(f"comparison {name}: within must be distinct and >= 0")
        elif self.method in ("abs_diff", "date_diff"):
            raise ValueError(f"comparison {name}: {self.method} needs within = [...] levels")
        if self.min_shared:
            if self.method != "array_intersect":
                raise ValueError(f"comparison {name}: min_shared is for array_intersect")
            if any(k < 1 for k in self.min_shared) or \
                    len(set(self.min_shared)) != len(self.min_shared):
                raise ValueError(f"comparison {name}: min_shared must be distinct and >= 1")
        problem = transform_problem(self.transform)
        if problem:
            raise ValueError(f"comparison {name}: {problem}")
        if self.explains and self.other_field is None:
            raise ValueError(f"comparison {name}: explains is for cross-column comparisons")
        if self.other_field is not None and (self.cannot_link or self.term_frequency
                                             or (self.must_link and self.cross != "either")):
            raise ValueError(f"comparison {name}: a cross-column comparison takes no "
                             "cannot_link or term_frequency, and must_link only with "
                             "cross = \"either\"")

    @property
    def scorer(self) -> str:
        """The similarity function's name: the method's, or its edit-count / date-unit
        form (``levenshtein`` with ``within`` -> ``levenshtein_edits``)."""
        if self.method == "date_diff":
            return f"date_diff_{self.unit}"
        if self.within and self.method in _EDIT_METHODS:
            return f"{self.method}_edits"
        return self.method

    @property
    def levels_thresholds(self) -> tuple[float, ...]:
        """The thresholds in force (the declared ones or the method's defaults), as
        similarities: distances ``within`` d become ``1 / (1 + d)`` and shared-item
        counts c ``c / (1 + c)``, as the general comparators score them."""
        if self.within:
            return tuple(float(x) for x in np.sort(distance_to_similarity(
                np.asarray(self.within, dtype=np.float64)).astype(np.float32)))
        if self.min_shared:
            return tuple(float(x) for x in np.sort(count_to_similarity(
                np.asarray(self.min_shared, dtype=np.float64)).astype(np.float32)))
        if self.thresholds:
            return self.thresholds
        return default_thresholds(self.method)

    @property
    def n_levels(self) -> int:
        """Number of non-null levels: else, one per threshold, exact."""
        return len(self.levels_thresholds) + 2

    @property
    def top_level(self) -> int:
        """The exact-agreement level."""
        return len(self.levels_thresholds) + 1

    def describe_level(self, level: int) -> str:
        """The level in words, for explanations and charts."""
        ts = self.levels_thresholds
        if level < 0:
            return f"{self.field} missing on a side"
        if level == 0:
            return f"{self.field} different"
        if level == len(ts) + 1:
            return f"{self.field} exactly equal"
        if self.within:
            unit = {"date_diff": f" {self.unit}", "abs_diff": ""}.get(self.method, " edits")
            return f"{self.field} within {sorted(self.within, reverse=True)[level - 1]:g}{unit}"
        if self.min_shared:
            return f"{self.field} shares >= {sorted(self.min_shared)[level - 1]} items"
        return f"{self.field} {self.method} similarity >= {ts[level - 1]:g}"

    def describe_levels(self) -> list[str]:
        """Every level's description, from -1 (null) to the top level."""
        return [self.describe_level(lv) for lv in range(-1, self.top_level + 1)]


def compare(
    records: pa.Table,
    pairs: pa.Table,
    comparisons: Sequence[Comparison],
    *,
    workers: int | None = None,
    similarities: bool = False,
    codes: ColumnCodes | None = None,
) -> pa.Table:
    """ComparisonVectors for ``pairs`` (id_l, id_r, gamma_<name> int8, plus tf_/ml_/cl_
    columns where the comparison asks for them, and ``sim_<name>`` float32 when
    ``similarities``: scoring and explanations read levels only, and the raw
    similarities cost 4 bytes a pair and comparison).

    ``codes``: the :class:`~linkage.match.encoding.ColumnCodes` blocking filled for these very
    records, so columns blocking already hashed are not hashed again (ignored when it
    belongs to another table).

    Comparisons run in ``workers`` threads (default: one per CPU, at most 4): most of a
    comparison's time is spent in Arrow, NumPy and rapidfuzz, which release the GIL, so
    one comparison's hashing overlaps another's string scoring. Each comparison's result
    is independent of the others, so the output never depends on the thread count."""
    require_fields(records, ["record_id"], what="compare(records)")
    require_fields(pairs, ["id_l", "id_r"], what="compare(pairs)")
    for comp in comparisons:
        require_fields(records, [comp.field, *([comp.other_field] if comp.other_field else [])],
                       what=f"comparison {comp.name!r}")
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise SchemaError(f"comparison names must be unique, got {names}")
    rows = _PairRows(_int64(records.column("record_id")),
                     pairs.column("id_l"), pairs.column("id_r"))
    # the pairs' own id columns are the output's (no second copy of them)
    columns: dict[str, pa.ChunkedArray | npt.NDArray[np.generic]] = {
        side: pc.cast(pairs.column(side), pa.int64()) for side in ("id_l", "id_r")}
    cache = codes if codes is not None and codes.records is records else None
    n_workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if n_workers > 1 and len(comparisons) > 1 and rows.n:
        # the costliest comparisons start first, so no long one is left running alone
        order = sorted(range(len(comparisons)), key=lambda i: -_cost(comparisons[i]))
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            futures = {i: pool.submit(_compare_on_thread, records, rows,
                                      comparisons[i], similarities, cache)
                       for i in order}
            results = [futures[i].result() for i in range(len(comparisons))]
    else:
        results = [_compare_one(records, rows, comp, similarities, cache)
                   for comp in comparisons]
    for result in results:
        columns.update(result)
    _explained(columns, comparisons)
    log.info("compare: %d pairs x %d comparisons", rows.n, len(comparisons))
    return pa.table(columns)


def _explained(columns: dict[str, Any], comparisons: Sequence[Comparison]) -> None:
    """Where a cross-column comparison with ``explains`` is at its highest level, the plain
    comparisons on its two fields count as null below their own highest level (in place;
    their ``tf_`` frequency is then unused, as for any null level)."""
    for cross in comparisons:
        if not cross.explains or cross.other_field is None:
            continue
        agree = np.asarray(columns[f"gamma_{cross.name}"]) == cross.top_level
        if not agree.any():
            continue
        for comp in comparisons:
            if comp.other_field is not None or comp.field not in (cross.field,
                                                                  cross.other_field):
                continue
            gamma = np.array(columns[f"gamma_{comp.name}"], dtype=np.int8)
            gamma[agree & (gamma < comp.top_level)] = -1
            columns[f"gamma_{comp.name}"] = gamma


def compared_columns(comparisons: Sequence[Comparison]) -> set[str]:
    """Every column :func:`compare` hashes for ``comparisons`` (their fields, and the
    derived columns ``CAPPED_APART`` reads): what a :class:`~linkage.match.encoding.ColumnCodes`
    shared with blocking should keep."""
    columns = {c.field for c in comparisons}
    for c in comparisons:
        rule = CAPPED_APART.get(c.method)
        if rule is not None:
            columns.add(f"{c.field}__{rule[0]}")
    return columns


def read_columns(columns: Sequence[str], comparisons: Sequence[Comparison]) -> list[str]:
    """Of ``columns`` (a record table's), the ones :func:`compare` reads for
    ``comparisons``, in table order: ``record_id``, each field, the derived columns its
    method uses (``DERIVED_INPUTS``, ``CAPPED_APART``), and ``<field>__status`` /
    ``__masked`` for must-link and cannot-link rules. A sample meant for compare keeps
    only these, so it neither copies nor pages in the others."""
    wanted = {"record_id", *compared_columns(comparisons)}
    wanted.update(c.other_field for c in comparisons if c.other_field is not None)
    for c in comparisons:
        wanted.update(f"{c.field}__{d}" for d in DERIVED_INPUTS.get(c.method, ()))
        if c.must_link or c.cannot_link:
            for f in (c.field, *([c.other_field] if c.other_field else [])):
                wanted.update((f"{f}__status", f"{f}__masked", f"{f}__unreliable"))
    return [c for c in columns if c in wanted]


def _cost(comp: Comparison) -> int:
    """Rough relative cost of a comparison: its method's, plus one for term frequencies
    (an exact phone comparison with them costs about what a date comparison does)."""
    return _COST[comp.method] + int(comp.term_frequency)


def _compare_on_thread(
    records: pa.Table,
    rows: _PairRows,
    comp: Comparison,
    similarities: bool,
    cache: ColumnCodes | None,
) -> dict[str, npt.NDArray[np.generic]]:
    """:func:`_compare_one` beside other comparisons: its string scoring takes one core
    (the threads already keep the cores busy; rapidfuzz threads on top only contend)."""
    with scoring_workers(1):
        return _compare_one(records, rows, comp, similarities, cache)


def _compare_one(
    records: pa.Table,
    rows: _PairRows,
    comp: Comparison,
    similarities: bool = False,
    cache: ColumnCodes | None = None,
    encoded: tuple[pa.Array, Positions, Positions] | None = None,
) -> dict[str, npt.NDArray[np.generic]]:
    """One comparison's columns (``encoded``: values and the left and right records'
    codes into them, given by a cross-column comparison for one direction). The column
    is encoded once (or read from ``cache``, the codes of ``records`` blocking already
    made); one pass over slabs of pairs settles the null and equal pairs and collects
    the others' value pairs; the similarity runs once per distinct value pair of the
    whole run and is turned into a level there, so filling the pairs in moves one byte
    per pair. Per-pair temporaries never exceed
    one slab (and int8 / bool columns)."""
    if encoded is None and comp.other_field is not None:
        return _compare_cross(records, rows, comp, similarities)
    # the field's own values: its derived columns, its shortcut and the shared codes apply
    plain = encoded is None and not comp.transform
    if encoded is not None:
        uniques, codes, codes_r = encoded
    else:
        uniques, codes = (encode_column(apply_transforms(records.column(comp.field),
                                                         comp.transform))
                          if comp.transform else
                          cache.get(comp.field) if cache is not None and comp.field in cache
                          else encode_column(records.column(comp.field)))
        codes_r = codes
    n = rows.n
    top = np.int8(comp.top_level)
    scored = comp.method != "exact"  # "exact" has no similarity: unequal is level 0
    gamma = np.empty(n, dtype=np.int8)  # -1 null, top equal, 0 "needs a similarity"
    tf = _term_frequencies(codes, len(uniques)) if comp.term_frequency else None
    tf_pair = np.empty(n, dtype=np.float32) if tf is not None else None
    valid = (_valid_mask(records, comp.field, uniques, codes)
             if comp.must_link or comp.cannot_link else None)
    apart = (_apart_codes(records, comp, codes, len(uniques), similarities, cache)
             if plain else None)
    must = np.empty(n, dtype=bool) if comp.must_link else None
    cannot = np.empty(n, dtype=bool) if comp.cannot_link else None
    width = max(len(uniques), 1)
    # an unordered value pair is one integer key; sized for every pair, but pages past
    # the pairs that need a similarity are never touched
    keys = np.empty(n if scored else 0, dtype=np.int64)
    n_keys = 0
    for part, pos_l, pos_r in rows.slabs(_SLAB):
        cl, cr = codes[pos_l], codes_r[pos_r]
        equal = cl == cr
        level = equal.view(np.int8) * top
        level[(cl < 0) | (cr < 0)] = -1
        if tf is not None and tf_pair is not None:
            # a null's code (-1) picks the appended NaN: the pair has no frequency
            tf_pair[part] = np.maximum(tf[cl], tf[cr])
        if valid is not None:
            both = valid[pos_l] & valid[pos_r]
            if must is not None:
                must[part] = both & (level == top)
            if cannot is not None:
                cannot[part] = both & (level == 0)  # narrowed by the similarity below
        if apart is not None:
            side_l, side_r = apart[pos_l], apart[pos_r]
            level[(level == 0) & (side_l >= 0) & (side_r >= 0) & (side_l != side_r)] = _APART
        gamma[part] = level
        if scored:
            todo = level == 0
            lo, hi = cl[todo], cr[todo]
            key = np.minimum(lo, hi).astype(np.int64)
            key *= np.int64(width)
            key += np.maximum(lo, hi)
            keys[n_keys:n_keys + len(key)] = key
            n_keys += len(key)
    sims = None
    if similarities and scored:
        sims = np.full(n, np.nan, dtype=np.float32)
        sims[gamma == top] = 1.0
    if scored and n_keys:
        # per distinct value pair: similarity, level (NaN: "not comparable", the null
        # level) and whether a cannot-link survives (two comparable values below the
        # highest level: equal after a legacy upgrade, or a credit code holding the
        # other's organisation code, is no conflict)
        ts = comp.levels_thresholds
        floor = None if similarities or not ts else ts[0]
        inverse, lo, hi = _distinct_pairs(keys[:n_keys], width)
        del keys
        sub, lo, hi, derived = _values_in_use(records, comp, uniques, codes, lo, hi, plain)
        del uniques, codes, codes_r  # from here on the comparator's values are all it needs
        distinct_sims = np.asarray(similarity(comp.scorer, sub, lo, hi, derived, None,
                                              floor=floor), dtype=np.float32)
        del sub, derived, lo, hi
        comparable = ~np.isnan(distinct_sims)
        levels = np.searchsorted(np.asarray(ts, dtype=np.float32),
                                 np.where(comparable, distinct_sims, np.float32(0.0)),
                                 side="right").astype(np.int8)
        levels[~comparable] = -1
        todo_mask = gamma == 0
        gamma[todo_mask] = levels[inverse]
        if cannot is not None:
            below = comparable & (distinct_sims < np.float32(ts[-1] if ts else 1.0))
            cannot[todo_mask] &= below[inverse]
        if sims is not None:
            sims[todo_mask] = distinct_sims[inverse]
    if apart is not None:
        gamma[gamma == _APART] = 0  # below the lowest threshold: "else"
    out: dict[str, npt.NDArray[np.generic]] = {f"gamma_{comp.name}": gamma}
    if sims is not None:
        out[f"sim_{comp.name}"] = sims
    if tf_pair is not None:
        out[f"tf_{comp.name}"] = tf_pair
    if must is not None:
        out[f"ml_{comp.name}"] = must
    if cannot is not None:
        out[f"cl_{comp.name}"] = cannot
    return out


def _compare_cross(
    records: pa.Table, rows: _PairRows, comp: Comparison, similarities: bool,
) -> dict[str, npt.NDArray[np.generic]]:
    """A cross-column comparison: ``field`` of the left record against ``other_field`` of
    the right one, then the other way round, on one encoding of both columns; the pair's
    level is the better of the two (``cross = "either"``) or the worse (``"both"``)."""
    assert comp.other_field is not None
    columns = [records.column(comp.field), records.column(comp.other_field)]
    if comp.transform:
        columns = [pa.chunked_array([apply_transforms(c, comp.transform)]) for c in columns]
    columns = [pc.cast(c, pa.string()) if not pa.types.is_string(c.type) else c
               for c in columns]
    n = records.num_rows
    uniques, codes = encode_column(pa.chunked_array([*columns[0].chunks, *columns[1].chunks],
                                                    pa.string()))
    mine, other = codes[:n], codes[n:]
    plain = replace(comp, must_link=False)
    forward = _compare_one(records, rows, plain, similarities, None, (uniques, mine, other))
    backward = _compare_one(records, rows, plain, similarities, None, (uniques, other, mine))
    pick = np.maximum if comp.cross == "either" else np.minimum
    out: dict[str, npt.NDArray[np.generic]] = {}
    if comp.must_link:
        # one record's valid field equal to the other's valid other field, either way
        valid_f = _valid_mask(records, comp.field, uniques, mine)
        valid_o = _valid_mask(records, comp.other_field, uniques, other)
        top = comp.top_level
        g_f, g_b = forward[f"gamma_{comp.name}"], backward[f"gamma_{comp.name}"]
        must = np.empty(rows.n, dtype=bool)
        for part, pos_l, pos_r in rows.slabs(_SLAB):
            must[part] = ((valid_f[pos_l] & valid_o[pos_r] & (g_f[part] == top))
                          | (valid_o[pos_l] & valid_f[pos_r] & (g_b[part] == top)))
        out[f"ml_{comp.name}"] = must
    for name, column in forward.items():
        if name.startswith("sim_"):
            f, b = column.astype(np.float32), backward[name].astype(np.float32)
            best = pick(np.nan_to_num(f, nan=-1.0), np.nan_to_num(b, nan=-1.0))
            best[best < 0] = np.nan
            out[name] = best
        else:
            out[name] = pick(column, backward[name])
    return out


def _apart_codes(
    records: pa.Table, comp: Comparison, codes: Positions, n_values: int, similarities: bool,
    cache: ColumnCodes | None = None,
) -> Positions | None:
    """Per row, the code of its value's derived column whose disagreement caps the
    method's similarity below the comparison's lowest threshold (``CAPPED_APART``: an
    address in another county), or None. Pairs apart on it are "else" without a
    similarity: they skip the value-pair sorting and the comparator. Read like the
    comparator reads derived columns (one representative row per value), so the levels
    are the comparator's. Not when raw similarities are asked for (the comparator then
    scores those pairs to give the capped value)."""
    rule = CAPPED_APART.get(comp.method)
    if rule is None or similarities:
        return None
    derived, cap = rule
    column = f"{comp.field}__{derived}"
    ts = comp.levels_thresholds
    if column not in records.column_names or not ts or ts[0] <= cap or n_values == 0:
        return None
    row_codes = (cache.get(column)[1] if cache is not None and column in cache
                 else encode_column(records.column(column))[1])
    out: Positions = row_codes[_representatives(codes, n_values)][codes]
    return out  # (a null row reads a value it never uses: its pairs are settled as null)


def _representatives(codes: Positions, n_values: int) -> Positions:
    """One row per value (its last), for reading columns that are functions of the value;
    0 for a value no row holds (the blank one, whose rows are null)."""
    rep = np.zeros(n_values, dtype=np.int32)
    rows = np.flatnonzero(codes >= 0).astype(np.int32)
    rep[codes[rows]] = rows  # (a null's code, -1, would index the last value)
    return rep


def _term_frequencies(codes: Positions, n_values: int) -> npt.NDArray[np.float32]:
    """Share of non-null records holding each value, then NaN (read by code -1)."""
    freq = np.bincount(codes[codes >= 0], minlength=n_values).astype(np.float64)
    total = freq.sum()
    share = np.asarray(freq / total if total else freq, dtype=np.float32)
    return np.append(share, np.float32(np.nan))  # the slot code -1 (null) reads


def _derived_columns(records: pa.Table, comp: Comparison) -> dict[str, pa.ChunkedArray]:
    """Derived columns of the field that the method can use instead of recomputing them
    (e.g. the standardiser's ``name__pinyin``)."""
    return {d: records.column(f"{comp.field}__{d}") for d in DERIVED_INPUTS.get(comp.method, ())
            if f"{comp.field}__{d}" in records.column_names}


def _distinct_pairs(keys: npt.NDArray[np.int64], width: int) -> tuple[Positions, Codes, Codes]:
    """Each key's index into the distinct keys (ascending) and those keys' value codes
    (lo, hi): the keys are unordered value pairs ``lo * width + hi``, and blocked
    candidates repeat them heavily (the records of one entity pair with the records of
    another), so each distinct pair is scored once. ``keys`` is overwritten.

    By sorting in place, each key packed with its own index into one int64 when both fit
    (width² times the number of keys below 2**63: e.g. a million distinct values and eight
    million keys), so no permutation array is needed; wider runs take an argsort. On
    synth 1M's keys (1.6M to 1.9M per comparison) Arrow's hash-based dictionary encoding
    peaked at +62 MB (its memo table), this at +27 to +32 MB, in about the same time
    (0.13-0.15 s against 0.13-0.19 s)."""
    m = len(keys)
    shift = max((m - 1).bit_length(), 1)
    if (max(width * width - 1, 1)).bit_length() + shift > 63:
        order = np.argsort(keys)  # too wide to pack: a permutation after all
        keys[:] = keys[order]
        index = order.astype(np.int32)
        del order
    else:
        keys <<= shift
        for at in range(0, m, _SLAB):  # (a slab at a time: no m-long temporary)
            keys[at:at + _SLAB] |= np.arange(at, min(at + _SLAB, m), dtype=np.int64)
        keys.sort(kind="stable")  # timsort: blocked keys come in runs (1.6x faster here)
        index = np.empty(m, dtype=np.int32)
        np.bitwise_and(keys, (1 << shift) - 1, out=index, casting="unsafe")
        keys >>= shift
    first = np.empty(m, dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    distinct = keys[first]
    group = np.cumsum(first, dtype=np.int32)
    group -= 1
    del first
    inverse = np.empty(m, dtype=np.int32)
    inverse[index] = group
    return inverse, distinct // width, distinct % width


def _values_in_use(
    records: pa.Table, comp: Comparison, uniques: pa.Array, codes: Positions, lo: Codes,
    hi: Codes, plain: bool = True,
) -> tuple[pa.Array, Codes, Codes, dict[str, pa.Array]]:
    """The values some pair uses (an Arrow array: a comparator prepares only those), the
    pairs' codes into them, and the method's derived columns aligned with them (only for
    the field's own values: not ``plain`` ones, transformed or cross-column, have none)."""
    used = np.zeros(len(uniques), dtype=bool)
    used[lo] = True
    used[hi] = True
    kept = np.flatnonzero(used)
    remap = np.cumsum(used, dtype=np.int64) - 1
    sub = uniques.take(pa.array(kept))  # a dictionary holds no null
    derived: dict[str, pa.Array] = {}
    aux = _derived_columns(records, comp) if plain else {}
    if aux:
        # one representative row per value: derived columns are functions of the value
        take = pa.array(_representatives(codes, len(uniques))[kept])
        derived = {name: column.take(take).combine_chunks() for name, column in aux.items()}
    return sub, remap[lo], remap[hi], derived


def _valid_mask(
    records: pa.Table, field: str, uniques: pa.Array, codes: Positions
) -> npt.NDArray[np.bool_]:
    """Rows whose value is usable and valid: status "ok..." when a status column exists,
    else non-null; masked values (``<field>__masked`` true or a ``*``) and values the
    reader marked unreliable (``<field>__unreliable``: digits lost in a float) never
    count."""
    valid = codes >= 0
    status_col = f"{field}__status"
    if status_col in records.column_names:
        status = records.column(status_col).combine_chunks()
        ok = pc.fill_null(pc.starts_with(status, "ok"), False)
        valid &= np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    for marker in (f"{field}__masked", f"{field}__unreliable"):
        if marker in records.column_names:
            marked = pc.fill_null(records.column(marker).combine_chunks(), False)
            valid &= ~np.asarray(marked.to_numpy(zero_copy_only=False), dtype=bool)
    if len(uniques):  # a "*" looked for once per distinct value (null rows are invalid)
        star = np.asarray(pc.match_substring(uniques, "*").to_numpy(zero_copy_only=False),
                          dtype=bool)
        valid &= ~star[codes]
    return valid


class _PairRows:
    """The row positions in ``records`` of each pair's two records, handed out slab by
    slab and never held whole (two int32 columns would be 21 MB at 2.6M pairs, kept
    through the whole compare stage). Record ids that are the row numbers themselves (as
    the pipeline assigns them) are their own positions; other non-negative ids up to
    :data:`_LOOKUP_IDS` (or a few times the records) go through a lookup table, any others
    through a sorted search. Every id is checked once, up front, so an unknown one is an
    error before any comparison starts.

    The u sample's records are a random subset of a type's (50,000 of 820,000 persons at
    1M records): a sorted search there cost every comparison a binary search per pair
    side, about half of comparing 500,000 random pairs on an exact field; the table
    (4 bytes per id up to the largest, 3.3 MB there) costs one read."""

    def __init__(
        self,
        record_ids: npt.NDArray[np.int64],
        id_l: pa.ChunkedArray | pa.Array | npt.NDArray[np.int64],
        id_r: pa.ChunkedArray | pa.Array | npt.NDArray[np.int64],
    ) -> None:
        n = len(record_ids)
        self._left, self._right = _aligned(_int64_chunks(id_l), _int64_chunks(id_r))
        self.n = sum(len(c) for c in self._left)
        if n == 0 and self.n:
            raise SchemaError("compare: pairs refer to records but the record table is empty")
        self._hi = int(record_ids.max()) if n else -1
        self._identity = bool(n) and bool(np.array_equal(record_ids, np.arange(n)))
        self._lookup: Positions | None = None
        self._order: Positions | None = None
        self._sorted: npt.NDArray[np.int64] | None = None
        if n and not self._identity:
            if int(record_ids.min()) >= 0 and self._hi < max(4 * n + 1024, _LOOKUP_IDS):
                self._lookup = np.full(self._hi + 1, -1, dtype=np.int32)
                self._lookup[record_ids] = np.arange(n, dtype=np.int32)
            else:
                self._order = np.argsort(record_ids, kind="stable").astype(np.int32)
                self._sorted = record_ids[self._order]
        for chunk in (*self._left, *self._right):
            found = self._positions(chunk)
            if len(found) and found.min() < 0:
                missing = int(chunk[found < 0][0])
                raise SchemaError(f"compare: pair refers to record_id {missing}, not in records")

    def _positions(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.integer[Any]]:
        """Row positions of ``ids`` (-1 for an id no record has)."""
        hi = self._hi
        in_range = len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) <= hi)
        if self._identity:
            return ids if in_range else np.where((ids >= 0) & (ids <= hi), ids, -1)
        if self._lookup is not None:
            lookup = self._lookup
            return lookup[ids] if in_range else \
                np.where((ids >= 0) & (ids <= hi), lookup[np.clip(ids, 0, hi)], -1)
        assert self._order is not None and self._sorted is not None
        idx = np.clip(np.searchsorted(self._sorted, ids), 0, len(self._sorted) - 1)
        return np.where(self._sorted[idx] == ids, self._order[idx], -1)

    def slabs(self, size: int) -> Iterator[
        tuple[slice, npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]]]
    ]:
        """(pairs slice, left rows, right rows) for consecutive slabs of at most ``size``
        pairs (a slab never spans two chunks of the id columns)."""
        start = 0
        for ids_l, ids_r in zip(self._left, self._right, strict=True):
            for at in range(0, len(ids_l), size):
                part_l, part_r = ids_l[at:at + size], ids_r[at:at + size]
                yield (slice(start + at, start + at + len(part_l)),
                       self._positions(part_l), self._positions(part_r))
            start += len(ids_l)


def _aligned(
    left: list[npt.NDArray[np.int64]], right: list[npt.NDArray[np.int64]]
) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.int64]]]:
    """The two id columns' chunks, such that the i-th of both cover the same pairs: as
    they are when their chunk lengths agree (columns of one table), else each joined
    into one array."""
    if [len(c) for c in left] == [len(c) for c in right]:
        return left, right

    def joined(chunks: list[npt.NDArray[np.int64]]) -> list[npt.NDArray[np.int64]]:
        return [np.concatenate(chunks)] if chunks else []

    return joined(left), joined(right)


def _int64_chunks(
    column: pa.ChunkedArray | pa.Array | npt.NDArray[np.int64],
) -> list[npt.NDArray[np.int64]]:
    """The non-empty chunks of an id column as int64 NumPy arrays (zero-copy when they
    are int64 without nulls; a null id reads -1, which no record has)."""
    if isinstance(column, np.ndarray):
        return [np.asarray(column, dtype=np.int64)] if len(column) else []
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        if len(chunk):
            arr = pc.fill_null(pc.cast(chunk, pa.int64()), -1) if chunk.null_count else \
                pc.cast(chunk, pa.int64())
            out.append(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64))
    return out


def _int64(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


__all__ = ["METHODS", "Comparison", "Method", "compare", "compared_columns",
           "encode_column", "read_columns"]
