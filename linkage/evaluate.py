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
- conflict recall per error kind: an injected error (truth/errors.parquet) counts as
  detected when a conflict on the same field lists the erroneous record among its
  candidates.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.errors import SchemaError
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

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
    truth_dir = Path(truth_dir)
    require_fields(records, [*_KEY, "entity_id"], what="evaluate(records)")
    truth = _read(truth_dir / "records.parquet")
    require_fields(truth, [*_KEY, "true_entity_id"], what="truth records.parquet")
    run = records.select([*_KEY, "entity_id"])
    run = run.cast(pa.schema([(n, pa.string()) for n in run.column_names]))
    joined = run.join(truth.select([*_KEY, "true_entity_id"]), keys=_KEY, join_type="inner")
    result: dict[str, Any] = {
        "records_in_run": run.num_rows,
        "records_in_truth": truth.num_rows,
        "records_matched": joined.num_rows,
    }
    for etype in sorted(set(joined.column("entity_type").to_pylist())):
        part = joined.filter(pc.equal(joined.column("entity_type"), etype))
        metrics = cluster_metrics(part.column("entity_id"), part.column("true_entity_id"))
        entities_path = truth_dir / f"entities_{etype}.parquet"
        if golden is not None and etype in golden and entities_path.exists():
            observable = _observable(truth_dir, part)
            metrics["golden"] = golden_accuracy(part, golden[etype], _read(entities_path),
                                                observable=observable)
        result[etype] = metrics
    errors_path = truth_dir / "errors.parquet"
    if conflicts is not None and errors_path.exists():
        result["conflicts"] = conflict_recall(joined, conflicts, _read(errors_path))
    return result


def evaluate_run(truth_dir: Path, run_dir: Path) -> dict[str, Any]:
    """:func:`evaluate` on a run directory (records.parquet, golden_<type>.parquet,
    conflicts.parquet as written by ``linkage run``)."""
    run_dir = Path(run_dir)
    records = _read(run_dir / "records.parquet", columns=[*_KEY, "entity_id"])
    golden = {
        path.stem.removeprefix("golden_"): pq.read_table(path)
        for path in sorted(run_dir.glob("golden_*.parquet"))
    }
    conflicts_path = run_dir / "conflicts.parquet"
    conflicts = pq.read_table(conflicts_path) if conflicts_path.exists() else None
    return evaluate(records, Path(truth_dir), golden=golden or None, conflicts=conflicts)


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
    b_precision = float((c * c / size_p).sum()) / n if n else 1.0
    b_recall = float((c * c / size_t).sum()) / n if n else 1.0
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
                    observable: Mapping[str, pa.Array] | None = None) -> dict[str, Any]:
    """Per field: share of predicted entities whose golden value equals the true value
    (and, for fields in ``observable``, the same over entities whose true id is listed)."""
    if "entity_id" not in golden.column_names:
        raise SchemaError("evaluate(golden): missing column 'entity_id'")
    mapping = majority_truth(run)
    fields = [f for f in entities.column_names
              if f != "entity_id" and f in golden.column_names]
    left = golden.select(["entity_id", *fields]).join(mapping, "entity_id", join_type="inner")
    right = entities.select(["entity_id", *fields]).rename_columns(
        ["true_entity_id", *(f"{f}__true" for f in fields)])
    both = left.join(right, "true_entity_id", join_type="inner")
    out: dict[str, Any] = {}
    for f in fields:
        chosen = _normalise(both.column(f))
        true = _normalise(both.column(f"{f}__true"))
        right_mask = np.array([a == b for a, b in zip(chosen, true, strict=True)], dtype=bool)
        n = len(right_mask)
        out[f] = {"accuracy": float(right_mask.mean()) if n else None, "entities": n}
        if observable is not None and f in observable:
            seen = pc.is_in(both.column("true_entity_id"), value_set=observable[f])
            mask = pc.fill_null(seen, False).to_numpy(zero_copy_only=False)
            k = int(mask.sum())
            out[f]["accuracy_observable"] = float(right_mask[mask].mean()) if k else None
            out[f]["entities_observable"] = k
    return out


_HIDING = ("missing", "masked", "placeholder")


def _observable(truth_dir: Path, run: pa.Table) -> dict[str, pa.Array] | None:
    """Per field, the true entities at least one run record shows a value of: its
    department holds the field (manifest.json columns) and the value was not hidden."""
    manifest_path = truth_dir.parent / "manifest.json"
    errors_path = truth_dir / "errors.parquet"
    if not manifest_path.exists() or not errors_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    holds: dict[str, list[tuple[str, str]]] = {}
    for info in manifest.get("files", []):
        for fld in info.get("columns", {}):
            holds.setdefault(fld, []).append((info["department"], info["entity_type"]))
    errors = _read(errors_path, columns=[*_KEY, "field", "kind"])
    hidden = errors.filter(pc.is_in(errors.column("kind"), value_set=pa.array(_HIDING)))
    out: dict[str, pa.Array] = {}
    for fld, sources in holds.items():
        keys = pa.array([f"{d}\x1f{t}" for d, t in sources])
        label = pc.binary_join_element_wise(run.column("source"), run.column("entity_type"),
                                            "\x1f")
        rows = run.filter(pc.is_in(label, value_set=keys)).select([*_KEY, "true_entity_id"])
        gone = hidden.filter(pc.equal(hidden.column("field"), fld)).select(_KEY)
        gone = gone.append_column("hidden", pa.array(np.ones(gone.num_rows, dtype=bool)))
        rows = rows.join(gone, keys=_KEY, join_type="left outer")
        rows = rows.filter(pc.is_null(rows.column("hidden")))
        out[fld] = pc.unique(rows.column("true_entity_id"))
    return out


def conflict_recall(run: pa.Table, conflicts: pa.Table, errors: pa.Table) -> dict[str, Any]:
    """Per error kind (and per field:kind): share of injected errors, on records present in
    the run, that a conflict on the same field lists among its candidates."""
    errors = errors.filter(pc.not_equal(errors.column("field"), "record"))
    present = run.select(_KEY)
    errors = errors.join(present, keys=_KEY, join_type="inner")
    listed = _conflict_members(conflicts)
    flagged = errors.join(listed, keys=[*_KEY, "field"], join_type="left outer")
    hit = pc.fill_null(flagged.column("detected"), False).to_numpy(zero_copy_only=False)
    kinds = flagged.column("kind").to_numpy(zero_copy_only=False)
    fields = flagged.column("field").to_numpy(zero_copy_only=False)
    by_kind: dict[str, Any] = {}
    by_field_kind: dict[str, Any] = {}
    for key_arr, target in ((kinds, by_kind), (np.char.add(np.char.add(
            fields.astype(str), ":"), kinds.astype(str)), by_field_kind)):
        labels, inverse = np.unique(key_arr.astype(str), return_inverse=True)
        totals = np.bincount(inverse, minlength=len(labels))
        found = np.bincount(inverse, weights=hit.astype(np.float64), minlength=len(labels))
        for label, total, got in zip(labels.tolist(), totals, found, strict=True):
            target[label] = {"errors": int(total), "detected": int(got),
                             "recall": float(got / total) if total else None}
    return {"by_kind": by_kind, "by_field_kind": by_field_kind}


def _conflict_members(conflicts: pa.Table) -> pa.Table:
    """Distinct (source, entity_type, source_key, field) listed in any conflict."""
    empty = pa.table({k: pa.array([], pa.string()) for k in [*_KEY, "field"]}).append_column(
        "detected", pa.array([], pa.bool_()))
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
    table = table.group_by([*_KEY, "field"]).aggregate([])
    return table.append_column("detected", pa.array(np.ones(table.num_rows, dtype=bool)))


def _normalise(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """Values for comparison: NFKC, trimmed, empty -> None, numbers as floats."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(column)
    uniques = [_norm_one(v) for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices.to_pylist()
    return [None if i is None else uniques[i] for i in indices]


def _norm_one(value: str) -> Any:
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.exists():
        raise SchemaError(f"evaluate: {path} not found")
    return pq.read_table(path, columns=columns)
