"""Resolve records against a run's master index: the counter's "who is this?".

A record (canonical fields, or a department's own column names) is standardised,
blocked against the index's sorted keys, compared with its few candidates and scored with
the run's fitted model: the same stage functions as the run, on a tiny table. The answer
is the entity id (or "new"), each candidate with its probability and explanation, the
entity's golden record and its open conflicts. Resolving never changes the master.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import SourceConfig
from linkage.errors import LinkageError
from linkage.master.cluster import link_mask
from linkage.match.compare import compare, read_columns
from linkage.match.one_record import compare_record
from linkage.service.index import MasterIndex, TypeIndex
from linkage.service.index_tables import plain
from linkage.service.keys import hash_text
from linkage.service.rows import jsonable
from linkage.standardisers import standardise, standardise_record

log = logging.getLogger(__name__)

__all__ = ["NEW", "BatchResolution", "ResolveError", "Resolver"]

#: the entity id a record that matches no master entity resolves to
NEW = "new"
_MAX_TEXT = 1000
_MAX_CANDIDATES = 10


class ResolveError(LinkageError):
    """A record that cannot be resolved as given (unknown field, department or type)."""


@dataclass(frozen=True)
class BatchResolution:
    """``resolve_many``'s answer: one row per input record in ``entities`` (row, entity_id,
    status, match_probability, candidates) and every scored candidate pair in ``pairs``
    (row, record_id, entity_id, match_weight, match_probability, link, bf_<comparison>)."""

    entity_type: str
    entities: pa.Table
    pairs: pa.Table
    vectors: pa.Table


class Resolver:
    """Answers "which master entity is this record?" from a run's master index."""

    def __init__(self, index: MasterIndex) -> None:
        self.index = index

    @classmethod
    def open(cls, run_dir: str | Path) -> Resolver:
        """Open the master index of ``run_dir`` (memory-mapped; no source is read)."""
        return cls(MasterIndex.open(run_dir))

    @property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(self.index.types)

    # --- one record --------------------------------------------------------------------------

    def resolve(self, record: Mapping[str, Any], *, entity_type: str | None = None,
                department: str | None = None, explain: bool = True) -> dict[str, Any]:
        """The master entity of one record: ``entity_id`` (or "new"), ``status``
        ("matched" / "new"), the best ``match_probability``, ``candidates`` (the best
        ten, each with probability, weight and explanation), the entity's ``golden``
        record and its open ``conflicts``. JSON-able; personal values unmasked (the
        service masks them by role).

        The same answer as :meth:`resolve_many` gives the record, computed without
        tables: the record is standardised value by value, its blocking keys looked up
        in the index by binary search, its few candidates read by position and compared
        and scored in plain Python and NumPy, the golden record and conflicts read by
        entity id. Nothing depends on the master's size but those searches."""
        etype = self._entity_type(entity_type, department)
        ti = self.index.types[etype]
        source = self._source(etype, department)
        mapped, key = _map_row(record, 0, ti, etype, department, source)
        query: dict[str, Any] = {
            "record_id": ti.max_record_id + 1, "source": department or "query",
            "source_key": key, "entity_type": etype,
            **standardise_record(mapped, ti.section.fields)}
        rids = ti.record_candidates(query)
        candidates: list[dict[str, Any]] = []
        entity, status, best = NEW, "new", None
        if len(rids):
            section = ti.section
            rows = ti.candidate_rows(rids)
            vectors = compare_record(query, rows, section.comparisons)
            tfs = _record_term_frequencies(ti, query, rows)
            gammas = {c.name: vectors[f"gamma_{c.name}"] for c in section.comparisons}
            weight, prob, _ = ti.model.score_levels(gammas, tfs)
            must = np.zeros(len(rows), dtype=bool)
            cannot = np.zeros(len(rows), dtype=bool)
            for name, flags in vectors.items():
                if name.startswith("ml_"):
                    must |= flags.astype(bool)
                elif name.startswith("cl_"):
                    cannot |= flags.astype(bool)
            links = ((prob >= section.scoring.link_threshold) | must) & ~cannot
            ents = [r["entity_id"] for r in rows]
            # the most probable candidate (ties: the smaller entity id), linked or not,
            # gives a "new" answer its probability; the most probable link, the entity
            best_i = min(range(len(rows)), key=lambda i: (-prob[i], ents[i]))
            best = float(prob[best_i])
            linked = [i for i in range(len(rows)) if links[i]]
            if linked:
                top_i = min(linked, key=lambda i: (-prob[i], ents[i]))
                entity, status, best = ents[top_i], "matched", float(prob[top_i])
            order = np.argsort(-weight, kind="stable")[:_MAX_CANDIDATES]
            explained = ti.model.explain_many(
                {**{k: v[order] for k, v in vectors.items()},
                 **{f"tf_{k}": v[order] for k, v in tfs.items()}},
                id_l=rids[order].tolist(), id_r=[query["record_id"]] * len(order),
            ) if explain else []
            for j, i in enumerate(order.tolist()):
                cand = {"record_id": int(rids[i]), "source": rows[i]["source"],
                        "source_key": rows[i]["source_key"], "entity_id": ents[i],
                        "match_probability": float(prob[i]),
                        "match_weight": float(weight[i]), "link": bool(links[i])}
                if explain:
                    # plain Python numbers and text; finite unless the model's
                    # parameters are not (then the generic walk turns NaN into null)
                    why = explained[j].to_dict()
                    finite = math.isfinite(explained[j].match_weight)
                    cand["explanation"] = why if finite else jsonable(why)
                candidates.append(cand)
        # every value is a JSON value already (plain numbers, text; golden record and
        # conflicts read as JSON values), so the answer is not walked again
        return {
            "entity_type": etype,
            "entity_id": entity,
            "status": status,
            "match_probability": best,
            "candidates": candidates,
            "golden": ti.golden_row(entity) if entity != NEW else None,
            "conflicts": ti.conflicts_of(entity) if entity != NEW else [],
        }

    def entity(self, entity_id: str, *, entity_type: str | None = None) -> dict[str, Any] | None:
        """An entity's golden record, open conflicts and member records (None if unknown)."""
        types = [entity_type] if entity_type else list(self.index.types)
        for etype in types:
            ti = self.index.types.get(etype)
            if ti is None:
                raise ResolveError(f"unknown entity type {etype!r}")
            golden = ti.golden_row(entity_id)
            if golden is None:
                continue
            ids = ti.member_ids(entity_id)
            members = ti.records.select(
                ["record_id", "source", "source_key", "updated_at",
                 *ti.section.fields]).take(pa.array(ti.positions(ids))).to_pylist()
            found: dict[str, Any] = jsonable({
                "entity_type": etype, "entity_id": entity_id, "golden": golden,
                "conflicts": ti.conflicts_of(entity_id), "records": members})
            return found
        return None

    # --- many records ------------------------------------------------------------------------

    def resolve_many(self, records: pa.Table | Sequence[Mapping[str, Any]], *,
                     entity_type: str | None = None,
                     department: str | None = None) -> BatchResolution:
        """Resolve a batch in one standardise -> block -> compare -> score pass. Records
        are independent lookups: they are not linked to each other."""
        etype = self._entity_type(entity_type, department)
        ti = self.index.types[etype]
        queries = self.query_records(records, etype, department)
        std = standardise(queries, ti.section.fields)
        return score_against(ti, std)

    def query_records(self, records: pa.Table | Sequence[Mapping[str, Any]], etype: str,
                      department: str | None) -> pa.Table:
        """RecordTable rows for the given records, their fields mapped to canonical names."""
        ti = self.index.types[etype]
        source = self._source(etype, department)
        rows = records.to_pylist() if isinstance(records, pa.Table) else list(records)
        if not rows:
            raise ResolveError("no record given")
        fields = list(ti.section.fields)
        values: dict[str, list[str | None]] = {f: [] for f in fields}
        keys: list[str] = []
        for i, row in enumerate(rows):
            mapped, key = _map_row(row, i, ti, etype, department, source)
            for f in fields:
                values[f].append(mapped.get(f))
            keys.append(key)
        n = len(rows)
        first = ti.max_record_id + 1
        return pa.table({
            "record_id": pa.array(np.arange(first, first + n, dtype=np.int64)),
            "source": pa.array([department or "query"] * n, pa.string()),
            "source_key": pa.array(keys, pa.string()),
            "entity_type": pa.array([etype] * n, pa.string()),
            "source_row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "updated_at": pa.nulls(n, pa.date32()),
            **{f: pa.array(v, pa.string()) for f, v in values.items()},
            "flags": pa.array([[] for _ in range(n)], pa.list_(pa.string())),
        })

    def _entity_type(self, entity_type: str | None, department: str | None) -> str:
        types = list(self.index.types)
        if entity_type is not None:
            if entity_type not in self.index.types:
                raise ResolveError(f"unknown entity type {entity_type!r} (this master holds "
                                   f"{', '.join(types)})")
            return entity_type
        if department is not None:
            found = [s.entity_type for s in self.index.config.sources
                     if s.department == department and s.entity_type in self.index.types]
            if len(set(found)) == 1:
                return found[0]
        if len(types) == 1:
            return types[0]
        raise ResolveError(f"say which entity type the record is ({', '.join(types)})")

    def _source(self, etype: str, department: str | None) -> SourceConfig | None:
        if department is None:
            return None
        for source in self.index.config.sources:
            if source.department == department and source.entity_type == etype:
                return source
        known = sorted({s.department for s in self.index.config.sources
                        if s.entity_type == etype})
        raise ResolveError(f"unknown department {department!r} for {etype} records "
                           f"(known: {', '.join(known)})")


def _map_row(row: Any, i: int, ti: TypeIndex, etype: str, department: str | None,
             source: SourceConfig | None) -> tuple[dict[str, str | None], str]:
    """One given record's values under canonical field names (every field, None when not
    given), and its key (the department's key column, or ``query:<i>``)."""
    if not isinstance(row, Mapping):
        raise ResolveError(f"record {i}: expected an object of field -> value")
    fields = ti.section.fields
    by_column = ({col: f for f, col in source.columns.items() if isinstance(col, str)}
                 if source else {})
    mapped: dict[str, str | None] = {}
    key = f"query:{i}"
    unknown = []
    prepared = _prepared_fields(row, i, source) if source is not None else {}
    consumed = {c for f in prepared for c in _parts(source, f)} if source else set()
    mapped.update(prepared)
    for name, value in row.items():
        text = _text(value, i, str(name))
        if source is not None and name == source.key:
            key = text or key
        elif name in consumed:
            continue
        elif name in by_column:
            mapped[by_column[name]] = text
        elif name in fields:
            mapped[str(name)] = text
        elif source is not None and name == source.updated_at:
            continue
        else:
            unknown.append(str(name))
    if unknown:
        known = sorted({*fields, *by_column})
        raise ResolveError(f"record {i}: unknown field(s) {', '.join(map(repr, unknown))}"
                           f" for {etype}{' of ' + department if department else ''} "
                           f"(known: {', '.join(known)})")
    if not any(v not in (None, "") for v in mapped.values()):
        raise ResolveError(f"record {i}: no field has a value")
    return {f: mapped.get(f) for f in fields}, key



def _parts(source: SourceConfig | None, field: str) -> tuple[str, ...]:
    spec = source.columns[field] if source is not None else field
    return (spec,) if isinstance(spec, str) else tuple(spec)


def _prepared_fields(row: Mapping[str, Any], i: int,
                     source: SourceConfig) -> dict[str, str | None]:
    """The fields a department's reader prepares from its own columns (several columns
    joined, a unit, a value map: :mod:`linkage.io.mapping`), for a record given in that
    department's column names; the same preparation as its file gets."""
    from dataclasses import replace

    from linkage.io.mapping import apply_mapping

    wanted = [f for f, spec in source.columns.items()
              if not isinstance(spec, str) or f in source.units or source.values.get(f)]
    wanted = [f for f in wanted if any(c in row for c in _parts(source, f))]
    if not wanted:
        return {}
    cells = {c: pa.array([_text(row.get(c), i, c)], pa.string())
             for f in wanted for c in _parts(source, f)}
    only = replace(source, where=None, columns={f: source.columns[f] for f in wanted},
                   units={f: u for f, u in source.units.items() if f in wanted},
                   values={f: v for f, v in source.values.items() if f in wanted})
    try:
        table, _, columns = apply_mapping(pa.table(cells), pa.array([0], pa.int64()), only)
    except LinkageError as exc:
        raise ResolveError(f"record {i}: {exc}") from None
    return {f: table.column(columns[f])[0].as_py() for f in wanted}


def _record_term_frequencies(ti: TypeIndex, query: Mapping[str, Any],
                             rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`_master_term_frequencies` for one record and its candidates: per
    term-frequency comparison, the share of the more common of the two values (the
    candidate's among the master's records, the query's among them and the query).
    Each distinct value is looked up once (a candidate often holds the query's)."""
    out: dict[str, Any] = {}
    for comp in ti.section.comparisons:
        if not comp.term_frequency or comp.name not in ti.tf:
            continue
        keys, total = ti.tf[comp.name]
        field = comp.field
        counts: dict[Any, int] = {}
        for v in (query.get(field), *(r.get(field) for r in rows)):
            if v is not None and v not in counts:
                lo, hi = keys.run(hash_text(v if isinstance(v, str) else str(v)))
                counts[v] = int(keys.values[lo]) if hi > lo else 0
        mine = query.get(field)
        q_share = (counts[mine] + 1.0) / max(total + 1, 1) if mine is not None else math.nan
        shares = [math.nan if (v := r.get(field)) is None else counts[v] / max(total, 1)
                  for r in rows]
        # float64 shares cut to float32, as the column path has them
        out[comp.name] = np.maximum(np.array(shares, dtype=np.float32), np.float32(q_share))
    return out


def score_against(ti: TypeIndex, std: pa.Table) -> BatchResolution:
    """Block standardised records against the index, compare and score their candidates
    with the run's model, and pick each record's entity: the one of its most probable
    link, or "new" when no candidate links."""
    section = ti.section
    q_rows, rids = ti.candidates(std)
    cols = read_columns(ti.records.column_names, section.comparisons)
    uniq = np.unique(rids)
    master_part = plain(ti.records.select(cols).take(pa.array(ti.positions(uniq))))
    query_part = std.select(cols).cast(master_part.schema)
    mini = pa.concat_tables([master_part, query_part])
    query_ids = np.asarray(std.column("record_id").to_numpy(), dtype=np.int64)
    pairs = pa.table({"id_l": pa.array(rids, pa.int64()),
                      "id_r": pa.array(query_ids[q_rows], pa.int64())})
    vectors = compare(mini, pairs, section.comparisons, workers=1)
    vectors = _master_term_frequencies(ti, vectors, master_part, query_part, uniq, rids, q_rows)
    scored = ti.model.predict(vectors, contributions=True)
    links = link_mask(scored, section.scoring.link_threshold) if scored.num_rows else \
        np.zeros(0, dtype=bool)
    entity = ti.records.column("entity_id").take(pa.array(ti.positions(rids)))
    prob = np.asarray(scored.column("match_probability").to_numpy(), dtype=np.float64)
    n = std.num_rows
    best_entity, best_prob = _best_links(n, q_rows, prob, links, entity)
    n_cand = np.bincount(q_rows, minlength=n)
    out_pairs = pa.table({
        "row": pa.array(q_rows, pa.int64()),
        "record_id": pa.array(rids, pa.int64()),
        "entity_id": entity,
        "link": pa.array(links, pa.bool_()),
        **{c: scored.column(c) for c in scored.column_names if c not in ("id_l", "id_r")},
    })
    entities = pa.table({
        "row": pa.array(np.arange(n, dtype=np.int64)),
        "entity_id": pa.array(best_entity, pa.string()),
        "status": pa.array(np.where(best_entity == NEW, "new", "matched"), pa.string()),
        "match_probability": pa.array(best_prob, pa.float64(), mask=np.isnan(best_prob)),
        "candidates": pa.array(n_cand.astype(np.int64)),
    })
    return BatchResolution(ti.entity_type, entities, out_pairs, vectors)


def _best_links(n: int, q_rows: npt.NDArray[np.int64], prob: npt.NDArray[np.float64],
                links: npt.NDArray[np.bool_], entity: pa.ChunkedArray | pa.Array,
                ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Per query row: the entity of its most probable link (ties: smaller entity id)
    and that probability; "new" and NaN when nothing links."""
    best_entity = np.full(n, NEW, dtype=object)
    best_prob = np.full(n, np.nan)
    # the best candidate overall, linked or not, gives the probability of a "new" answer
    if len(q_rows):
        ent = np.asarray(entity.to_pylist() if len(q_rows) < 64 else
                         pc.cast(entity, pa.string()).to_pylist(), dtype=object)
        order = np.lexsort((ent.astype(str), -prob, q_rows))
        first = order[np.r_[True, q_rows[order][1:] != q_rows[order][:-1]]]
        best_prob[q_rows[first]] = prob[first]
        linked = order[links[order]]
        if len(linked):
            top = linked[np.r_[True, q_rows[linked][1:] != q_rows[linked][:-1]]]
            best_entity[q_rows[top]] = ent[top]
            best_prob[q_rows[top]] = prob[top]
    return best_entity, best_prob


def _master_term_frequencies(ti: TypeIndex, vectors: pa.Table, master_part: pa.Table,
                             query_part: pa.Table, uniq: npt.NDArray[np.int64],
                             rids: npt.NDArray[np.int64],
                             q_rows: npt.NDArray[np.int64]) -> pa.Table:
    """Term frequencies as the whole run would count them (compare on the tiny table
    counts only the candidates): the more common value of each pair, among the master's
    records and the query."""
    for comp in ti.section.comparisons:
        col = f"tf_{comp.name}"
        if not comp.term_frequency or col not in vectors.column_names or comp.name not in ti.tf:
            continue
        cand = ti.term_frequencies(master_part.column(comp.field).combine_chunks(), comp.name,
                                   query=False)[np.searchsorted(uniq, rids)]
        query = ti.term_frequencies(query_part.column(comp.field).combine_chunks(), comp.name,
                                    query=True)[q_rows]
        tf = np.maximum(cand, query)
        vectors = vectors.set_column(vectors.column_names.index(col), col,
                                     pa.array(tf, pa.float32()))
    return vectors


def _text(value: Any, i: int, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ResolveError(f"record {i}: field {name!r} must be text or a number, not "
                           f"{type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ResolveError(f"record {i}: field {name!r} is not a finite number")
    text = str(value)
    if len(text) > _MAX_TEXT:
        raise ResolveError(f"record {i}: field {name!r} is longer than {_MAX_TEXT} characters")
    return text
