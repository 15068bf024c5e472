"""Persons and enterprises tied on Spark: legal representatives and employers.

The embedded engine's functions (:mod:`linkage.master.legal_rep`,
:mod:`linkage.master.employers`) decide every edge; Spark only brings together, per
bucket of a join key, the rows a decision needs. Each rule is a join on one key, tried in
order (an ID number, then a name), so each step is one co-grouping on that key:

- legal representatives, step 1: enterprises by the golden ``legal_rep_id``, person
  records by their valid ``id_number``; step 2: the enterprises step 1 left open, by
  ``legal_rep_name``, with every record of each person entity that has a record of that
  name (the contradiction and place checks look at the whole person) and the
  enterprise's own records (its cities);
- employers, step 1: golden persons by the organisation code inside their
  ``employer_code``, enterprise records by their valid one; step 2: the persons step 1
  left open, by canonical employer name, enterprise records by name.

A bucket holds every row with its keys, so the function's result on it is its run-wide
result for those enterprises (or persons). The golden values these steps settle
(``legal_rep_name`` from the person, ``employer_code`` from the register) are rewritten
per bucket of entities, with the one edge and the other side's golden values joined on.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engines.spark.frames import arrow_schema, cogroup_tables, map_tables
from linkage.master.employers import (
    EMPLOYER_EDGES,
    employer_keys,
    prefer_enterprise_codes,
    resolve_employers,
)
from linkage.master.legal_rep import LEGAL_REP_EDGES, prefer_person_names, resolve_legal_reps

_GROUP = "__group"
_KEY = "__key"
_SIDE = "__side"
#: person golden columns the legal-rep name step reads, carried onto enterprise rows
_PERSON_NAME = ("name", "name__canonical", "name__source", "name__record_id",
                "name__updated_at")


def _bucket(column: str, n_buckets: int) -> Any:
    from pyspark.sql import functions as sf

    return sf.pmod(sf.xxhash64(sf.col(column)), sf.lit(n_buckets)).cast("int")


def _valid(df: Any, name: str) -> Any:
    """Spark's form of ``legal_rep._valid``: the value is set and its status says ok."""
    from pyspark.sql import functions as sf

    ok = sf.col(name).isNotNull()
    if f"{name}__status" in df.columns:
        ok = ok & sf.coalesce(sf.col(f"{name}__status").startswith("ok"), sf.lit(False))
    return ok


def _with_columns(df: Any, names: tuple[str, ...]) -> Any:
    """``df`` with each of ``names`` (a null string column where it has none)."""
    from pyspark.sql import functions as sf

    for name in names:
        if name not in df.columns:
            df = df.withColumn(name, sf.lit(None).cast("string"))
    return df


def _clusters(table: pa.Table) -> pa.Table:
    return table.select(["record_id", "entity_id"])


def _split_sides(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    side = table.column(_SIDE)
    first = table.filter(pc.equal(side, 0)).drop_columns([_SIDE, _KEY])
    second = table.filter(pc.equal(side, 1)).drop_columns([_SIDE, _KEY])
    return first, second


# --- legal representatives -----------------------------------------------------------------


def legal_reps_spark(enterprise_golden: Any, enterprises: Any, persons: Any, *,
                     n_buckets: int) -> Any:
    """LegalRepEdges (:data:`LEGAL_REP_EDGES`) as a DataFrame. ``enterprise_golden``: the
    golden enterprise rows; ``enterprises`` and ``persons``: standardised records with
    their ``entity_id``."""
    from pyspark.sql import functions as sf

    reps = _with_columns(enterprise_golden.select(
        "entity_id", *[c for c in ("legal_rep_name", "legal_rep_id")
                       if c in enterprise_golden.columns]), ("legal_rep_name", "legal_rep_id"))
    p_cols = [c for c in ("record_id", "entity_id", "id_number", "id_number__status", "name",
                          "address__city_code") if c in persons.columns]
    people = persons.select(*p_cols)
    parts = []

    # 1. by ID number: the name is left out of the persons, so only the ID step decides
    if "id_number" in people.columns:
        left = reps.filter(sf.col("legal_rep_id").isNotNull()) \
            .withColumn(_KEY, _bucket("legal_rep_id", n_buckets))
        right = people.filter(_valid(people, "id_number")).drop("name") \
            .withColumn(_KEY, _bucket("id_number", n_buckets))

        def by_id(ent: pa.Table, per: pa.Table) -> pa.Table:
            if ent.num_rows == 0 or per.num_rows == 0:
                return LEGAL_REP_EDGES.empty_table()
            per = per.drop_columns([_KEY])
            return resolve_legal_reps(ent.drop_columns([_KEY]), per, _clusters(per))

        parts.append(cut(cogroup_tables(left, right, [_KEY], by_id, LEGAL_REP_EDGES)))

    # 2. by name, for the enterprises step 1 did not resolve
    if "name" in people.columns:
        open_reps = reps.filter(sf.col("legal_rep_name").isNotNull())
        if parts:
            done = parts[0].select(sf.col("enterprise_id").alias("entity_id")).distinct()
            open_reps = open_reps.join(done, "entity_id", "left_anti")
        open_reps = open_reps.withColumn(_KEY, _bucket("legal_rep_name", n_buckets))
        named = people.filter(sf.col("name").isNotNull()) \
            .select("entity_id", _bucket("name", n_buckets).alias(_KEY)).distinct()
        right = named.join(people, "entity_id")
        place = [c for c in ("record_id", "entity_id", "address__city_code")
                 if c in enterprises.columns]
        cities = enterprises.select(*place).join(
            open_reps.select("entity_id", _KEY), "entity_id")
        left = open_reps.withColumn(_SIDE, sf.lit(0)).unionByName(
            cities.withColumn(_SIDE, sf.lit(1)), allowMissingColumns=True)
        rep_cols = ["entity_id", "legal_rep_name", "legal_rep_id"]

        def by_name(ent: pa.Table, per: pa.Table) -> pa.Table:
            golden, records = _split_sides(ent)
            if golden.num_rows == 0 or per.num_rows == 0:
                return LEGAL_REP_EDGES.empty_table()
            per = per.drop_columns([_KEY])
            records = records.select([c for c in place if c in records.column_names])
            return resolve_legal_reps(golden.select(rep_cols), per, _clusters(per),
                                      enterprises=records,
                                      enterprise_clusters=_clusters(records))

        parts.append(cogroup_tables(left, right, [_KEY], by_name, LEGAL_REP_EDGES))
    if not parts:
        spark = enterprise_golden.sparkSession
        return spark.createDataFrame([], _struct(LEGAL_REP_EDGES))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def person_names_spark(enterprise_golden: Any, enterprises: Any, edges: Any,
                       person_golden: Any) -> Any:
    """The enterprise golden rows (``__group`` kept) with ``prefer_person_names`` applied
    per bucket: each enterprise row carries its ID edge's person and that person's golden
    name; the bucket's enterprise records supply the names as written."""
    from pyspark.sql import functions as sf

    names = [c for c in _PERSON_NAME if c in person_golden.columns]
    if "legal_rep_name" not in enterprise_golden.columns or "name" not in names:
        return enterprise_golden
    people = person_golden.select(sf.col("entity_id").alias("__p_entity_id"),
                                  *[sf.col(c).alias(f"__p_{c}") for c in names])
    by_id = edges.filter(sf.col("method") == "id").select(
        sf.col("enterprise_id").alias("entity_id"), sf.col("person_id").alias("__p_entity_id"))
    extended = enterprise_golden.join(by_id.join(people, "__p_entity_id"), "entity_id", "left")
    golden_cols = list(enterprise_golden.columns)
    out = arrow_schema(enterprise_golden.schema)

    def kernel(table: pa.Table, records: pa.Table) -> pa.Table:
        golden = table.select(golden_cols)
        if golden.num_rows == 0:
            return golden
        tied = table.filter(pc.is_valid(table.column("__p_entity_id")))
        pairs = pa.table({"enterprise_id": tied.column("entity_id"),
                          "person_id": tied.column("__p_entity_id"),
                          "method": pa.array(["id"] * tied.num_rows, pa.string())})
        person = pa.table({"entity_id": tied.column("__p_entity_id"),
                           **{c: tied.column(f"__p_{c}") for c in names}})
        person = person.group_by(person.column_names, use_threads=False).aggregate([])
        records = records.drop_columns([c for c in (_GROUP,) if c in records.column_names])
        return prefer_person_names(golden, pairs, person, records, _clusters(records))

    return cogroup_tables(extended, enterprises, [_GROUP], kernel, out)


# --- employers -----------------------------------------------------------------------------


def employers_spark(person_golden: Any, enterprises: Any, *, n_buckets: int) -> Any:
    """EmployerEdges (:data:`EMPLOYER_EDGES`) as a DataFrame. ``person_golden``: golden
    person rows with ``employer_name`` and/or ``employer_code``; ``enterprises``:
    standardised enterprise records with their ``entity_id``."""
    from pyspark.sql import functions as sf

    wanted = [c for c in ("entity_id", "employer_code", "employer_name",
                          "employer_name__canonical") if c in person_golden.columns]
    keys_schema = pa.schema([("entity_id", pa.string()), ("__org", pa.string()),
                             ("__canonical", pa.string())])

    def keys(table: pa.Table) -> pa.Table:
        found = employer_keys(table)
        return table.append_column("__org", found.column("org")) \
            .append_column("__canonical", found.column("canonical"))

    base = person_golden.select(*wanted)
    out_schema = pa.schema([*arrow_schema(base.schema), *keys_schema.remove(0)])
    people = cut(map_tables(base, keys, out_schema))
    firm_cols = [c for c in ("record_id", "entity_id", "credit_code__org_code",
                             "credit_code__status", "name") if c in enterprises.columns]
    firms = enterprises.select(*firm_cols).filter(sf.col("entity_id").isNotNull())
    parts = []

    # 1. by organisation code (enterprise names left out, so only the code step decides)
    if "credit_code__org_code" in firms.columns:
        left = people.filter(sf.col("__org").isNotNull()) \
            .withColumn(_KEY, _bucket("__org", n_buckets))
        valid = sf.col("credit_code__org_code").isNotNull()
        if "credit_code__status" in firms.columns:
            valid = sf.coalesce(sf.col("credit_code__status").startswith("ok"), sf.lit(False))
        right = firms.filter(valid).drop("name") \
            .withColumn(_KEY, _bucket("credit_code__org_code", n_buckets))

        def by_code(per: pa.Table, ent: pa.Table) -> pa.Table:
            if per.num_rows == 0 or ent.num_rows == 0:
                return EMPLOYER_EDGES.empty_table()
            ent = ent.drop_columns([_KEY])
            return resolve_employers(per.drop_columns([_KEY, "__org", "__canonical"]), ent,
                                     _clusters(ent))

        parts.append(cut(cogroup_tables(left, right, [_KEY], by_code, EMPLOYER_EDGES)))

    # 2. by canonical name, for the persons step 1 did not resolve
    if "name" in firms.columns:
        open_people = people.filter(sf.col("__canonical").isNotNull())
        if parts:
            done = parts[0].select(sf.col("person_id").alias("entity_id")).distinct()
            open_people = open_people.join(done, "entity_id", "left_anti")
        left = open_people.withColumn(_KEY, _bucket("__canonical", n_buckets))
        right = firms.filter(sf.col("name").isNotNull()) \
            .drop("credit_code__org_code", "credit_code__status") \
            .withColumn(_KEY, _bucket("name", n_buckets))

        def by_name(per: pa.Table, ent: pa.Table) -> pa.Table:
            if per.num_rows == 0 or ent.num_rows == 0:
                return EMPLOYER_EDGES.empty_table()
            ent = ent.drop_columns([_KEY])
            return resolve_employers(per.drop_columns([_KEY, "__org", "__canonical"]), ent,
                                     _clusters(ent))

        parts.append(cogroup_tables(left, right, [_KEY], by_name, EMPLOYER_EDGES))
    if not parts:
        spark = person_golden.sparkSession
        return spark.createDataFrame([], _struct(EMPLOYER_EDGES))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def enterprise_codes_spark(person_golden: Any, edges: Any, enterprise_golden: Any) -> Any:
    """The person golden rows with ``prefer_enterprise_codes`` applied: each person row
    carries its one employer edge and that enterprise's golden credit code, so the rule
    runs on any batch of rows."""
    from pyspark.sql import functions as sf

    if "employer_code" not in person_golden.columns or \
            "credit_code" not in enterprise_golden.columns:
        return person_golden
    source = sf.col("credit_code__source") if "credit_code__source" in \
        enterprise_golden.columns else sf.lit(None).cast("string")
    firms = enterprise_golden.select(sf.col("entity_id").alias("__e_id"),
                                     sf.col("credit_code").alias("__e_code"),
                                     source.alias("__e_source"))
    tied = edges.select(sf.col("person_id").alias("entity_id"),
                        sf.col("enterprise_id").alias("__e_id")).join(firms, "__e_id")
    extended = person_golden.join(tied, "entity_id", "left")
    golden_cols = list(person_golden.columns)
    out = arrow_schema(person_golden.schema)

    def kernel(table: pa.Table) -> pa.Table:
        golden = table.select(golden_cols)
        has = table.filter(pc.is_valid(table.column("__e_id")))
        if has.num_rows == 0:
            return golden
        pairs = pa.table({"person_id": has.column("entity_id"),
                          "enterprise_id": has.column("__e_id")})
        firm = pa.table({"entity_id": has.column("__e_id"),
                         "credit_code": has.column("__e_code"),
                         "credit_code__source": has.column("__e_source")})
        firm = firm.group_by(firm.column_names, use_threads=False).aggregate([])
        return prefer_enterprise_codes(golden, pairs, firm)

    return map_tables(extended, kernel, out)


def _struct(schema: pa.Schema) -> Any:
    from linkage.engines.spark.frames import spark_schema

    return spark_schema(schema)


def cut(df: Any) -> Any:
    """Materialise a step whose result the next step reads twice."""
    return df.localCheckpoint(eager=True)
