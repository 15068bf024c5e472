"""Explain a pair of records by their departments' keys, in memory or from a saved run.

A user knows a record as ``household:HJ001``, not as an internal record id. This module
finds the two records, recomputes their comparison vector with the run's model, and adds
what a reader needs beside the weights: the compared values (identifiers masked), whether
the run put the two records in one entity and the rule that decided it.

A saved run directory has everything needed: ``records.parquet`` (standardised fields and
entity ids), ``pairs.parquet`` (the scored candidate pairs) and ``model_<type>.json``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import LinkageError
from linkage.io.run_tables import has_run_table, read_run_table
from linkage.match.compare import compare, read_columns
from linkage.match.explain import Explanation
from linkage.match.score import FellegiSunter
from linkage.privacy import mask, mask_digits_in

#: a record as the user names it: its record id, or (department, department key)
RecordRef = int | tuple[str, str] | str

#: a run of characters that could be an ID number (15 or 18) or a phone (11)
_IDENTIFIER_LIKE = re.compile(r"[0-9Xx*]{11,}")

#: fields whose values are identifiers or phones: masked whole in explanations
_MASKED = ("id_number", "phone", "legal_rep_id", "credit_code")


def parse_ref(text: str) -> RecordRef:
    """``household:HJ001`` -> ("household", "HJ001"); a bare number is a record id."""
    department, sep, key = text.partition(":")
    if sep:
        if not department or not key:
            raise LinkageError(f"record {text!r}: expected DEPARTMENT:KEY, e.g. household:HJ001")
        return department, key
    if text.strip().isdigit():
        return int(text)
    raise LinkageError(f"record {text!r}: expected DEPARTMENT:KEY (e.g. household:HJ001) or a "
                       "record id")


def find_record(records: pa.Table, ref: RecordRef) -> dict[str, Any]:
    """The one record ``ref`` names (record_id, source, source_key, entity_type, ...)."""
    if isinstance(ref, str):
        ref = parse_ref(ref)
    if isinstance(ref, str):  # parse_ref never returns one; for the type checker
        raise LinkageError(f"record {ref!r}: expected DEPARTMENT:KEY")
    if isinstance(ref, int):
        hit = records.filter(pc.equal(records.column("record_id"), ref))
        shown = f"record id {ref}"
    else:
        department, key = ref
        hit = records.filter(pc.and_(pc.equal(records.column("source"), department),
                                     pc.equal(records.column("source_key"), key)))
        shown = f"{department}:{_key(key)}"
        if hit.num_rows == 0 and department not in set(
                pc.unique(records.column("source")).to_pylist()):
            known = sorted(str(s) for s in pc.unique(records.column("source")).to_pylist())
            raise LinkageError(f"{shown}: no department {department!r} in this run "
                               f"(departments: {', '.join(known)})")
    if hit.num_rows == 0:
        raise LinkageError(f"{shown}: no such record in this run")
    if hit.num_rows > 1:
        ids = ", ".join(str(i) for i in hit.column("record_id").to_pylist()[:10])
        raise LinkageError(f"{shown}: {hit.num_rows} records carry this key (record ids {ids}); "
                           "name one by its record id")
    row: dict[str, Any] = hit.to_pylist()[0]
    return row


def explained_columns(records: pa.Table, model: FellegiSunter) -> pa.Table:
    """``records`` with only the columns :func:`explain_records` reads for ``model`` (what
    compare reads, the record's name, type and entity): selecting one entity type's
    records then copies those, not every derived column of every record."""
    shown = {"record_id", "entity_type", "source", "source_key", "entity_id",
             *read_columns(records.column_names, model.comparisons)}
    return records.select([c for c in records.column_names if c in shown])


def explain_records(
    records: pa.Table,
    model: FellegiSunter,
    left: RecordRef,
    right: RecordRef,
    *,
    scored: pa.Table | None = None,
    threshold: float | None = None,
    candidates: pa.Table | None = None,
    vectors: pa.Table | None = None,
) -> Explanation:
    """Why ``left`` and ``right`` were (not) linked, from one entity type's standardised
    ``records`` (with ``entity_id`` when the run clustered them) and its fitted ``model``.
    ``scored`` (the run's scored pairs) and ``threshold`` tell the rule that decided;
    ``candidates`` (blocking's pairs, with ``pass_name``) the pass that paired them.
    ``vectors``: the pair's comparison vector when the caller computed it (an engine whose
    ``records`` here are only a few, while term frequencies count the whole run)."""
    a, b = find_record(records, left), find_record(records, right)
    if a["entity_type"] != b["entity_type"]:
        raise LinkageError(f"{_label(a)} is a {a['entity_type']} and {_label(b)} a "
                           f"{b['entity_type']}: only records of one entity type are compared")
    if a["record_id"] == b["record_id"]:
        raise LinkageError(f"{_label(a)} and {_label(b)} are the same record")
    # Pairs are scored with the smaller record id on the left; shown in the order asked.
    lo, hi = sorted((a["record_id"], b["record_id"]))
    pair = pa.table({"id_l": pa.array([lo], pa.int64()), "id_r": pa.array([hi], pa.int64()),
                     "pass_name": pa.array(["explain"], pa.string())})
    if vectors is None:
        vectors = compare(records, pair, model.comparisons)
    else:
        vectors = vectors.filter(pc.and_(pc.equal(vectors.column("id_l"), lo),
                                         pc.equal(vectors.column("id_r"), hi)))
    explanation = model.explain(vectors.to_pylist()[0])
    values = {c.name: (_value(a, c.field), _value(b, c.field)) for c in model.comparisons}
    linked = None
    if a.get("entity_id") is not None and b.get("entity_id") is not None:
        linked = a["entity_id"] == b["entity_id"]
    row = _scored_row(scored, lo, hi)
    if row is not None and "pass_name" not in row:
        paired = _scored_row(candidates, lo, hi)
        row["pass_name"] = None if paired is None else paired.get("pass_name")
    rule = _rule(explanation, linked, row, threshold)
    return replace(explanation, id_l=a["record_id"], id_r=b["record_id"], left=_label(a),
                   right=_label(b), values=values, linked=linked, rule=rule)


def explain_saved_run(run_dir: str | Path, left: RecordRef, right: RecordRef) -> Explanation:
    """:func:`explain_records` on a run directory that ``linkage run`` wrote."""
    run = Path(run_dir)
    if not has_run_table(run, "records"):
        raise LinkageError(f"{run}: no records.parquet (or records/ folder) there (is it a "
                           "run's output directory?)")
    try:
        records = read_run_table(run, "records")
    except (OSError, ValueError) as exc:
        raise LinkageError(f"{run}: cannot read its records ({exc})") from None
    etype = find_record(records, left)["entity_type"]
    model_path = run / f"model_{etype}.json"
    if not model_path.is_file():
        raise LinkageError(f"{run}: no {model_path.name} (the run did not link {etype} records)")
    model = FellegiSunter.load(model_path)
    subset = records.filter(pc.equal(records.column("entity_type"), etype))
    scored = None
    if has_run_table(run, "pairs"):
        pairs = read_run_table(run, "pairs", columns=[
            "entity_type", "id_l", "id_r", "match_probability", "must_link", "cannot_link",
            "pass_name"])
        if "entity_type" in pairs.column_names:
            pairs = pairs.filter(pc.equal(pairs.column("entity_type"), etype))
        scored = pairs
    return explain_records(subset, model, left, right, scored=scored,
                           threshold=model.config.link_threshold)


def _scored_row(scored: pa.Table | None, lo: int, hi: int) -> dict[str, Any] | None:
    if scored is None or scored.num_rows == 0:
        return None
    hit = scored.filter(pc.and_(pc.equal(scored.column("id_l"), lo),
                                pc.equal(scored.column("id_r"), hi)))
    return hit.to_pylist()[0] if hit.num_rows else None


def _rule(explanation: Explanation, linked: bool | None, row: dict[str, Any] | None,
          threshold: float | None) -> str | None:
    """The rule behind the verdict, in the words of :func:`linkage.master.cluster.link_mask`."""
    if linked is None:
        return None
    if row is None:
        if linked:
            return ("not a candidate pair; linked through other records of the same entity")
        return "no blocking pass paired these records"
    passes = f" (candidate from blocking pass {row['pass_name']})" if row.get("pass_name") else ""
    probability = row.get("match_probability")
    shown = "n/a" if probability is None else f"{probability:.4f}"
    if row.get("cannot_link"):
        return f"cannot link: different valid identifiers{passes}"
    if row.get("must_link"):
        return f"must link: the same valid identifier{passes}"
    if threshold is not None and probability is not None and probability >= threshold:
        return f"match probability {shown} >= link threshold {threshold}{passes}"
    if linked:
        return (f"match probability {shown} below the link threshold {threshold}; linked through "
                f"other records of the same entity{passes}")
    if explanation.cannot_link:
        return f"cannot link: different valid identifiers{passes}"
    return f"match probability {shown} below the link threshold {threshold}{passes}"


def _label(row: dict[str, Any]) -> str:
    return f"{row['source']}:{_key(str(row['source_key']))}"


def _key(key: str) -> str:
    """A department key as shown: masked only when it could be an ID number or a phone (a
    run of 11 or more digits); ordinary record numbers (HJ00000068) stay readable."""
    return _IDENTIFIER_LIKE.sub(lambda m: mask(m.group(0)), key)


def _value(row: dict[str, Any], field: str) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    text = str(value)
    if field.split("__", 1)[0] in _MASKED:
        return mask(text)
    return mask_digits_in(text)
