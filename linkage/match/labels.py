"""A user's own truth: labelled pairs (or clusters) read from CSV / xlsx, scored runs
measured against them with a threshold sweep, and m refined from labelled matches.

Labels name records by ``source`` and ``source_key`` (the department's own key), never by
``record_id``, which is dense per run: a label written against one run still means the
same two records in the next.

Pair labels: ``source_l, source_key_l, source_r, source_key_r, label`` where label is one
of match / non_match (also 1 / 0, yes / no, true / false, must_link / cannot_link; blank
means "not decided" and the row is skipped). Cluster labels: ``source, source_key,
cluster``: records with one cluster value are one entity, records of different clusters
are not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import SourceError

log = logging.getLogger(__name__)

PAIR_COLUMNS = ("source_l", "source_key_l", "source_r", "source_key_r")
CLUSTER_COLUMNS = ("source", "source_key", "cluster")
_YES = {"match", "1", "yes", "y", "true", "must_link", "same"}
_NO = {"non_match", "nonmatch", "non-match", "0", "no", "n", "false", "cannot_link",
       "different"}


def read_table(path: Path) -> pa.Table:
    """A CSV (UTF-8, with header) or the first sheet of an .xlsx file, every cell as text."""
    path = Path(path)
    if not path.is_file():
        raise SourceError("labels file not found", source=str(path))
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = [["" if v is None else str(v).strip() for v in row]
                for row in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        if not rows:
            raise SourceError("the sheet is empty", source=str(path))
        header = rows[0]
        return pa.table({name: pa.array([r[i] if i < len(r) else "" for r in rows[1:]],
                                        pa.string()) for i, name in enumerate(header)})
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding="utf-8-sig"),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={}, strings_can_be_null=False,
                                   auto_dict_encode=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"not a readable UTF-8 CSV file ({exc})", source=str(path)) from None
    return pa.table({n: pc.cast(table.column(n), pa.string()) for n in table.column_names})


def read_pair_labels(path: Path, *, column: str = "label") -> pa.Table:
    """``source_l, source_key_l, source_r, source_key_r, is_match`` (bool) per decided row;
    an unknown label value is an error naming the file, row and value."""
    table = read_table(path)
    missing = [c for c in (*PAIR_COLUMNS, column) if c not in table.column_names]
    if missing:
        raise SourceError(f"missing column(s) {', '.join(missing)} (pair labels need "
                          f"{', '.join((*PAIR_COLUMNS, column))})", source=str(path))
    raw = [("" if v is None else str(v)).strip().lower() for v in
           table.column(column).to_pylist()]
    keep, verdict = [], []
    for row, value in enumerate(raw):
        if not value:
            continue
        if value not in _YES and value not in _NO:
            raise SourceError(f"unknown label {value!r} (use match or non_match; blank = "
                              "undecided)", source=str(path), row=row + 2, field=column)
        keep.append(row)
        verdict.append(value in _YES)
    picked = table.select(list(PAIR_COLUMNS)).take(pa.array(keep, pa.int64()))
    return picked.append_column("is_match", pa.array(verdict, pa.bool_()))


def read_labels(path: Path) -> pa.Table:
    """Pair labels as :func:`read_pair_labels` gives them, from a pair file or a cluster
    file (every pair of labelled records becomes a label)."""
    table = read_table(path)
    if all(c in table.column_names for c in CLUSTER_COLUMNS):
        return _pairs_of_clusters(table)
    column = "decision" if "decision" in table.column_names and \
        "label" not in table.column_names else "label"
    return read_pair_labels(path, column=column)


def _pairs_of_clusters(table: pa.Table) -> pa.Table:
    rows = [r for r in table.select(list(CLUSTER_COLUMNS)).to_pylist() if r["cluster"]]
    out: dict[str, list[Any]] = {c: [] for c in (*PAIR_COLUMNS, "is_match")}
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            a, b = rows[i], rows[j]
            out["source_l"].append(a["source"])
            out["source_key_l"].append(a["source_key"])
            out["source_r"].append(b["source"])
            out["source_key_r"].append(b["source_key"])
            out["is_match"].append(a["cluster"] == b["cluster"])
    if len(rows) > 5000:
        log.warning("labels: %d labelled records give %d pairs", len(rows),
                    len(out["is_match"]))
    return pa.table({c: pa.array(v, pa.bool_() if c == "is_match" else pa.string())
                     for c, v in out.items()})


def resolve(records: pa.Table, labels: pa.Table) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], int]:
    """Labelled pairs as (id_l, id_r) record ids with id_l < id_r, their verdicts, and
    how many labels name a record this run does not have (left out)."""
    key = pc.binary_join_element_wise(pc.cast(records.column("source"), pa.string()),
                                      pc.cast(records.column("source_key"), pa.string()),
                                      "\x00")
    ids = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)

    def side(s: str) -> npt.NDArray[np.int64]:
        wanted = pc.binary_join_element_wise(labels.column(f"source_{s}"),
                                             labels.column(f"source_key_{s}"), "\x00")
        at = pc.index_in(wanted, value_set=key)
        pos = np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)

    left, right = side("l"), side("r")
    known = (left >= 0) & (right >= 0) & (left != right)
    verdict = np.asarray(labels.column("is_match").to_numpy(zero_copy_only=False), dtype=bool)
    lo, hi = np.minimum(left, right)[known], np.maximum(left, right)[known]
    return lo, hi, verdict[known], int((~known).sum())


def pair_probabilities(scored: pa.Table, id_l: npt.NDArray[np.int64],
                       id_r: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Each pair's match probability among ``scored`` (NaN when it was no candidate)."""
    width = int(max(int(id_r.max()) if len(id_r) else 0,
                    int(pc.max(scored.column("id_r")).as_py() or 0))) + 1
    code = np.asarray(scored.column("id_l").to_numpy(), dtype=np.int64) * width + \
        np.asarray(scored.column("id_r").to_numpy(), dtype=np.int64)
    order = np.argsort(code)
    wanted = id_l * width + id_r
    at = np.searchsorted(code[order], wanted)
    at = np.minimum(at, max(len(code) - 1, 0))
    found = (code[order][at] == wanted) if len(code) else np.zeros(len(wanted), dtype=bool)
    prob = np.asarray(scored.column("match_probability").to_numpy(), dtype=np.float64)
    return np.where(found, prob[order][at] if len(code) else 0.0, np.nan)


def sweep(probability: npt.NDArray[np.float64], is_match: npt.NDArray[np.bool_],
          thresholds: Sequence[float] | None = None) -> list[dict[str, float]]:
    """Precision, recall and F1 over the labelled pairs when "probability >= t" links, per
    threshold t (a pair that was no candidate is never linked)."""
    if thresholds is None:
        thresholds = [round(t, 3) for t in (*np.arange(0.05, 0.951, 0.05), 0.99, 0.999)]
    prob = np.nan_to_num(probability, nan=-1.0)
    rows = []
    for t in thresholds:
        linked = prob >= t
        tp = int((linked & is_match).sum())
        fp = int((linked & ~is_match).sum())
        fn = int((~linked & is_match).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"threshold": float(t), "precision": precision, "recall": recall,
                     "f1": f1, "tp": tp, "fp": fp, "fn": fn})
    return rows


def sweep_table(rows: Sequence[dict[str, float]]) -> str:
    """The sweep as a fixed-width text table."""
    lines = ["threshold  precision  recall      f1      tp      fp      fn"]
    for r in rows:
        lines.append(f"{r['threshold']:9.3f}  {r['precision']:9.4f}  {r['recall']:6.4f}  "
                     f"{r['f1']:6.4f}  {int(r['tp']):6d}  {int(r['fp']):6d}  {int(r['fn']):6d}")
    return "\n".join(lines)


def sweep_svg(rows: Sequence[dict[str, float]], *, width: int = 480, height: int = 260,
              marker: float | None = None) -> str:
    """Precision, recall and F1 against the threshold as a self-contained SVG line chart
    (``marker``: the run's link threshold, drawn as a dashed line)."""
    left, right, top, bottom = 44, 110, 12, 34
    w, h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + w * t

    def y(v: float) -> float:
        return top + h * (1 - v)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" '
             'stroke="#999"/>']
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}'
                     '</text>')
        parts.append(f'<text x="{x(v):.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{v:g}</text>')
    parts.append(f'<text x="{left + w / 2:.1f}" y="{height - 4}" text-anchor="middle">'
                 'match probability threshold</text>')
    colours = {"precision": "#1f77b4", "recall": "#ff7f0e", "f1": "#2ca02c"}
    for k, (name, colour) in enumerate(colours.items()):
        points = " ".join(f"{x(r['threshold']):.1f},{y(r[name]):.1f}" for r in rows
                          if math.isfinite(r[name]))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{left + w + 10}" y="{top + 14 + 16 * k}" fill="{colour}">'
                     f'{name}</text>')
    if marker is not None:
        parts.append(f'<line x1="{x(marker):.1f}" y1="{top}" x2="{x(marker):.1f}" '
                     f'y2="{top + h}" stroke="#555" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def labelled_metrics(records: pa.Table, scored: pa.Table, labels_path: Path,
                     thresholds: Sequence[float] | None = None) -> dict[str, Any]:
    """A run's pairs (``scored``: id_l, id_r, match_probability) and entities
    (``records``: record_id, source, source_key, entity_id) measured against a user's
    labels: the sweep over thresholds (candidate pairs scored at or above t) and the
    run's own result (two records linked when they share an entity id)."""
    labels = read_labels(labels_path)
    id_l, id_r, is_match, unknown = resolve(records, labels)
    if unknown:
        log.warning("labels: %d labelled pair(s) name records this run does not have",
                    unknown)
    prob = pair_probabilities(scored, id_l, id_r)
    rows = sweep(prob, is_match, thresholds)
    records = records.sort_by("record_id")
    ids_sorted = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    entity = records.column("entity_id").combine_chunks()
    ent_l = entity.take(pa.array(np.searchsorted(ids_sorted, id_l)))
    ent_r = entity.take(pa.array(np.searchsorted(ids_sorted, id_r)))
    # an unclustered record (null entity id) is linked to nothing
    same = np.asarray(pc.fill_null(pc.equal(ent_l, ent_r), False)
                      .to_numpy(zero_copy_only=False), dtype=bool)
    run_row = sweep(np.where(same, 1.0, 0.0), is_match, [0.5])[0]
    best = max(rows, key=lambda r: r["f1"]) if rows else None
    return {"labelled_pairs": len(is_match), "labelled_matches": int(is_match.sum()),
            "unknown_records": unknown, "candidates": int(np.isfinite(prob).sum()),
            "run": {k: v for k, v in run_row.items() if k != "threshold"},
            "best": best, "sweep": rows}


def m_from_labels(vectors: pa.Table, comparisons: Sequence[Any],
                  prior_m: dict[str, npt.NDArray[np.float64]],
                  prior_pairs: float = 20.0) -> dict[str, npt.NDArray[np.float64]]:
    """m refined by labelled matches: each comparison's level counts among ``vectors``
    (the labelled matches' comparison vectors) plus ``prior_m`` worth ``prior_pairs``
    pseudo-pairs, so a handful of labels nudges the fitted m and many labels decide it."""
    out = {}
    for comp in comparisons:
        gamma = np.asarray(vectors.column(f"gamma_{comp.name}").to_numpy(), dtype=np.int64)
        counts = np.bincount(gamma[gamma >= 0], minlength=comp.n_levels)[: comp.n_levels]
        mixed = counts + prior_pairs * prior_m[comp.name]
        out[comp.name] = np.asarray(mixed / mixed.sum(), dtype=np.float64)
    return out
