"""Write a run's outputs: Parquet tables, the fitted scoring models (``model_<type>.json``,
reusable through a pipeline section's ``model``) and ``run.json``, each file atomically.

Every file is written to a temporary name in the same directory and renamed into place,
so a crash never leaves a half-written file under a final name. ``run.json`` is written
last: its presence means the run directory is complete.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
from collections.abc import Callable, Mapping
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.cluster import link_mask
from linkage.config import to_dict

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult
    from linkage.score import FellegiSunter

log = logging.getLogger(__name__)

PACKAGES = ("linkage", "pyarrow", "numpy", "rapidfuzz", "networkx", "duckdb", "opencc",
            "pypinyin")


def write_outputs(result: PipelineResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir``; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["records"] = write_parquet(result.records, out / "records.parquet")
    written["pairs"] = write_parquet(result.pairs, out / "pairs.parquet")
    for etype, table in result.golden.items():
        written[f"golden_{etype}"] = write_parquet(table, out / f"golden_{etype}.parquet")
    written["conflicts"] = write_parquet(result.conflicts, out / "conflicts.parquet")
    written["quality"] = write_parquet(result.quality, out / "quality.parquet")
    if result.legal_reps is not None:
        written["legal_reps"] = write_parquet(result.legal_reps, out / "legal_reps.parquet")
    written["entity_changes"] = write_parquet(result.entity_changes,
                                              out / "entity_changes.parquet")
    for etype, entity in result.entities.items():
        written[f"model_{etype}"] = _atomic(out / f"model_{etype}.json",
                                            partial(_save_model, entity.model))
    written["report"] = _write_report(result, out)
    written["run"] = write_json(run_summary(result), out / "run.json")
    log.info("wrote %d files to %s", len(written), out)
    return written


def run_summary(result: PipelineResult) -> dict[str, Any]:
    """Counts, timings, configuration, versions and metrics of a run (JSON-able)."""
    raw = result.raw_records
    inputs: dict[str, dict[str, int]] = {}
    for row in raw.group_by(["source", "entity_type"]).aggregate([("record_id", "count")]) \
            .sort_by([("source", "ascending"), ("entity_type", "ascending")]).to_pylist():
        inputs.setdefault(row["source"], {})[row["entity_type"]] = row["record_id_count"]
    outputs: dict[str, Any] = {"records": result.records.num_rows}
    for etype, e in result.entities.items():
        outputs[etype] = {
            "records": e.records.num_rows,
            "candidate_pairs": e.blocking.pairs.num_rows,
            "links": int(link_mask(e.scored, _threshold(result, etype)).sum()),
            "entities": e.golden.num_rows,
            "conflicts": e.conflicts.num_rows,
        }
    conflicts = result.conflicts
    by_kind: dict[str, int] = {}
    if conflicts.num_rows:
        for row in conflicts.group_by("kind").aggregate([("kind", "count")]).to_pylist():
            by_kind[row["kind"]] = row["kind_count"]
    flagged = int(pc.sum(pc.greater(pc.list_value_length(result.records.column("flags")), 0))
                  .as_py() or 0)
    return {
        "name": result.config.name,
        "inputs": inputs,
        "outputs": outputs,
        "records_flagged": flagged,
        "conflicts_by_kind": dict(sorted(by_kind.items())),
        "blocking": {t: e.blocking.report for t, e in result.entities.items()},
        "timings_s": result.timings,
        "metrics": result.metrics,
        "config": to_dict(result.config),
        "versions": _versions(),
    }


def write_parquet(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically."""
    return _atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def write_json(data: Mapping[str, Any], path: Path) -> Path:
    """Write ``data`` as indented UTF-8 JSON to ``path`` atomically."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False, default=str)
    return _atomic(path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    return _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _atomic(path: Path, write: Callable[[str], Any]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates files readable by the owner only; outputs get the usual mode.
        Path(tmp).chmod(0o666 & ~_umask())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _threshold(result: PipelineResult, etype: str) -> float:
    section = result.config.entity(etype)
    assert section is not None
    return section.scoring.link_threshold


def _save_model(model: FellegiSunter, tmp: str) -> None:
    model.save(Path(tmp))


def _write_report(result: PipelineResult, out: Path) -> Path:
    from linkage.report import render_report  # imports outputs.run_summary: load on use

    return write_text(render_report(result), out / "report.html")


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
