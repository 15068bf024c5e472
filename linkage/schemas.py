"""The Arrow tables that pass between stages, and one function to check them.

Every stage takes and returns ``pyarrow.Table`` objects with the columns below. A column
listed here is required with that type; stages may add more columns (derived fields,
per-field similarities, contributions), and those follow the naming rules stated here.

RecordTable (sources -> standardise -> every later stage)
    record_id     int64    dense, 0..n-1, assigned on read in source order
    source        string   department name (household, tax, courts, ...)
    source_key    string   the department's own key for the row
    entity_type   string   "person" | "enterprise" | a type the pipeline declares
    source_row    int64    1-based data row in the source file (for messages)
    updated_at    date32   when the department last updated the row (nullable)
    <field>       string   one column per canonical field (name, id_number, ...)
  after standardisation, for each standardised field:
    <field>               string  normalised value; null when missing or unusable
    <field>__raw          string  the value as read
    <field>__status       string  "ok", "missing", or the standardiser's reason
    <field>__<derived>    any     derived values (``id_number__birth_date``, ``name__pinyin``)
    flags                 list<string>  "field:status" for every status other than "ok"

CandidatePairs (block)
    id_l, id_r    int64    record ids, id_l < id_r, no duplicates
    pass_name     dictionary<int8, string>  the first blocking pass that produced the pair
                  (a byte per pair; reads as strings: to_pylist, Parquet, pandas)

ComparisonVectors (compare)
    id_l, id_r    int64
    gamma_<name>  int8     comparison level, -1 when a side is null, 0 = "else" level
    sim_<name>    float32  optional raw similarity

ScoredPairs (score)
    id_l, id_r          int64
    match_weight        float64  log2 Bayes factor including the prior
    match_probability   float64
    bf_<name>           float64  each comparison's log2 contribution (optional)

Clusters (cluster)
    record_id     int64
    entity_type   string
    entity_id     string   stable across runs (derived from member records, not positions)
    cluster_size  int64

GoldenRecords (golden), one row per entity
    entity_type, entity_id   string
    n_records                int64
    <field>                  string   the chosen value
    <field>__source          string   department it came from
    <field>__record_id       int64    record it came from
    <field>__rule            string   survivorship rule that chose it
    <field>__updated_at      date32
    <field>__canonical       string   the folded value the rules chose, where the shown
                                      value is a spelling as written (names; optional)

Conflicts (conflicts), one row per entity, field and kind of disagreement
    entity_type, entity_id, field, kind, severity   string
    golden_value                                    string
    candidates   list<struct<value, raw_value, source, source_key: string,
                             record_id: int64, updated_at: date32>>
    evidence     string   what happened, in words (the typo's position, the newer value's
                          department and date); never a whole ID number or phone

SourceQuality (quality), one row per source, entity type and field
    source, entity_type, field        string
    n_records                         int64
    completeness, validity, consistency, timeliness   float64 (0..1, null when undefined)
    median_age_days                   float64
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from linkage.errors import SchemaError

#: The built-in entity types (``[person]`` / ``[enterprise]`` sections, with presets and the
#: Chinese domain standardisers). A pipeline file declares any others as
#: ``[entities.<type>]``; :attr:`linkage.config.PipelineConfig.entity_types` lists a run's.
ENTITY_TYPES = ("person", "enterprise")

#: Recommended canonical fields. Pipeline files may declare others; these are the ones the
#: shipped standardisers, comparisons and the synthetic generator know about.
PERSON_FIELDS = ("name", "id_number", "birth_date", "sex", "phone", "address")
ENTERPRISE_FIELDS = (
    "name",
    "credit_code",
    "org_code",
    "reg_number",
    "legal_rep_name",
    "legal_rep_id",
    "address",
    "established_date",
    "capital",
    "status",
    "customs_code",
)

RECORD_BASE = pa.schema(
    [
        ("record_id", pa.int64()),
        ("source", pa.string()),
        ("source_key", pa.string()),
        ("entity_type", pa.string()),
        ("source_row", pa.int64()),
        ("updated_at", pa.date32()),
    ]
)

CANDIDATE_PAIRS = pa.schema(
    [("id_l", pa.int64()), ("id_r", pa.int64()),
     ("pass_name", pa.dictionary(pa.int8(), pa.string()))]
)

COMPARISON_BASE = pa.schema([("id_l", pa.int64()), ("id_r", pa.int64())])

SCORED_PAIRS = pa.schema(
    [
        ("id_l", pa.int64()),
        ("id_r", pa.int64()),
        ("match_weight", pa.float64()),
        ("match_probability", pa.float64()),
    ]
)

CLUSTERS = pa.schema(
    [
        ("record_id", pa.int64()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("cluster_size", pa.int64()),
    ]
)

GOLDEN_BASE = pa.schema(
    [("entity_type", pa.string()), ("entity_id", pa.string()), ("n_records", pa.int64())]
)

CANDIDATE_VALUE = pa.struct(
    [
        ("value", pa.string()),
        ("raw_value", pa.string()),
        ("source", pa.string()),
        ("source_key", pa.string()),
        ("record_id", pa.int64()),
        ("updated_at", pa.date32()),
    ]
)

CONFLICTS = pa.schema(
    [
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("field", pa.string()),
        ("kind", pa.string()),
        ("severity", pa.string()),
        ("golden_value", pa.string()),
        ("candidates", pa.list_(CANDIDATE_VALUE)),
        ("evidence", pa.string()),
    ]
)

SOURCE_QUALITY = pa.schema(
    [
        ("source", pa.string()),
        ("entity_type", pa.string()),
        ("field", pa.string()),
        ("n_records", pa.int64()),
        ("completeness", pa.float64()),
        ("validity", pa.float64()),
        ("consistency", pa.float64()),
        ("timeliness", pa.float64()),
        ("median_age_days", pa.float64()),
    ]
)


def require_columns(table: pa.Table, schema: pa.Schema, *, what: str) -> None:
    """Raise :class:`SchemaError` listing every column of ``schema`` that ``table`` lacks
    or holds with another type."""
    problems: list[str] = []
    for field in schema:
        if field.name not in table.column_names:
            problems.append(f"missing column {field.name!r} ({field.type})")
            continue
        actual = table.schema.field(field.name).type
        if actual != field.type and not _compatible(actual, field.type):
            problems.append(f"column {field.name!r} is {actual}, expected {field.type}")
    if problems:
        raise SchemaError(f"{what}: " + "; ".join(problems))


def require_fields(table: pa.Table, names: Iterable[str], *, what: str) -> None:
    """Raise :class:`SchemaError` when any of ``names`` is not a column of ``table``."""
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise SchemaError(f"{what}: missing column(s) {', '.join(map(repr, missing))}")


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    # Dictionary-encoded or large strings are fine wherever a string is expected.
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_large_string(actual) and pa.types.is_string(expected):
        return True
    return bool(actual == expected)
