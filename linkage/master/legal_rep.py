"""Person <-> enterprise: each enterprise's legal representative resolved to a person entity.

Evidence, strongest first:

``id``              the enterprise's golden ``legal_rep_id`` is a valid ID number held by
                    exactly one person entity (confidence 1.0; shared by k entities: one
                    ``id_ambiguous`` edge to each, confidence 1/k)
``name_unique``     no ID: exactly one person entity has that name (0.6)
``name_place``      no ID: the golden ``legal_rep_name`` names several persons, exactly one
                    of whom has an address in a city where the enterprise has one (0.5:
                    weak, people often run companies outside their home city)

An enterprise whose representative cannot be singled out gets no edge, never a guess; and
when the enterprise names a valid ID number that no person record holds, a person holding
another valid ID is never tied to it by name or place (an ID contradicts name evidence).
Everything is Arrow joins and group-bys; no per-enterprise Python.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.groups import as_string, entity_of, text_column
from linkage.master.survivorship import substitutes
from linkage.schemas import require_fields
from linkage.standardisers.checksums import id_is_valid

log = logging.getLogger(__name__)

__all__ = ["LEGAL_REP_EDGES", "prefer_person_names", "resolve_legal_reps"]

LEGAL_REP_EDGES = pa.schema(
    [
        ("enterprise_id", pa.string()),
        ("person_id", pa.string()),
        ("method", pa.string()),
        ("confidence", pa.float64()),
        ("legal_rep_name", pa.string()),
        ("legal_rep_id", pa.string()),
    ]
)

_CITY = "address__city_code"


def resolve_legal_reps(
    enterprise_golden: pa.Table,
    persons: pa.Table,
    person_clusters: pa.Table,
    *,
    enterprises: pa.Table | None = None,
    enterprise_clusters: pa.Table | None = None,
) -> pa.Table:
    """LegalRepEdges (schema :data:`LEGAL_REP_EDGES`), sorted by enterprise and person id.

    ``persons`` are the standardised person records with ``person_clusters``; the optional
    standardised ``enterprises`` and their clusters supply place evidence (city codes) for
    resolving by name.
    """
    require_fields(enterprise_golden, ("entity_id",), what="legal_rep(enterprise_golden)")
    require_fields(persons, ("record_id",), what="legal_rep(persons)")
    person_ids = entity_of(persons, person_clusters)
    reps = pa.table({
        "enterprise_id": as_string(enterprise_golden["entity_id"]),
        "legal_rep_name": text_column(enterprise_golden, "legal_rep_name"),
        "legal_rep_id": text_column(enterprise_golden, "legal_rep_id"),
    })
    parts: list[pa.Table] = []

    # 1. By ID number.
    by_id = pa.table({"legal_rep_id": _valid(persons, "id_number"),
                      "person_id": person_ids}).filter(
        pc.is_valid(_valid(persons, "id_number"))).group_by(
        ["legal_rep_id", "person_id"]).aggregate([])
    with_id = reps.filter(pc.is_valid(reps["legal_rep_id"]))
    hits = with_id.join(by_id, "legal_rep_id", join_type="inner")
    if hits.num_rows:
        count = hits.group_by("enterprise_id").aggregate([("person_id", "count")])
        hits = hits.join(count, "enterprise_id")
        k = pc.cast(hits["person_id_count"], pa.float64())
        parts.append(_edges(hits, pc.if_else(pc.equal(k, 1.0), "id", "id_ambiguous"),
                            pc.divide(1.0, k)))
    resolved = pc.unique(hits["enterprise_id"]) if hits.num_rows else pa.array([], pa.string())

    # 2. By name, for enterprises the ID did not resolve.
    open_reps = reps.filter(pc.and_(pc.is_valid(reps["legal_rep_name"]),
                                    pc.invert(pc.is_in(reps["enterprise_id"],
                                                       value_set=resolved))))
    by_name = pa.table({"legal_rep_name": text_column(persons, "name"), "person_id": person_ids}
                       ).filter(pc.is_valid(text_column(persons, "name"))).group_by(
        ["legal_rep_name", "person_id"]).aggregate([])
    named = open_reps.join(by_name, "legal_rep_name", join_type="inner")
    if named.num_rows:
        count = named.group_by("enterprise_id").aggregate([("person_id", "count")])
        named = named.join(count, "enterprise_id")
        named = named.filter(pc.invert(_contradicted(named, by_id)))
        unique = named.filter(pc.equal(named["person_id_count"], 1))
        n = unique.num_rows
        parts.append(_edges(unique, pa.array(["name_unique"] * n), pa.array([0.6] * n)))
        several = named.filter(pc.greater(named["person_id_count"], 1))
        placed = _by_place(several, persons, person_ids, enterprises, enterprise_clusters)
        if placed is not None and placed.num_rows:
            m = placed.num_rows
            parts.append(_edges(placed, pa.array(["name_place"] * m), pa.array([0.5] * m)))

    if not parts:
        return LEGAL_REP_EDGES.empty_table()
    edges = pa.concat_tables(parts)
    edges = edges.sort_by([("enterprise_id", "ascending"), ("person_id", "ascending")])
    log.info("legal_rep: %d of %d enterprises linked to a person (%d by ID)",
             len(pc.unique(edges["enterprise_id"])), enterprise_golden.num_rows,
             int(pc.sum(pc.equal(edges["method"], "id")).as_py() or 0))
    return edges


def _contradicted(named: pa.Table, by_id: pa.Table) -> pa.Array:
    """Per name candidate: the enterprise names a valid ID for its representative and the
    person holds a valid ID (a different one, or step 1 would have tied them). Name and
    place evidence never overrides a contradicting ID number."""
    rep_id = as_string(named["legal_rep_id"])
    distinct = pc.unique(rep_id.drop_null())
    valid_ids = pa.array([v for v in distinct.to_pylist() if id_is_valid(v)], pa.string())
    rep_valid = pc.is_in(rep_id, value_set=valid_ids)
    person_has_id = pc.is_in(as_string(named["person_id"]),
                             value_set=pc.unique(as_string(by_id["person_id"])))
    return pc.fill_null(pc.and_(rep_valid, person_has_id), False)


def _by_place(
    several: pa.Table,
    persons: pa.Table,
    person_ids: pa.Array,
    enterprises: pa.Table | None,
    enterprise_clusters: pa.Table | None,
) -> pa.Table | None:
    """Among several same-name persons keep the one sharing a city with the enterprise."""
    if (several.num_rows == 0 or enterprises is None or enterprise_clusters is None
            or _CITY not in enterprises.column_names or _CITY not in persons.column_names):
        return None
    ent_city = pa.table({"enterprise_id": entity_of(enterprises, enterprise_clusters),
                         "city": as_string(enterprises[_CITY])}).filter(
        pc.is_valid(as_string(enterprises[_CITY]))
    ).group_by(["enterprise_id", "city"]).aggregate([])
    per_city = pa.table({"person_id": person_ids, "city": as_string(persons[_CITY])}).filter(
        pc.is_valid(as_string(persons[_CITY]))).group_by(["person_id", "city"]).aggregate([])
    cand = several.select(["enterprise_id", "person_id", "legal_rep_name", "legal_rep_id"])
    both = cand.join(ent_city, "enterprise_id", join_type="inner").join(
        per_city, ["person_id", "city"], join_type="inner")
    both = both.group_by(["enterprise_id", "person_id", "legal_rep_name"]).aggregate(
        [("legal_rep_id", "min")]).rename_columns(
        ["enterprise_id", "person_id", "legal_rep_name", "legal_rep_id"])
    count = both.group_by("enterprise_id").aggregate([("person_id", "count")])
    both = both.join(count, "enterprise_id")
    return both.filter(pc.equal(both["person_id_count"], 1))


def _edges(table: pa.Table, method: pa.Array, confidence: pa.Array) -> pa.Table:
    return pa.table({
        "enterprise_id": as_string(table["enterprise_id"]),
        "person_id": as_string(table["person_id"]),
        "method": as_string(method),
        "confidence": pc.cast(confidence, pa.float64()),
        "legal_rep_name": as_string(table["legal_rep_name"]),
        "legal_rep_id": as_string(table["legal_rep_id"]),
    }, schema=LEGAL_REP_EDGES)


def _valid(table: pa.Table, name: str) -> pa.Array:
    """Values of ``name`` whose status is valid; null otherwise."""
    values = text_column(table, name)
    status = f"{name}__status"
    if status not in table.column_names:
        return values
    ok = pc.fill_null(pc.starts_with(as_string(table[status]), "ok"), False)
    return pc.if_else(ok, values, pa.nulls(table.num_rows, pa.string()))


def prefer_person_names(
    enterprise_golden: pa.Table,
    edges: pa.Table,
    person_golden: pa.Table,
    enterprises: pa.Table,
    enterprise_clusters: pa.Table,
) -> pa.Table:
    """Golden enterprise records whose ``legal_rep_name`` agrees with the person it names.

    Where the representative was resolved by ID and one of the enterprise's own records
    wrote exactly the person's golden name, that record's value is taken (rule
    ``person_entity``): the person's registry records are a third opinion when two
    departments disagree over a character.
    """
    field = "legal_rep_name"
    if field not in enterprise_golden.column_names or "name" not in person_golden.column_names:
        return enterprise_golden
    by_id = edges.filter(pc.equal(edges["method"], "id")).select(["enterprise_id", "person_id"])
    # names meet on their folded form; what is shown is a spelling as written
    canonical = "name__canonical" if "name__canonical" in person_golden.column_names else "name"
    people = pa.table({"person_id": as_string(person_golden["entity_id"]),
                       "person_name": as_string(person_golden[canonical])})
    wanted = by_id.join(people, "person_id", join_type="inner")
    cand = pa.table({
        "enterprise_id": entity_of(enterprises, enterprise_clusters),
        "person_name": text_column(enterprises, field),
        "written": text_column(enterprises, f"{field}__written"),
        "source": as_string(enterprises["source"]),
        "source_key": as_string(enterprises["source_key"]),
        "record_id": pc.cast(enterprises["record_id"], pa.int64()),
        "updated_at": (enterprises["updated_at"] if "updated_at" in enterprises.column_names
                       else pa.nulls(enterprises.num_rows, pa.date32())),
    }).filter(pc.is_valid(text_column(enterprises, field)))
    out = _take_written_person_names(enterprise_golden, wanted, cand)
    return _take_substituted_person_names(out, wanted, person_golden)


def _take_written_person_names(golden: pa.Table, wanted: pa.Table, cand: pa.Table) -> pa.Table:
    """Where an enterprise record wrote exactly the person's golden name, take that record."""
    field = "legal_rep_name"
    hits = cand.join(wanted, ["enterprise_id", "person_name"], join_type="inner")
    if hits.num_rows == 0:
        return golden
    hits = hits.sort_by([("enterprise_id", "ascending"), ("updated_at", "descending"),
                         ("source", "ascending"), ("source_key", "ascending")])
    ent = hits["enterprise_id"].combine_chunks()
    first = pc.not_equal(ent, pc.fill_null(pc.cast(pa.concat_arrays(
        [pa.nulls(1, pa.string()), ent.slice(0, len(ent) - 1)]), pa.string()), "\x00"))
    hits = hits.filter(first)
    at = pc.index_in(as_string(golden["entity_id"]), value_set=hits["enterprise_id"])
    current = as_string(golden[field])
    better = pc.coalesce(as_string(hits["written"]), as_string(hits["person_name"])).take(at)
    change = pc.fill_null(pc.and_(pc.is_valid(at), pc.not_equal(
        pc.fill_null(current, ""), pc.fill_null(better, ""))), False)
    out = _apply(golden, change, {
        field: better,
        f"{field}__canonical": as_string(hits["person_name"]).take(at),
        f"{field}__source": hits["source"].take(at),
        f"{field}__record_id": hits["record_id"].take(at),
        f"{field}__updated_at": hits["updated_at"].take(at),
    })
    log.info("legal_rep: %d legal-rep name(s) taken from the person entity",
             int(pc.sum(change).as_py() or 0))
    return out


def _take_substituted_person_names(golden: pa.Table, wanted: pa.Table,
                                   person_golden: pa.Table) -> pa.Table:
    """Where every enterprise record wrote a stand-in for a rare character (``刘芬?`` for
    ``刘芬珺``), the ID-resolved person's golden name is the better spelling: take it, with
    the person's lineage."""
    field = "legal_rep_name"
    at = pc.index_in(as_string(golden["entity_id"]), value_set=wanted["enterprise_id"])
    person_name = as_string(wanted["person_name"]).take(at)
    change = pc.fill_null(pc.and_(
        pc.is_valid(at), substitutes(as_string(golden[field]), person_name)), False)
    if not pc.any(change).as_py():
        return golden
    where = pc.index_in(as_string(wanted["person_id"]).take(at),
                        value_set=as_string(person_golden["entity_id"]))
    canonical = person_name
    person_name = as_string(person_golden["name"]).take(where)  # as written
    lineage = {f"{field}__{part}": person_golden[f"name__{part}"].take(where)
               for part in ("source", "record_id", "updated_at")
               if f"name__{part}" in person_golden.column_names}
    log.info("legal_rep: %d legal-rep name(s) restored from a rare-character stand-in",
             int(pc.sum(change).as_py() or 0))
    return _apply(golden, change, {field: person_name, f"{field}__canonical": canonical,
                                   **lineage})


def _apply(golden: pa.Table, change: pa.Array, updates: dict[str, Any]) -> pa.Table:
    """Replace, on rows where ``change`` holds, each named column (and set the rule)."""
    if not pc.any(change).as_py():
        return golden
    rule = pa.array(["person_entity"] * golden.num_rows, pa.string())
    out = golden
    for name, values in {**updates, "legal_rep_name__rule": rule}.items():
        if name not in out.column_names:
            continue
        col = out[name].combine_chunks()
        out = out.set_column(out.schema.get_field_index(name), name,
                             pc.if_else(change, pc.cast(values, col.type), col))
    return out
