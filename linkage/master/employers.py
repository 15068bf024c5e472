"""Person -> enterprise: each person's employer resolved to an enterprise entity.

Social security and tax keep a person's employer as a name and often a code: a credit
code, the old organisation code, or a 15-character tax registration number. Like the legal
representative (:mod:`linkage.master.legal_rep`), the employer becomes an edge to an
enterprise entity, and the enterprise side settles what the person side wrote:

``code``   the person's golden ``employer_code`` holds an organisation code (inside a
           credit code or a tax number, or the code itself) that valid codes of exactly one
           enterprise entity hold (confidence 1.0)
``name``   no usable code: the canonical ``employer_name`` is the name of exactly one
           enterprise entity (0.6)

:func:`prefer_enterprise_codes` then writes the enterprise's golden credit code as the
person's golden ``employer_code`` (rule ``enterprise_entity``) where the person's records
hold an older form of it (an organisation code, a tax number, a typo): the golden value is
the code the register holds. Pure functions of (records, clusters, golden); Arrow joins.
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from linkage.master.groups import as_string, entity_of, text_column
from linkage.schemas import require_fields
from linkage.standardisers.credit_code import standardise_credit_code
from linkage.standardisers.enterprise_name import standardise_enterprise_name

log = logging.getLogger(__name__)

__all__ = ["EMPLOYER_EDGES", "employer_keys", "prefer_enterprise_codes", "resolve_employers"]

EMPLOYER_EDGES = pa.schema([
    ("person_id", pa.string()),
    ("enterprise_id", pa.string()),
    ("method", pa.string()),
    ("confidence", pa.float64()),
    ("employer_name", pa.string()),
    ("employer_code", pa.string()),
])


def resolve_employers(person_golden: pa.Table, enterprises: pa.Table,
                      enterprise_clusters: pa.Table) -> pa.Table:
    """EmployerEdges (schema :data:`EMPLOYER_EDGES`), sorted by person and enterprise id.
    ``enterprises`` are the standardised enterprise records (``credit_code`` with its
    ``__org_code`` and ``__status``, ``name``) with their clusters."""
    require_fields(person_golden, ("entity_id",), what="employers(person_golden)")
    require_fields(enterprises, ("record_id",), what="employers(enterprises)")
    if "employer_name" not in person_golden.column_names and \
            "employer_code" not in person_golden.column_names:
        return EMPLOYER_EDGES.empty_table()
    n = person_golden.num_rows
    people = employer_keys(person_golden)
    firm_id = entity_of(enterprises, enterprise_clusters)
    parts: list[pa.Table] = []

    # 1. by organisation code
    if "credit_code__org_code" in enterprises.column_names:
        valid = pc.fill_null(pc.starts_with(as_string(enterprises["credit_code__status"]),
                                            "ok"), False) \
            if "credit_code__status" in enterprises.column_names \
            else pc.is_valid(enterprises["credit_code__org_code"])
        by_org = pa.table({"org": as_string(enterprises["credit_code__org_code"]),
                           "enterprise_id": firm_id}).filter(
            pc.and_(valid, pc.is_valid(firm_id))).group_by(["org", "enterprise_id"]).aggregate([])
        hits = people.filter(pc.is_valid(people["org"])).join(by_org, "org", join_type="inner")
        parts.append(_unique(hits, "code", 1.0))
    resolved = pc.unique(parts[0]["person_id"]) if parts else pa.array([], pa.string())

    # 2. by canonical name, for persons the code did not resolve
    if "name" in enterprises.column_names:
        by_name = pa.table({"canonical": as_string(enterprises["name"]),
                            "enterprise_id": firm_id}).filter(
            pc.and_(pc.is_valid(as_string(enterprises["name"])), pc.is_valid(firm_id))
        ).group_by(["canonical", "enterprise_id"]).aggregate([])
        open_people = people.filter(pc.and_(pc.is_valid(people["canonical"]), pc.invert(
            pc.is_in(people["person_id"], value_set=resolved))))
        hits = open_people.join(by_name, "canonical", join_type="inner")
        parts.append(_unique(hits, "name", 0.6))
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return EMPLOYER_EDGES.empty_table()
    edges = pa.concat_tables(parts).sort_by([("person_id", "ascending"),
                                             ("enterprise_id", "ascending")])
    log.info("employers: %d of %d persons tied to an enterprise (%d by code)", edges.num_rows,
             n, int(pc.sum(pc.equal(edges["method"], "code")).as_py() or 0))
    return edges


def employer_keys(person_golden: pa.Table) -> pa.Table:
    """Per golden person: ``person_id``, the organisation code inside its valid
    ``employer_code`` (``org``), its canonical employer name (``canonical``), and the two
    values as written: the keys :func:`resolve_employers` joins on (an engine that
    partitions persons by key takes them from here)."""
    n = person_golden.num_rows
    code = text_column(person_golden, "employer_code")
    name = text_column(person_golden, "employer_name")
    std = standardise_credit_code(code)
    ok = pc.fill_null(pc.starts_with(std.status, "ok"), False)
    org = pc.if_else(ok, std.derived["org_code"], pa.nulls(n, pa.string()))
    canonical = pc.if_else(pc.is_valid(name),
                           text_column(person_golden, "employer_name__canonical")
                           if "employer_name__canonical" in person_golden.column_names
                           else standardise_enterprise_name(name).value,
                           pa.nulls(n, pa.string()))
    return pa.table({"person_id": as_string(person_golden["entity_id"]), "org": org,
                     "canonical": canonical, "employer_name": name, "employer_code": code})


def prefer_enterprise_codes(person_golden: pa.Table, edges: pa.Table,
                            enterprise_golden: pa.Table) -> pa.Table:
    """Person golden records whose ``employer_code`` is the employer's registered credit
    code where an edge ties them (rule ``enterprise_entity``, source the enterprise's)."""
    field = "employer_code"
    if field not in person_golden.column_names or edges.num_rows == 0 \
            or "credit_code" not in enterprise_golden.column_names:
        return person_golden
    source = (as_string(enterprise_golden["credit_code__source"])
              if "credit_code__source" in enterprise_golden.column_names
              else pa.nulls(enterprise_golden.num_rows, pa.string()))
    firms = pa.table({"enterprise_id": as_string(enterprise_golden["entity_id"]),
                      "code": as_string(enterprise_golden["credit_code"]), "source": source})
    wanted = edges.select(["person_id", "enterprise_id"]).join(firms, "enterprise_id")
    at = pc.index_in(as_string(person_golden["entity_id"]), value_set=wanted["person_id"])
    better = as_string(wanted["code"]).take(at)
    current = as_string(person_golden[field])
    is_uscc = pc.fill_null(pc.equal(pc.utf8_length(better), 18), False)
    change = pc.fill_null(pc.and_(is_uscc, pc.not_equal(pc.fill_null(current, ""), better)),
                          False)
    if not pc.any(change).as_py():
        return person_golden
    out = person_golden
    updates = {field: better, f"{field}__rule": pa.array(["enterprise_entity"] * out.num_rows),
               f"{field}__source": as_string(wanted["source"]).take(at)}
    for name, values in updates.items():
        if name not in out.column_names:
            continue
        col = out[name].combine_chunks()
        out = out.set_column(out.schema.get_field_index(name), name,
                             pc.if_else(change, pc.cast(values, col.type), col))
    log.info("employers: %d employer code(s) taken from the enterprise register",
             int(pc.sum(change).as_py() or 0))
    return out


def _unique(hits: pa.Table, method: str, confidence: float) -> pa.Table:
    """Edges of persons whose key names exactly one enterprise entity."""
    if hits.num_rows == 0:
        return EMPLOYER_EDGES.empty_table()
    count = hits.group_by("person_id").aggregate([("enterprise_id", "count_distinct")])
    hits = hits.join(count, "person_id").filter(
        pc.equal(pc.field("enterprise_id_count_distinct"), 1))
    hits = hits.group_by(["person_id", "enterprise_id"]).aggregate(
        [("employer_name", "min"), ("employer_code", "min")])
    m = hits.num_rows
    return pa.table({
        "person_id": as_string(hits["person_id"]),
        "enterprise_id": as_string(hits["enterprise_id"]),
        "method": pa.array([method] * m, pa.string()),
        "confidence": pa.array([confidence] * m, pa.float64()),
        "employer_name": as_string(hits["employer_name_min"]),
        "employer_code": as_string(hits["employer_code_min"]),
    }, schema=EMPLOYER_EDGES)
