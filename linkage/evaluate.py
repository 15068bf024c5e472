"""Score a run against ground truth: linkage, golden records and conflict detection.

Linkage metrics come from cluster-size combinatorics, never from enumerating pairs: with
``c`` records of true entity ``t`` inside predicted cluster ``p``, the cell (p, t)
contributes ``c(c-1)/2`` true-positive pairs, ``c * c / |p|`` to B-cubed precision and
``c * c / |t|`` to B-cubed recall. Everything is Arrow ``group_by`` and NumPy.

Definitions (per entity type):

- pairwise: precision = TP / predicted pairs, recall = TP / true pairs (1.0 when the
  denominator is zero: no pair claimed, or none to find), F1 their harmonic mean.
- B-cubed: per record, |pred ∩ true| / |pred| and |pred ∩ true| / |true|, averaged.
- golden accuracy per field: each predicted entity is mapped to the true entity most of its
  records belong to; its golden value is right when it equals that entity's true current
  value after light normalisation (NFKC, trimmed, numbers compared as numbers; both
  missing counts as right). When the generator's manifest.json sits beside the truth
  folder, ``accuracy_observable`` repeats the measure over the entities whose true value
  some record in the run could show at all (a department holding the field wrote it,
  not missing, masked or a placeholder): a customs code no department kept cannot be
  recovered by any engine.
  With the records' standardised field columns, ``accuracy_reachable`` repeats it over
  the predicted entities where some member record's standardised value equals the true
  value: survivorship can only pick a value a record holds, so this is its ceiling
  (``reachable`` is that share of all entities) unless a rule builds a value no record
  wrote (a derived birth date, an address completed from the credit code's division).
- conflict recall per error kind: an injected error (truth/errors.parquet) counts as
  detected when a conflict on the same field lists the erroneous record among its
  candidates. For kinds with an expected conflict kind (``stale`` -> ``stale``,
  ``wrong_value`` -> ``value_conflict``) ``recall_kind`` also asks for that kind, and
  ``recall_detectable`` repeats it over the *detectable* errors: the record's true entity
  has at least two records in the run and the record's standardised value differs from
  another record's value there (a spelling without the province, or with ``?`` for a
  character, is the same value). A value every department holds identically, or an entity
  with one record, leaves nothing to disagree with. ``missed_detectable_unlinked`` counts
  the detectable misses in true entities the linkage split over several predicted ones,
  and ``recall_detectable_linked`` is the recall over the detectable errors in entities it
  kept whole.
- ``clusters_with_two_valid_id_numbers`` (``..._org_codes``): predicted entities holding
  two different valid identifiers, which one person (enterprise) never has.
- standardisation repair per error kind (when ``records`` carries the standardised field
  columns, as a run's records.parquet does): share of injected errors whose record's
  standardised value equals the true value (full-width or spaced IDs, 15-digit numbers,
  traditional characters should be repaired; typos and wrong values cannot be). Stale
  values, missing values and duplicates are not repair questions and are left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.errors import SchemaError, SourceError
from linkage.evaluate_values import (
    forget,
    normalise,
    normalised_at,
    normalised_codes,
    normalised_once,
)
from linkage.master.groups import (
    as_bools,
    as_ints,
    as_string,
    distinct_per_group,
    value_codes,
)
from linkage.master.survivorship import fold_tails
from linkage.runtime.memory import give_back
from linkage.schemas import ENTERPRISE_FIELDS, PERSON_FIELDS, require_fields

log = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]

_KEY = ["source", "entity_type", "source_key"]


def evaluate(
    records: pa.Table,
    truth_dir: Path,
    *,
    golden: Mapping[str, pa.Table] | None = None,
    conflicts: pa.Table | None = None,
) -> dict[str, Any]:
    """Metrics of a run's ``records`` (source, entity_type, source_key, entity_id) against
    the truth in ``truth_dir`` (records.parquet, entities_<type>.parquet, errors.parquet)."""
    with normalised_once():
        return _evaluate(records, Path(truth_dir), golden=golden, conflicts=conflicts)


def _evaluate(
    records: pa.Table,
    truth_dir: Path,
    *,
    golden: Mapping[str, pa.Table] | None = None,
    conflicts: pa.Table | None = None,
) -> dict[str, Any]:
    require_fields(records, [*_KEY, "entity_id"], what="evaluate(records)")
    give_back()  # what the run before freed
    truth = _read(truth_dir / "records.parquet")
    require_fields(truth, [*_KEY, "true_entity_id"], what="truth records.parquet")
    run = records.select([*_KEY, "entity_id"])
    run = run.cast(pa.schema([(n, pa.string()) for n in run.column_names]))
    run = run.append_column("r_row", pa.array(np.arange(run.num_rows, dtype=np.int64)))
    if "record_id" in records.column_names:  # lets conflict_recall match members by id
        run = run.append_column("record_id", pc.cast(records.column("record_id"), pa.int64()))
    # One hash lookup on a joined key, not a join on three string columns (10x faster).
    at = pc.index_in(record_keys(run), value_set=record_keys(truth), skip_nulls=True)
    found = pc.is_valid(at)
    joined = run.filter(found).append_column(
        "true_entity_id", truth.column("true_entity_id").take(at.filter(found)))
    result: dict[str, Any] = {
        "records_in_run": run.num_rows,
        "records_in_truth": truth.num_rows,
        "records_matched": joined.num_rows,
    }
    del at, found, run, truth  # the join's inputs: the rest reads ``joined``
    give_back()
    for etype in sorted(set(joined.column("entity_type").to_pylist())):
        part = joined.filter(pc.equal(joined.column("entity_type"), etype))
        metrics = cluster_metrics(part.column("entity_id"), part.column("true_entity_id"))
        identity = IDENTITY_FIELD.get(etype)
        if identity is not None and identity[1] in records.column_names:
            label, column, status = identity
            metrics[f"clusters_with_two_valid_{label}"] = _clusters_with_two_ids(
                records, etype, column, status)
        entities_path = truth_dir / f"entities_{etype}.parquet"
        if golden is not None and etype in golden and entities_path.exists():
            entities = _read(entities_path)
            observable = _observable(truth_dir, part, entities)
            reachable = _reachable(part, records, golden[etype], entities)
            metrics["golden"] = golden_accuracy(part, golden[etype], entities,
                                                observable=observable, reachable=reachable)
            forget(golden[etype], entities)  # read by this entity type only
            del entities, observable, reachable
        del part
        result[etype] = metrics
        give_back()
    errors_path = truth_dir / "errors.parquet"
    fields = [f for f in (*PERSON_FIELDS, *ENTERPRISE_FIELDS) if f in records.column_names]
    if errors_path.exists() and (conflicts is not None or fields):
        errors = _read(errors_path)
        if conflicts is not None:
            result["conflicts"] = conflict_recall(joined, conflicts, errors,
                                                  records=records if fields else None)
            give_back()
        if fields:
            result["standardisation"] = standardisation_repair(records, errors)
    return result


def evaluate_run(truth_dir: Path, run_dir: Path) -> dict[str, Any]:
    """:func:`evaluate` on a run directory (records.parquet, golden_<type>.parquet,
    conflicts.parquet as written by ``linkage run``)."""
    from linkage.io.run_tables import (
        has_run_table,
        read_run_table,
        run_table_names,
        run_table_schema,
    )

    run_dir = Path(run_dir)
    # read through read_run_table: an incremental run's tables are logs of parts
    if not has_run_table(run_dir, "records"):
        raise SchemaError(f"evaluate: {run_dir / 'records.parquet'} not found")
    present = set(run_table_schema(run_dir, "records").names)
    fields = list(dict.fromkeys(f for f in (*PERSON_FIELDS, *ENTERPRISE_FIELDS)
                                if f in present))
    # The identity checks need the derived identifier and its status column too: without
    # them every invalid ID would count (a metric must not depend on how it is called).
    identity = [c for _, column, status in IDENTITY_FIELD.values()
                for c in (column, status) if c in present and c not in fields]
    ids = ["record_id"] if "record_id" in present else []
    records = read_run_table(run_dir, "records",
                             columns=[*_KEY, "entity_id", *ids, *fields, *identity])
    golden = {name.removeprefix("golden_"): read_run_table(run_dir, name)
              for name in run_table_names(run_dir) if name.startswith("golden_")}
    conflicts = (read_run_table(run_dir, "conflicts") if has_run_table(run_dir, "conflicts")
                 else None)
    return evaluate(records, Path(truth_dir), golden=golden or None, conflicts=conflicts)


def evaluate_labels(run_dir: Path, labels_path: Path,
                    thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """:func:`~linkage.match.labels.labelled_metrics` of a run directory's records and
    pairs (read through read_run_table: an incremental run's tables are logs of parts)."""
    from linkage.io.run_tables import has_run_table, read_run_table
    from linkage.match.labels import labelled_metrics

    run_dir = Path(run_dir)
    for name in ("records", "pairs"):
        if not has_run_table(run_dir, name):
            raise SourceError(f"no {name}.parquet (is this a run's output directory?)",
                              source=str(run_dir))
    records = read_run_table(run_dir, "records",
                             columns=["record_id", "source", "source_key", "entity_id"])
    scored = read_run_table(run_dir, "pairs", columns=["id_l", "id_r", "match_probability"])
    return labelled_metrics(records, scored, labels_path, thresholds)


#: The identifier two records of one entity never hold different valid values of: label,
#: column and the status column saying it is valid. An enterprise's credit code and its
#: legacy registration number differ but share the organisation code.
IDENTITY_FIELD: Mapping[str, tuple[str, str, str]] = {
    "person": ("id_numbers", "id_number", "id_number__status"),
    "enterprise": ("org_codes", "credit_code__org_code", "credit_code__status"),
}


def record_keys(table: pa.Table, *extra: str) -> pa.Array:
    """One string per row naming a record (source, entity type, department key, then the
    ``extra`` columns): lookups on it replace joins on several string columns."""
    parts = [pc.cast(table.column(k), pa.string()) for k in (*_KEY, *extra)]
    return _chunked(pc.binary_join_element_wise(*parts, "\x1f"))


#: records whose keys are made at a time when looking a few keys up among them
KEY_SLICE = 1 << 18


def first_rows(table: pa.Table, keys: pa.Array) -> pa.Array:
    """Per key (a :func:`record_keys` string), the first row of ``table`` naming that
    record, null for none or a null key: ``pc.index_in(keys, value_set=record_keys(table))``
    with the distinct ``keys`` hashed and the table's keys made a slice at a time, never
    all at once (a string per record, and their hash table)."""
    distinct = pc.unique(keys).drop_null()
    first = np.full(len(distinct) + 1, -1, dtype=np.int64)
    for start in range(0, table.num_rows, KEY_SLICE):
        at = as_ints(pc.fill_null(pc.index_in(record_keys(table.slice(start, KEY_SLICE)),
                                              value_set=distinct, skip_nulls=True), -1))
        rows = np.flatnonzero(at >= 0)
        found, where = np.unique(at[rows], return_index=True)
        new = first[found] < 0
        first[found[new]] = rows[where[new]] + start
    out = first[as_ints(pc.fill_null(pc.index_in(keys, value_set=distinct, skip_nulls=True),
                                      len(distinct)))]
    return pa.array(out, pa.int32(), mask=out < 0)


def _clusters_with_two_ids(records: pa.Table, etype: str, field: str, status: str) -> int:
    """Predicted entities of ``etype`` whose records hold two or more different valid
    (``status`` ``ok*``) values of ``field``."""
    wanted = ["entity_id", field, *([status] if status in records.column_names else [])]
    mine = records.select(wanted).filter(pc.equal(records.column("entity_type"), etype))
    keep = pc.is_valid(mine.column(field))
    if status in mine.column_names:
        keep = pc.and_(keep, pc.fill_null(pc.starts_with(mine.column(status), "ok"), False))
    mine = mine.filter(keep)
    if not mine.num_rows:
        return 0
    distinct = mine.group_by("entity_id").aggregate([(field, "count_distinct")])
    return int(pc.sum(pc.greater(distinct.column(f"{field}_count_distinct"), 1)).as_py() or 0)


def cluster_metrics(predicted: pa.Array | pa.ChunkedArray,
                    true: pa.Array | pa.ChunkedArray) -> dict[str, Any]:
    """Pairwise and B-cubed precision / recall / F1 of a predicted clustering against the
    true one (two aligned label columns, one row per record)."""
    table = pa.table({"p": predicted, "t": true})
    n = table.num_rows
    cells = table.group_by(["p", "t"]).aggregate([("p", "count")]).rename_columns(
        ["p", "t", "c"])
    pred_sizes = table.group_by("p").aggregate([("p", "count")]).rename_columns(["p", "np"])
    true_sizes = table.group_by("t").aggregate([("t", "count")]).rename_columns(["t", "nt"])
    cells = cells.join(pred_sizes, "p").join(true_sizes, "t")
    c = cells.column("c").to_numpy().astype(np.float64)
    size_p = cells.column("np").to_numpy().astype(np.float64)
    size_t = cells.column("nt").to_numpy().astype(np.float64)
    tp = float((c * (c - 1) / 2).sum())
    sp = pred_sizes.column("np").to_numpy().astype(np.float64)
    st = true_sizes.column("nt").to_numpy().astype(np.float64)
    predicted_pairs = float((sp * (sp - 1) / 2).sum())
    true_pairs = float((st * (st - 1) / 2).sum())
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    # summed in sorted order: the joins above return the cells in an order that varies
    # from run to run, and a float sum in another order can differ in its last bit
    b_precision = float(np.sort(c * c / size_p).sum()) / n if n else 1.0
    b_recall = float(np.sort(c * c / size_t).sum()) / n if n else 1.0
    return {
        "records": n,
        "predicted_entities": pred_sizes.num_rows,
        "true_entities": true_sizes.num_rows,
        "pairwise": {
            "precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "true_positives": int(tp), "predicted_pairs": int(predicted_pairs),
            "true_pairs": int(true_pairs),
        },
        "bcubed": {"precision": b_precision, "recall": b_recall,
                   "f1": _f1(b_precision, b_recall)},
    }


def majority_truth(run: pa.Table) -> pa.Table:
    """Predicted entity -> the true entity most of its records belong to (ties: smallest
    true id), from a table with entity_id and true_entity_id."""
    cells = run.group_by(["entity_id", "true_entity_id"]).aggregate(
        [("true_entity_id", "count")]).rename_columns(["entity_id", "true_entity_id", "c"])
    cells = cells.sort_by([("entity_id", "ascending"), ("c", "descending"),
                           ("true_entity_id", "ascending")])
    ids = cells.column("entity_id").to_numpy(zero_copy_only=False)
    first = np.ones(len(ids), dtype=bool)
    if len(ids) > 1:
        first[1:] = ids[1:] != ids[:-1]
    return cells.filter(pa.array(first)).select(["entity_id", "true_entity_id"])


def golden_accuracy(run: pa.Table, golden: pa.Table, entities: pa.Table, *,
                    observable: Mapping[str, BoolArray] | None = None,
                    reachable: Mapping[str, BoolArray] | None = None) -> dict[str, Any]:
    """Per field: share of predicted entities whose golden value equals the true value
    (and, for fields in ``observable``, a mask over the rows of ``entities``, the same
    over the entities it marks; for fields in ``reachable``, a mask over the rows of
    ``golden``, the same over the entities where a member record holds the true value)."""
    if "entity_id" not in golden.column_names:
        raise SchemaError("evaluate(golden): missing column 'entity_id'")
    mapping = majority_truth(run)
    fields = [f for f in entities.column_names
              if f != "entity_id" and f in golden.column_names]
    # Narrow joins on ids only, then take the field columns by row position.
    left = pa.table({"entity_id": golden.column("entity_id"),
                     "g_row": pa.array(np.arange(golden.num_rows, dtype=np.int64))})
    right = pa.table({"true_entity_id": entities.column("entity_id"),
                      "t_row": pa.array(np.arange(entities.num_rows, dtype=np.int64))})
    both = left.join(mapping, "entity_id", join_type="inner").join(
        right, "true_entity_id", join_type="inner").sort_by("g_row")
    g_rows = both.column("g_row")
    t_rows = both.column("t_row")
    t_index = t_rows.to_numpy()
    out: dict[str, Any] = {}
    for f in fields:
        chosen = normalised_at(golden, f, g_rows)
        true = normalised_at(entities, f, t_rows)  # each entity once
        same = pc.fill_null(pc.equal(chosen, true), False)
        both_missing = pc.and_(pc.is_null(chosen), pc.is_null(true))
        right_mask = pc.or_(same, both_missing).to_numpy(zero_copy_only=False)
        n = len(right_mask)
        out[f] = {"accuracy": float(right_mask.mean()) if n else None, "entities": n}
        if observable is not None and f in observable:
            mask = observable[f][t_index]
            k = int(mask.sum())
            out[f]["accuracy_observable"] = float(right_mask[mask].mean()) if k else None
            out[f]["entities_observable"] = k
        if reachable is not None and f in reachable:
            mask = reachable[f][g_rows.to_numpy()]
            k = int(mask.sum())
            out[f]["reachable"] = k / n if n else None
            out[f]["accuracy_reachable"] = float(right_mask[mask].mean()) if k else None
            out[f]["entities_reachable"] = k
    return out


def _reachable(run: pa.Table, records: pa.Table, golden: pa.Table,
               entities: pa.Table) -> dict[str, BoolArray] | None:
    """Per field, a mask over the rows of ``golden``: true when some record of the predicted
    entity holds the true value of the entity it maps to (after standardisation), or the
    true value is missing. ``run`` carries ``r_row``, each row's position in ``records``."""
    fields = [f for f in entities.column_names
              if f != "entity_id" and f in records.column_names and f in golden.column_names]
    if not fields or "r_row" not in run.column_names or "entity_id" not in golden.column_names:
        return None
    mapping = majority_truth(run).rename_columns(["entity_id", "mapped_id"])
    rows = run.select(["entity_id", "r_row"]).join(mapping, "entity_id", join_type="inner")
    rows = rows.join(pa.table({"mapped_id": entities.column("entity_id"),
                               "t_row": pa.array(np.arange(entities.num_rows, dtype=np.int64))}),
                     "mapped_id", join_type="inner")
    rows = rows.join(pa.table({"entity_id": golden.column("entity_id"),
                               "g_row": pa.array(np.arange(golden.num_rows, dtype=np.int64))}),
                     "entity_id", join_type="inner")
    r_row, t_row = rows.column("r_row"), rows.column("t_row")
    g_row = rows.column("g_row").to_numpy()
    out: dict[str, BoolArray] = {}
    for f in fields:
        held = normalised_at(records, f, r_row)
        true = normalised_at(entities, f, t_row)  # each entity once
        hit = pc.or_(pc.fill_null(pc.equal(held, true), False), pc.is_null(true))
        mask = np.zeros(golden.num_rows, dtype=bool)
        mask[g_row[np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)]] = True
        out[f] = mask
    return out


_HIDING = ("missing", "masked", "placeholder")


def _observable(truth_dir: Path, run: pa.Table, entities: pa.Table) -> dict[str, BoolArray] | None:
    """Per field, a mask over the rows of ``entities``: true when at least one run record
    of that entity shows a value (its department holds the field, per manifest.json, and
    the value was not missing, masked or a placeholder)."""
    manifest_path = truth_dir.parent / "manifest.json"
    errors_path = truth_dir / "errors.parquet"
    if not manifest_path.exists() or not errors_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    holds: dict[str, set[tuple[str, str]]] = {}
    for info in manifest.get("files", []):
        for fld in info.get("columns", {}):
            holds.setdefault(fld, set()).add((info["department"], info["entity_type"]))
    # Each run row's entity row (one narrow join), and its (source, type) label code.
    rows = pa.table({"true_entity_id": run.column("true_entity_id"),
                     "r_row": pa.array(np.arange(run.num_rows, dtype=np.int64))})
    ids = pa.table({"true_entity_id": entities.column("entity_id"),
                    "t_row": pa.array(np.arange(entities.num_rows, dtype=np.int64))})
    linked = rows.join(ids, "true_entity_id", join_type="inner")
    r_row = linked.column("r_row").to_numpy()
    t_row = linked.column("t_row").to_numpy()
    label = pc.binary_join_element_wise(run.column("source"), run.column("entity_type"), "/")
    encoded = pc.dictionary_encode(label).combine_chunks()
    names = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False)[r_row]
    # Hidden values: a small table joined to run positions.
    errors = _read(errors_path, columns=[*_KEY, "field", "kind"])
    hidden = errors.filter(pc.is_in(errors.column("kind"), value_set=pa.array(_HIDING)))
    positions = run.select(_KEY).append_column(
        "r_row", pa.array(np.arange(run.num_rows, dtype=np.int64)))
    hidden = hidden.join(positions, keys=_KEY, join_type="inner")
    out: dict[str, BoolArray] = {}
    for fld, sources in holds.items():
        held = {f"{d}/{t}" for d, t in sources}
        wanted = np.array([n in held for n in names], dtype=bool)
        gone = np.zeros(run.num_rows, dtype=bool)
        gone_rows = hidden.filter(pc.equal(hidden.column("field"), fld)).column("r_row")
        gone[gone_rows.to_numpy()] = True
        visible = wanted[codes] & ~gone[r_row] if len(names) else np.zeros(0, dtype=bool)
        mask = np.zeros(entities.num_rows, dtype=bool)
        mask[t_row[visible]] = True
        out[fld] = mask
    return out


#: The conflict kind an injected error kind should be reported as.
#: Further conflict kinds that also say what happened to an injected error: a wrong date a
#: few days off is one digit from the true one, which the report calls a typo.
ALSO_KIND: Mapping[str, tuple[str, ...]] = {"wrong_value": ("typo",)}
EXPECTED_KIND: Mapping[str, str] = {
    "stale": "stale", "wrong_value": "value_conflict",
    # what the department did, said by the conflict kind (linkage.master.conflict_kinds)
    "typo": "typo", "transposition": "typo", "homophone": "homophone_or_lookalike",
    "lookalike": "homophone_or_lookalike", "abbreviated": "abbreviation",
}


def conflict_recall(run: pa.Table, conflicts: pa.Table, errors: pa.Table, *,
                    records: pa.Table | None = None) -> dict[str, Any]:
    """Per error kind (and per field:kind): share of injected errors, on records present in
    the run, that a conflict on the same field lists among its candidates.

    For kinds in :data:`EXPECTED_KIND` also the share listed by a conflict of the right kind
    (``recall_kind``) and, when ``records`` (with ``run``'s ``r_row`` and
    ``true_entity_id``) gives the standardised values, that share over the detectable
    errors (``recall_detectable``): the value differs from another record's value of the
    same true entity."""
    errors = errors.filter(pc.not_equal(errors.column("field"), "record"))
    present = run.select(_KEY)
    if "r_row" in run.column_names and "true_entity_id" in run.column_names:
        present = run.select([*_KEY, "r_row", "true_entity_id"])
    present_keys = record_keys(present)
    at = pc.index_in(record_keys(errors), value_set=present_keys, skip_nulls=True)
    found = pc.is_valid(at)
    errors = errors.filter(found)
    taken = present.take(at.filter(found))
    for name in taken.column_names:
        if name not in _KEY:
            errors = errors.append_column(name, taken.column(name))
    flagged = errors
    want = pc.fill_null(pc.index_in(flagged.column("kind"),
                                    value_set=pa.array(list(EXPECTED_KIND))), -1)
    expected = np.array([*EXPECTED_KIND.values(), ""], dtype=object)[
        np.asarray(want.to_numpy(zero_copy_only=False), dtype=np.int64)]
    flagged = flagged.append_column("want_kind", pa.array(expected.tolist(), pa.string()))
    if "record_id" in run.column_names and _candidates_have_ids(conflicts):
        # The conflicts list their candidates by record id: integer keys, a slice of the
        # conflicts at a time, instead of a string key per listed candidate.
        first = as_ints(pc.index_in(present_keys, value_set=present_keys))
        hit, right = _listed(flagged, as_ints(at.filter(found)), conflicts,
                             as_ints(run.column("record_id")), first)
    else:
        listed = _conflict_members(conflicts)
        hit = np.asarray(pc.is_in(record_keys(flagged, "field"),
                                  value_set=record_keys(listed, "field")).to_numpy(
                                      zero_copy_only=False), dtype=bool)
        listed_kinds = record_keys(listed, "field", "kind")
        right = np.asarray(pc.is_in(record_keys(flagged, "field", "want_kind"),
                                    value_set=listed_kinds).to_numpy(
                                        zero_copy_only=False), dtype=bool)
        flagged_kinds = flagged.column("kind")
        for kind, others in ALSO_KIND.items():  # a second kind that also says what happened
            is_kind = np.asarray(pc.fill_null(pc.equal(flagged_kinds, kind), False).to_numpy(
                zero_copy_only=False), dtype=bool)
            for other in others:
                as_other = pc.binary_join_element_wise(record_keys(flagged, "field"), other,
                                                       "\x1f")
                right |= is_kind & np.asarray(pc.is_in(
                    as_other, value_set=listed_kinds).to_numpy(zero_copy_only=False), dtype=bool)
    kinds = _label_codes(flagged.column("kind"))
    labels = _label_codes(_field_kind(flagged))
    detectable, linked = (_detectable(flagged, run, records) if records is not None
                          and "r_row" in flagged.column_names else (None, None))
    by_kind = _rates(*kinds, hit, "detected")
    by_field_kind = _rates(*labels, hit, "detected")
    for table, (names, key) in ((by_kind, kinds), (by_field_kind, labels)):
        for at, label in enumerate(names):
            row = table[label]
            if label.rsplit(":", 1)[-1] not in EXPECTED_KIND:
                continue
            mine = key == at
            row["right_kind"] = int(right[mine].sum())
            row["recall_kind"] = float(right[mine].mean()) if mine.any() else None
            if detectable is not None and linked is not None:
                can = mine & detectable
                row["detectable"] = int(can.sum())
                row["recall_detectable"] = float(right[can].mean()) if can.any() else None
                row["missed_detectable_unlinked"] = int((can & ~right & ~linked).sum())
                both = can & linked
                row["recall_detectable_linked"] = (float(right[both].mean()) if both.any()
                                                   else None)
    return {"by_kind": by_kind, "by_field_kind": by_field_kind}


def _detectable(flagged: pa.Table, run: pa.Table,
                records: pa.Table) -> tuple[BoolArray, BoolArray]:
    """Per row of ``flagged`` (errors with ``r_row`` and ``true_entity_id``): whether the
    record's standardised value is present and its true entity holds another, different
    value (a spelling that only drops a prefix, or writes ``?`` for a character, is the
    same value), and whether the linkage kept the record's true entity in one predicted
    entity (else a miss may be the linkage's: the disagreeing record sits elsewhere)."""
    out = np.zeros(flagged.num_rows, dtype=bool)
    # codes are only compared and counted here: any one code per value will do
    truth_code = value_codes(run.column("true_entity_id"))
    pred_code = value_codes(run.column("entity_id"))
    r_run = run.column("r_row").to_numpy()
    at = np.full(records.num_rows, -1, dtype=np.int64)
    at[r_run] = np.arange(len(r_run))
    n_true = int(truth_code.max()) + 1 if len(truth_code) else 0
    # A true entity the linkage kept in one predicted entity.
    linked_run = (distinct_per_group(truth_code, pred_code, n_true) == 1)[truth_code]
    err_field = flagged.column("field").to_numpy(zero_copy_only=False).astype(str)
    err_pos = at[flagged.column("r_row").to_numpy()]
    linked = linked_run[err_pos]
    for f in np.unique(err_field).tolist():
        if f not in records.column_names:
            continue
        text = normalised_at(records, f, pa.array(r_run))
        code = normalised_codes(records, f)[r_run]
        has = code >= 0
        distinct = distinct_per_group(truth_code[has], code[has], n_true)
        several = has & (distinct[truth_code] >= 2)
        if several.any():
            code = fold_tails(text, code, truth_code, several, several)
            code = fold_tails(text, code, truth_code, several, several, wildcard=True)
            distinct = distinct_per_group(truth_code[has], code[has], n_true)
        mine = err_field == f
        pos = err_pos[mine]
        out[mine] = (code[pos] >= 0) & (distinct[truth_code[pos]] >= 2)
    return out, linked


def _chunked(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


_NOT_REPAIRABLE = ("stale", "missing", "duplicate")


def standardisation_repair(records: pa.Table, errors: pa.Table) -> dict[str, Any]:
    """Per error kind (and field:kind): share of injected errors whose record's
    standardised value equals the true value."""
    errors = errors.filter(pc.invert(pc.is_in(errors.column("kind"),
                                              value_set=pa.array(_NOT_REPAIRABLE))))
    parts: list[pa.Table] = []
    # every error's record at once: the lookup hashes the records' keys once, not per field
    at_all = first_rows(records, record_keys(errors))
    for fld in sorted(set(errors.column("field").to_pylist())):
        if fld not in records.column_names:
            continue
        is_field = pc.equal(errors.column("field"), fld)
        mine = errors.filter(is_field)
        at = at_all.filter(is_field)
        found = pc.is_valid(at)
        both = mine.filter(found)
        # the normalised value of a record's value, as normalise of the taken values
        # gives (it works value by value), from the column normalised once per evaluate
        repaired = pc.fill_null(pc.equal(normalised_at(records, fld, at.filter(found)),
                                         normalise(both.column("true_value"))), False)
        parts.append(pa.table({"field": both.column("field"), "kind": both.column("kind"),
                               "hit": repaired}))
    if not parts:
        return {"by_kind": {}, "by_field_kind": {}}
    table = pa.concat_tables(parts)
    hit = table.column("hit").to_numpy(zero_copy_only=False).astype(bool)
    return {
        "by_kind": _rates(*_label_codes(table.column("kind")), hit, "repaired"),
        "by_field_kind": _rates(*_label_codes(_field_kind(table)), hit, "repaired"),
    }


def _field_kind(table: pa.Table) -> pa.Array:
    """``field:kind`` per row (a null reads ``None``, as ``str`` spells it)."""
    return pc.binary_join_element_wise(pc.fill_null(as_string(table.column("field")), "None"),
                                       pc.fill_null(as_string(table.column("kind")), "None"),
                                       ":")


def _label_codes(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], np.ndarray]:
    """The distinct labels, sorted, and each row's index among them (a null reads
    ``None``): one hash of the column, where sorting NumPy strings took a second at 1M."""
    encoded = pc.dictionary_encode(pc.fill_null(as_string(column), "None"))
    names = encoded.dictionary.to_pylist()
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return [names[i] for i in order], rank[as_ints(encoded.indices)]


def _rates(names: list[str], inverse: np.ndarray, hit: np.ndarray,
           what: str) -> dict[str, Any]:
    """Per label (``names``; ``inverse``: each error's index among them): errors, hits and
    their share."""
    totals = np.bincount(inverse, minlength=len(names))
    found = np.bincount(inverse, weights=hit.astype(np.float64), minlength=len(names))
    rate = "recall" if what == "detected" else "rate"
    return {str(n): {"errors": int(t), what: int(f), rate: float(f / t) if t else None}
            for n, t, f in zip(names, totals, found, strict=True)}


#: conflicts read at a time when matching their candidates against the errors
CONFLICT_SLICE = 1 << 20


def _candidates_have_ids(conflicts: pa.Table) -> bool:
    if "candidates" not in conflicts.column_names:
        return False
    kind = conflicts.schema.field("candidates").type
    return bool(pa.types.is_list(kind) and pa.types.is_struct(kind.value_type)
                and kind.value_type.get_field_index("record_id") >= 0)


def _listed(flagged: pa.Table, error_row: np.ndarray, conflicts: pa.Table,
            record_id: np.ndarray, first: np.ndarray) -> tuple[BoolArray, BoolArray]:
    """Per error (``error_row``: its row among the run's records): some conflict on its
    field lists its record among the candidates; and one of the expected kind
    (``want_kind``) does. A record is named by the first run row holding its (source,
    entity type, key), as the string keys of :func:`_conflict_members` name it."""
    n_rows = len(first)
    by_id = np.argsort(record_id, kind="stable")
    sorted_ids = record_id[by_id]
    def vocabulary(*columns: pa.ChunkedArray) -> pa.Array:
        return pc.unique(pa.concat_arrays([pc.unique(c).cast(pa.string()) for c in columns]))

    fields = vocabulary(flagged.column("field"), conflicts.column("field"))
    kinds = vocabulary(flagged.column("want_kind"), conflicts.column("kind"))
    n_f, n_k = len(fields) + 1, len(kinds) + 1

    def code(column: pa.ChunkedArray | pa.Array, vocab: pa.Array) -> np.ndarray:
        return as_ints(pc.fill_null(pc.index_in(column, value_set=vocab), len(vocab)))

    e_key = first[error_row] * n_f + code(flagged.column("field"), fields)
    e_kind = _Keys(e_key * n_k + code(flagged.column("want_kind"), kinds))
    hit = np.zeros(len(e_key), dtype=bool)
    right = np.zeros(len(e_key), dtype=bool)
    # a second kind that also says what happened (ALSO_KIND): those errors' keys with it
    also: list[tuple[BoolArray, _Keys]] = []
    for kind, others in ALSO_KIND.items():
        is_kind = as_bools(pc.fill_null(pc.equal(flagged.column("kind"), kind), False))
        for other in others:
            at_other = pc.index(kinds, other).as_py()
            also.append((is_kind, _Keys(e_key * n_k
                                        + (at_other if at_other >= 0 else len(kinds)))))
    e_keys = _Keys(e_key)
    for start in range(0, conflicts.num_rows, CONFLICT_SLICE):
        part = conflicts.slice(start, CONFLICT_SLICE)
        candidates = part.column("candidates")
        lengths = as_ints(pc.fill_null(pc.list_value_length(candidates), 0))
        parent = np.repeat(np.arange(part.num_rows), lengths)
        ids = as_ints(pc.fill_null(pc.struct_field(pc.list_flatten(candidates), "record_id"),
                                   -1))
        pos = np.minimum(np.searchsorted(sorted_ids, ids), max(n_rows - 1, 0))
        known = (sorted_ids[pos] == ids) if n_rows else np.zeros(len(ids), dtype=bool)
        row = first[by_id[pos]][known] if n_rows else np.zeros(0, dtype=np.int64)
        m_key = row * n_f + code(part.column("field"), fields)[parent[known]]
        m_kind = m_key * n_k + code(part.column("kind"), kinds)[parent[known]]
        hit |= e_keys.among(m_key)
        right |= e_kind.among(m_kind)
        for is_kind, alt in also:
            right |= is_kind & alt.among(m_kind)
    return hit, right


class _Keys:
    """Integer keys (one per error) asked whether they are among a longer list: the
    distinct keys are hashed once and the list probes them, where hashing the list (the
    candidates of every conflict, millions at 1M records) for each question cost more."""

    def __init__(self, keys: np.ndarray) -> None:
        distinct, self.inverse = np.unique(keys, return_inverse=True)
        self.n = len(distinct)
        self.distinct = pa.array(distinct, pa.int64())

    def among(self, listed: np.ndarray) -> BoolArray:
        at = pc.index_in(pa.array(listed, pa.int64()), value_set=self.distinct)
        seen = np.zeros(self.n + 1, dtype=bool)
        seen[as_ints(pc.fill_null(at, self.n))] = True
        out: BoolArray = seen[:self.n][self.inverse]
        return out


def _conflict_members(conflicts: pa.Table) -> pa.Table:
    """(source, entity_type, source_key, field, kind) listed in any conflict (repeats
    kept: callers only ask whether a row is among them)."""
    empty = pa.table({k: pa.array([], pa.string()) for k in [*_KEY, "field", "kind"]})
    empty = empty.append_column("detected", pa.array([], pa.bool_()))
    if conflicts.num_rows == 0 or "candidates" not in conflicts.column_names:
        return empty
    lengths = pc.list_value_length(conflicts.column("candidates")).to_numpy(
        zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype(np.float64)).astype(np.int64)
    parent = np.repeat(np.arange(conflicts.num_rows), lengths)
    flat = pc.list_flatten(conflicts.column("candidates"))
    table = pa.table({
        "source": pc.struct_field(flat, "source"),
        "entity_type": conflicts.column("entity_type").take(pa.array(parent)),
        "source_key": pc.struct_field(flat, "source_key"),
        "field": conflicts.column("field").take(pa.array(parent)),
    })
    table = table.append_column("kind", conflicts.column("kind").take(pa.array(parent)))
    return table.append_column("detected", pa.array(np.ones(table.num_rows, dtype=bool)))


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.exists():
        raise SchemaError(f"evaluate: {path} not found")
    return pq.read_table(path, columns=columns)
