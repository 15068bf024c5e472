"""Consistency report: every disagreement per entity and field, classified.

Kinds (one row per entity, field and kind, with every record of the entity as candidate):

``format_only``        the departments wrote it differently but it standardises to one value
                       (or only one left out a name's ``·`` separator)
``vocabulary``         the same, for a field read through a vocabulary (departments' words
                       for one enterprise status: 正常 / 存续（在营、开业、在册）)
``missing``            some records lack the field while others have it (only records whose
                       department carries the field: one it never collects lacks nothing)
``invalid``            some record's value fails validation (check character, date, ...)
``stale``              a mutable field (address, phone, ...) whose older value was superseded
                       by a strictly newer, different valid value (``evidence`` names the
                       department and date of the newer one)
``typo``               an identifier, phone or date one substitution or one swap of
                       neighbours from the entity's golden value (:mod:`conflict_kinds`)
``homophone_or_lookalike``  a person's name one character of the same sound or of a
                       similar shape away from the golden one
``abbreviation``       an enterprise name abbreviating the golden one (or the reverse)
``value_conflict``     different valid values that time or the kinds above do not explain
``identity_conflict``  one valid ID number (credit code) held by records of different names
                       or birth dates that ended up in different entities, or one entity
                       whose valid birth dates differ

Everything is computed on whole columns: codes from dictionary encoding, per-entity counts
with ``np.unique``; candidate lists are slices of one sorted table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.conflict_kinds import (
    ABBREVIATION,
    NAME_VARIANT,
    TYPO,
    classifiable,
    explained,
)
from linkage.master.golden import entity_codes
from linkage.master.groups import (
    as_string,
    combine,
    distinct_per_group,
    record_rank,
    updated_days,
    value_codes,
)
from linkage.master.survivorship import fold_separators, fold_tails
from linkage.runtime.threads import field_workers
from linkage.schemas import CANDIDATE_VALUE, CONFLICTS, require_fields
from linkage.standardisers.stage import carried_rows

log = logging.getLogger(__name__)

__all__ = ["IDENTITY_KEYS", "KINDS", "MUTABLE_FIELDS", "SEVERITY", "ConflictConfig",
           "find_conflicts"]

KINDS = ("identity_conflict", "value_conflict", TYPO, NAME_VARIANT, ABBREVIATION, "stale",
         "invalid", "missing", "vocabulary", "format_only")

#: Fields whose value legitimately changes over time, per entity type: an older different
#: value there is stale rather than a conflict.
MUTABLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "person": ("address", "phone"),
    "enterprise": ("name", "address", "legal_rep_name", "legal_rep_id", "capital", "status"),
}

#: Identity key and the attributes that must agree among records sharing it.
IDENTITY_KEYS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "person": ("id_number", ("name", "birth_date")),
    "enterprise": ("credit_code", ("name",)),
}

#: Fields where a value conflict is serious because they identify the entity.
_IDENTIFYING = ("id_number", "credit_code", "birth_date", "sex", "established_date",
                "org_code", "reg_number")

#: Statuses (besides ``ok*``) whose values are still compared for stale values and conflicts.
COMPARABLE_STATUSES = ("ambiguous",)

#: Statuses of values with unknown characters written ``?`` (a name a system could not
#: store): compared too, as the one valid value of the entity they could be, else as a
#: value of their own (``高兰?`` is not ``熊伟安``: an older legal representative).
WILDCARD_STATUSES = ("replacement_char",)



@dataclass(frozen=True, kw_only=True)
class ConflictConfig:
    """Pipeline-file options of the consistency report (``[person.conflicts]``).

    ``mutable_fields`` None means :data:`MUTABLE_FIELDS` of the entity type.
    """

    mutable_fields: tuple[str, ...] | None = None
    comparable_statuses: tuple[str, ...] = COMPARABLE_STATUSES
    wildcard_statuses: tuple[str, ...] = WILDCARD_STATUSES


SEVERITY: Mapping[str, str] = {
    "identity_conflict": "critical",
    "value_conflict": "medium",  # "high" for identifying fields
    TYPO: "medium",
    NAME_VARIANT: "medium",
    ABBREVIATION: "low",
    "stale": "low",
    "invalid": "medium",
    "missing": "low",
    "format_only": "info",
    "vocabulary": "info",
}


def find_conflicts(
    records: pa.Table,
    clusters: pa.Table,
    golden: pa.Table,
    *,
    fields: Sequence[str],
    mutable_fields: Sequence[str] | None = None,
    comparable_statuses: Sequence[str] = COMPARABLE_STATUSES,
    wildcard_statuses: Sequence[str] = WILDCARD_STATUSES,
) -> pa.Table:
    """Conflicts table, sorted by entity id, field and kind.

    ``mutable_fields`` defaults to :data:`MUTABLE_FIELDS` of the records' entity type.
    Values with a status in ``comparable_statuses`` (an address whose division is ambiguous)
    are still compared for stale values and conflicts; one that is the tail of a valid value
    of the same entity (``江北区公园路76号`` of ``重庆市江北区公园路76号``) counts as that value.
    Values with a status in ``wildcard_statuses`` are compared as well, ``?`` matching any
    one character.
    """
    require_fields(records, ("record_id", "source", "source_key", *fields), what="conflicts")
    ent, ids, types = entity_codes(records, clusters)
    etype = types[0].as_py() if len(types) else "person"
    mutable = set(MUTABLE_FIELDS.get(etype or "", ()) if mutable_fields is None
                  else mutable_fields)
    days = updated_days(records)
    known_day = days > -(10**6)
    rank = record_rank(records)
    order = np.lexsort((rank, ent))
    ent_sorted = ent[order]
    starts = np.searchsorted(ent_sorted, np.arange(len(ids)), side="left")
    ends = np.searchsorted(ent_sorted, np.arange(len(ids)), side="right")
    size = ends - starts
    golden_pos = _golden_positions(golden, ids)
    by_id = _RecordPositions(records)

    scope = _Scope(records=records, ent=ent, ids=ids, types=types, etype=etype or "",
                   mutable=frozenset(mutable), days=days, known_day=known_day, order=order,
                   starts=starts, ends=ends, size=size, golden=golden, golden_pos=golden_pos,
                   by_id=by_id, comparable_statuses=tuple(comparable_statuses),
                   wildcard_statuses=tuple(wildcard_statuses))
    # The fields are independent, and their work is mostly NumPy and Arrow kernels that
    # release the GIL: side by side, gathered in field order (the same table).
    with ThreadPoolExecutor(max_workers=field_workers(len(fields))) as pool:
        parts = [part for found in pool.map(partial(_field_conflicts, scope), fields)
                 for part in found]
    identity = IDENTITY_KEYS.get(etype or "")
    if identity and identity[0] in records.column_names:
        parts.extend(_identity_conflicts(records, ent, ids, types, golden, golden_pos,
                                         identity[0], identity[1], order))
    if not parts:
        return CONFLICTS.empty_table()
    table = pa.concat_tables(parts)
    table = table.take(pc.sort_indices(table, sort_keys=[
        ("entity_id", "ascending"), ("field", "ascending"), ("kind", "ascending")]))
    log.info("conflicts: %d row(s) over %d entities", table.num_rows,
             len(pc.unique(table["entity_id"])))
    return table


@dataclass(frozen=True, kw_only=True)
class _Scope:
    """What every field's pass of :func:`find_conflicts` reads (computed once)."""

    records: pa.Table
    ent: np.ndarray
    ids: pa.Array
    types: pa.Array
    etype: str
    mutable: frozenset[str]
    days: np.ndarray
    known_day: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    size: np.ndarray
    golden: pa.Table
    golden_pos: pa.Array
    by_id: _RecordPositions
    comparable_statuses: tuple[str, ...]
    wildcard_statuses: tuple[str, ...]


def _field_conflicts(scope: _Scope, f: str) -> list[pa.Table]:
    """The conflict rows of field ``f``, one table per kind found."""
    records, ent, ids, types, etype = (scope.records, scope.ent, scope.ids, scope.types,
                                       scope.etype)
    days, known_day, order, starts, ends = (scope.days, scope.known_day, scope.order,
                                            scope.starts, scope.ends)
    golden, golden_pos, size = scope.golden, scope.golden_pos, scope.size
    comparable_statuses, wildcard_statuses = scope.comparable_statuses, scope.wildcard_statuses
    n = records.num_rows
    parts: list[pa.Table] = []
    # A name written without its separator (伊力哈木热合曼) is the dotted one, in
    # another format.
    value = fold_separators(records[f], value_codes(records[f]), ent)
    raw = value_codes(records[f"{f}__raw"]) if f"{f}__raw" in records.column_names else value
    status = (as_string(records[f"{f}__status"]) if f"{f}__status" in records.column_names
              else None)
    present = value >= 0
    valid = present & _starts_ok(status, n)
    missing = ~present & (_eq(status, "missing", n) if status is not None else True)
    invalid = ~present & ~missing if status is not None else np.zeros(n, bool)
    missing &= carried_rows(records, f)  # a department that never collects it lacks nothing
    invalid |= present & ~valid
    multi = size >= 2
    flags: dict[str, np.ndarray] = {}
    # a field read through a vocabulary (a ``__term`` column: 正常 and 存续（在营、开业、
    # 在册）are one state) differs in words, not in format
    same_kind = "vocabulary" if f"{f}__term" in records.column_names else "format_only"
    flags[same_kind] = _any_per_entity(
        _dup_groups(ent, value, raw, present), len(ids)) & multi
    n_present = np.bincount(ent[present], minlength=len(ids))
    flags["missing"] = (np.bincount(ent[missing], minlength=len(ids)) > 0) & (n_present > 0)
    flags["invalid"] = (np.bincount(ent[invalid], minlength=len(ids)) > 0) & multi
    comparable = valid.copy()
    if status is not None and comparable_statuses:
        soft = present & _in(status, comparable_statuses)
        if soft.any():
            comparable |= soft
            value = fold_tails(records[f], value, ent, valid, soft)
    if status is not None and wildcard_statuses:
        wild = present & _in(status, wildcard_statuses)
        if wild.any():
            comparable |= wild
            value = fold_tails(records[f], value, ent, valid, wild, wildcard=True)
    # what a department did (a typo, a homophone, an abbreviation) is told apart first;
    # only the values left are weighed in time (stale) or reported as conflicts
    evidence: dict[str, pa.Array] = {}
    rows = np.zeros(0, dtype=np.int64)
    mask = np.zeros(0, dtype=bool)
    if classifiable(f, etype or ""):
        reference = _reference(golden, golden_pos, f, value, ent, scope.by_id)
        # a value failing its check one edit from the golden one is a typo, said so
        rows = np.flatnonzero((comparable | (present & ~valid)) & (reference >= 0)
                              & (value != reference))
        mask, row_kinds, row_evidence = explained(f, etype or "", records[f], value,
                                                  reference, rows)
        said_per_kind: dict[str, dict[int, str | None]] = {}
        for i in np.flatnonzero(mask).tolist():
            kind = row_kinds[i]
            assert kind is not None
            flag = flags.setdefault(kind, np.zeros(len(ids), dtype=bool))
            e = int(ent[rows[i]])
            if not flag[e]:
                flag[e] = True
                said_per_kind.setdefault(kind, {})[e] = row_evidence[i]
        for kind, said in said_per_kind.items():
            evidence[kind] = _per_entity(len(ids), np.array(list(said), dtype=np.int64),
                                         pa.array(list(said.values()), pa.string()))
    timed = comparable.copy()
    timed[rows[mask]] = False
    if mask.any():  # entities whose every invalid value is an explained typo
        left = invalid.copy()
        left[rows[mask]] = False
        flags["invalid"] &= (np.bincount(ent[left], minlength=len(ids)) > 0)
    stale, conflict = _stale_or_conflict(ent, value, timed, days, known_day, len(ids),
                                         f in scope.mutable)
    flags["stale"] = stale
    flags["value_conflict"] = conflict
    if stale.any():
        evidence["stale"] = _stale_evidence(records, ent, value, timed, days, stale)
    candidates = _candidate_struct(records, f)
    golden_value = (as_string(golden[f]).take(golden_pos)
                    if f in golden.column_names else pa.nulls(len(ids), pa.string()))
    for kind, flag in flags.items():
        which = np.flatnonzero(flag)
        if not len(which):
            continue
        severity = SEVERITY[kind]
        if kind == "value_conflict" and f in _IDENTIFYING:
            severity = "high"
        told = evidence.get(kind)
        parts.append(_rows(ids, types, which, f, kind, severity, golden_value,
                           _slices(order, starts[which], ends[which], candidates),
                           None if told is None else told.take(pa.array(which))))
    return parts


# --- classification --------------------------------------------------------------------------


def _stale_or_conflict(
    ent: np.ndarray,
    value: np.ndarray,
    valid: np.ndarray,
    days: np.ndarray,
    known_day: np.ndarray,
    n_ent: int,
    mutable: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per entity: has a superseded older value (stale), has an unexplained one (conflict)."""
    stale = np.zeros(n_ent, dtype=bool)
    conflict = np.zeros(n_ent, dtype=bool)
    e, v, d, k = ent[valid], value[valid], days[valid], known_day[valid]
    if not len(e):
        return stale, conflict
    inverse = combine(e, v)
    n_groups = int(inverse.max()) + 1
    g_ent = np.zeros(n_groups, dtype=np.int64)
    g_ent[inverse] = e
    n_values = np.bincount(g_ent, minlength=n_ent)
    # Latest date a value was seen; a value seen with an unknown date cannot be placed in time.
    latest = np.full(n_groups, -(10**7), dtype=np.int64)
    np.maximum.at(latest, inverse, d)
    undated = np.zeros(n_groups, dtype=bool)
    np.logical_or.at(undated, inverse, ~k)
    top = np.full(n_ent, -(10**7), dtype=np.int64)
    np.maximum.at(top, g_ent, latest)
    n_top = np.bincount(g_ent[latest == top[g_ent]], minlength=n_ent)
    multi = n_values[g_ent] >= 2
    is_top = latest == top[g_ent]
    older = multi & ~is_top
    if mutable:
        superseded = older & ~undated & (n_top[g_ent] == 1) & (top[g_ent] > -(10**6))
    else:
        superseded = np.zeros(len(g_ent), dtype=bool)
    unexplained = multi & ~superseded & ~(is_top & (n_top[g_ent] == 1))
    np.logical_or.at(stale, g_ent[superseded], True)
    np.logical_or.at(conflict, g_ent[unexplained], True)
    return stale, conflict


def _dup_groups(ent: np.ndarray, value: np.ndarray, raw: np.ndarray,
                present: np.ndarray) -> np.ndarray:
    """Entities where one normalised value was written in two or more raw forms."""
    if not present.any():
        return np.zeros(0, dtype=np.int64)
    e, v, r = ent[present], value[present], raw[present]
    pair = combine(e, v)
    forms = distinct_per_group(pair, r, int(pair.max()) + 1)
    owner = np.zeros(len(forms), dtype=np.int64)
    owner[pair] = e
    return owner[forms > 1]


def _identity_conflicts(
    records: pa.Table,
    ent: np.ndarray,
    ids: pa.Array,
    types: pa.Array,
    golden: pa.Table,
    golden_pos: pa.Array,
    key: str,
    attributes: Sequence[str],
    by_entity: np.ndarray,
) -> list[pa.Table]:
    """Rows for valid identity keys shared by records of different entities and attributes,
    and for entities whose valid birth dates differ. ``by_entity`` orders the records by
    entity, then department and key."""
    n = records.num_rows
    status = (as_string(records[f"{key}__status"]) if f"{key}__status" in records.column_names
              else None)
    code = value_codes(records[key])
    has = (code >= 0) & _starts_ok(status, n)
    attrs = [a for a in attributes if a in records.column_names]
    if not has.any() or not attrs:
        return []
    attr_code = combine(*[value_codes(records[a]) for a in attrs])
    k, e, a = code[has], ent[has], attr_code[has]
    n_keys = int(code.max()) + 1
    n_ent_per_key = distinct_per_group(k, e, n_keys)
    n_attr_per_key = distinct_per_group(k, a, n_keys)
    bad_key = (n_ent_per_key > 1) & (n_attr_per_key > 1)
    pieces: list[pa.Table] = []
    struct = _identity_struct(records, key, attrs)
    golden_key = (as_string(golden[key]).take(golden_pos)
                  if key in golden.column_names else pa.nulls(len(ids), pa.string()))
    if bad_key.any():
        rows = np.flatnonzero(has & bad_key[np.maximum(code, 0)])
        rank = np.empty(n, dtype=np.int64)
        rank[by_entity] = np.arange(n)
        order = rows[np.lexsort((rank[rows], code[rows]))]
        key_sorted = code[order]
        # One conflict row per (entity, shared key): candidates are every holder of the key.
        pair = combine(ent[order], key_sorted)
        first = np.unique(pair, return_index=True)[1]
        pair_ent, pair_key = ent[order][first], key_sorted[first]
        starts = np.searchsorted(key_sorted, pair_key, side="left")
        ends = np.searchsorted(key_sorted, pair_key, side="right")
        pieces.append(_rows(ids, types, pair_ent, key, "identity_conflict", "critical",
                            golden_key, _slices(order, starts, ends, struct)))
    if "birth_date" in attrs:
        bd = value_codes(records["birth_date"])
        bd_ok = (bd >= 0) & _starts_ok(
            as_string(records["birth_date__status"]) if "birth_date__status"
            in records.column_names else None, n)
        split = distinct_per_group(ent[bd_ok], bd[bd_ok], len(ids)) > 1
        if split.any():
            which = np.flatnonzero(split)
            order = by_entity
            ent_sorted = ent[order]
            starts = np.searchsorted(ent_sorted, which, side="left")
            ends = np.searchsorted(ent_sorted, which, side="right")
            pieces.append(_rows(ids, types, which, key, "identity_conflict", "critical",
                                golden_key, _slices(order, starts, ends, struct)))
    return pieces


# --- table building --------------------------------------------------------------------------


def _candidate_struct(records: pa.Table, name: str) -> pa.StructArray:
    raw = f"{name}__raw"
    raw_col = as_string(records[raw]) if raw in records.column_names else as_string(records[name])
    return _struct(records, as_string(records[name]), raw_col)


def _identity_struct(records: pa.Table, key: str, attrs: Sequence[str]) -> pa.StructArray:
    parts: list[pa.Array | str] = []
    for i, a in enumerate(attrs):
        if i:
            parts.append("; ")
        parts.append(f"{a}=")
        parts.append(pc.fill_null(as_string(records[a]), "∅"))
    text = parts[0]
    for p in parts[1:]:
        text = pc.binary_join_element_wise(text, p, "")
    if isinstance(text, str):
        text = pa.array([text] * records.num_rows, pa.string())
    return _struct(records, text, as_string(records[key]))


def _struct(records: pa.Table, value: pa.Array, raw: pa.Array) -> pa.StructArray:
    updated = (records["updated_at"] if "updated_at" in records.column_names
               else pa.nulls(records.num_rows, pa.date32()))
    arrays = [value, raw, as_string(records["source"]), as_string(records["source_key"]),
              pc.cast(records["record_id"], pa.int64()), updated]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.StructArray.from_arrays(arrays, fields=list(CANDIDATE_VALUE))


def _slices(order: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            values: pa.StructArray) -> pa.ListArray:
    """A list per (start, end) range of ``order``, gathered from ``values``."""
    lengths = (ends - starts).astype(np.int64)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int32)
    within = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    picks = order[np.repeat(starts, lengths) + within]
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                    values.take(pa.array(picks, pa.int64())),
                                    type=pa.list_(CANDIDATE_VALUE))


def _rows(ids: pa.Array, types: pa.Array, which: np.ndarray, field: str, kind: str,
          severity: str, golden_value: pa.Array, candidates: pa.ListArray,
          evidence: pa.Array | None = None) -> pa.Table:
    take = pa.array(which, pa.int64())
    m = len(which)
    return pa.table(
        {
            "entity_type": types.take(take),
            "entity_id": ids.take(take),
            "field": pa.array([field] * m, pa.string()),
            "kind": pa.array([kind] * m, pa.string()),
            "severity": pa.array([severity] * m, pa.string()),
            "golden_value": golden_value.take(take),
            "candidates": candidates,
            "evidence": evidence if evidence is not None else pa.nulls(m, pa.string()),
        },
        schema=CONFLICTS,
    )


#: record ids below this are found through a lookup table, not a sorted search
_LOOKUP_IDS = 1 << 24


class _RecordPositions:
    """Position of a record by its id (-1: none): a lookup table when the ids are compact,
    else a sorted search. Built once; each field looks up one id per entity."""

    def __init__(self, records: pa.Table) -> None:
        ids = np.asarray(pc.cast(records["record_id"], pa.int64()).to_numpy(), dtype=np.int64)
        self._table: np.ndarray | None = None
        if len(ids) and int(ids.min()) >= 0 \
                and int(ids.max()) < max(4 * len(ids) + 1024, _LOOKUP_IDS):
            self._table = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
            self._table[ids] = np.arange(len(ids))
        self._order = np.argsort(ids, kind="stable") if self._table is None else ids[:0]
        self._sorted = ids[self._order]

    def __call__(self, wanted: np.ndarray) -> np.ndarray:
        if self._table is not None:
            inside = (wanted >= 0) & (wanted < len(self._table))
            return np.where(inside, self._table[np.where(inside, wanted, 0)], -1)
        if not len(self._sorted):
            return np.full(len(wanted), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, wanted), len(self._sorted) - 1)
        found = (wanted >= 0) & (self._sorted[at] == wanted)
        return np.where(found, self._order[at], -1)


def _reference(golden: pa.Table, golden_pos: pa.Array, f: str, value: np.ndarray,
               ent: np.ndarray, where: _RecordPositions) -> np.ndarray:
    """Per record: the value code its entity's golden record took (from the record that
    won), or -1 when the golden record names no record for the field."""
    n = len(ent)
    column = f"{f}__record_id"
    if column not in golden.column_names or not n:
        return np.full(n, -1, dtype=np.int64)
    won = pc.fill_null(pc.cast(golden[column].combine_chunks().take(golden_pos), pa.int64()),
                       -1).to_numpy(zero_copy_only=False)
    at = where(won)
    per_entity = np.where(at >= 0, value[np.maximum(at, 0)], -1)
    return np.asarray(per_entity[ent], dtype=np.int64)


def _stale_evidence(records: pa.Table, ent: np.ndarray, value: np.ndarray,
                    timed: np.ndarray, days: np.ndarray, stale: np.ndarray) -> pa.Array:
    """Per entity (stale ones only): which department's newer value superseded the old
    one, and when. Whole-column: the newest record of each stale entity, its text built
    by Arrow."""
    rows = np.flatnonzero(timed & stale[ent])
    if not len(rows):
        return pa.nulls(len(stale), pa.string())
    newest = rows[np.lexsort((-days[rows], ent[rows]))]
    first = np.r_[True, ent[newest][1:] != ent[newest][:-1]]
    pick = pa.array(newest[first])
    text = pc.binary_join_element_wise(
        "superseded by the newer value of ", as_string(records["source"]).take(pick), "")
    if "updated_at" in records.column_names:
        when = pc.cast(records["updated_at"].combine_chunks().take(pick), pa.string())
        text = pc.if_else(pc.is_valid(when),
                          pc.binary_join_element_wise(text, " on ", pc.fill_null(when, ""), ""),
                          text)
    return _per_entity(len(stale), ent[newest[first]], text)


def _per_entity(n_ent: int, entities: np.ndarray, values: pa.Array) -> pa.Array:
    """A length-``n_ent`` string array holding ``values`` at ``entities``, null elsewhere."""
    idx = np.full(n_ent, -1, dtype=np.int64)
    idx[entities] = np.arange(len(entities))
    return values.take(pa.array(idx, mask=idx < 0))


# --- helpers ---------------------------------------------------------------------------------


def _golden_positions(golden: pa.Table, ids: pa.Array) -> pa.Array:
    """Row of ``golden`` for each entity id; null for an entity golden lacks, so its golden
    value comes out null rather than another entity's."""
    if golden.num_rows == 0:
        return pa.nulls(len(ids), pa.int64())
    return pc.cast(pc.index_in(ids, value_set=as_string(golden["entity_id"])), pa.int64())


def _starts_ok(status: pa.Array | None, n: int) -> np.ndarray:
    if status is None:
        return np.ones(n, dtype=bool)
    ok = pc.fill_null(pc.starts_with(status, "ok"), False)
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def _eq(status: pa.Array, text: str, n: int) -> np.ndarray:
    out = pc.fill_null(pc.equal(status, text), False)
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=bool)


def _in(status: pa.Array, values: Sequence[str]) -> np.ndarray:
    out = pc.fill_null(pc.is_in(status, value_set=pa.array(list(values), pa.string())), False)
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=bool)


def _any_per_entity(entities: np.ndarray, n_ent: int) -> np.ndarray:
    flag = np.zeros(n_ent, dtype=bool)
    flag[entities] = True
    return flag
