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
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.io.report import render_report
from linkage.io.summary import run_summary

if TYPE_CHECKING:
    from linkage.match.score import FellegiSunter
    from linkage.pipeline import PipelineResult

log = logging.getLogger(__name__)

def write_outputs(result: PipelineResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir``; returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pa.Table] = {"records": result.records, "pairs": result.pairs}
    for etype, table in result.golden.items():
        tables[f"golden_{etype}"] = table
    tables["conflicts"] = result.conflicts
    tables["quality"] = result.quality
    if result.legal_reps is not None:
        tables["legal_reps"] = result.legal_reps
    tables["entity_changes"] = result.entity_changes
    written = write_parquet_files({name: (table, out / f"{name}.parquet")
                                   for name, table in tables.items()})
    for etype, entity in result.entities.items():
        written[f"model_{etype}"] = _atomic(out / f"model_{etype}.json",
                                            partial(_save_model, entity.model))
    written["report"] = _write_report(result, out)
    written["run"] = write_json(run_summary(result), out / "run.json")
    log.info("wrote %d files to %s", len(written), out)
    return written


def write_parquet_files(files: Mapping[str, tuple[pa.Table, Path]]) -> dict[str, Path]:
    """Write several tables, each atomically, on up to one thread per core (Parquet
    encoding and compression release the GIL: a run's records, conflicts and golden
    records are written side by side). Returns name -> path, in the given order."""
    workers = min(len(files), os.cpu_count() or 1)
    if workers <= 1:
        return {name: write_parquet(table, path) for name, (table, path) in files.items()}
    # the largest first, so no long write is left running alone at the end
    order = sorted(files, key=lambda name: -files[name][0].nbytes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(write_parquet, *files[name]) for name in order}
        return {name: futures[name].result() for name in files}


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


def _save_model(model: FellegiSunter, tmp: str) -> None:
    model.save(Path(tmp))


def _write_report(result: PipelineResult, out: Path) -> Path:
    return write_text(render_report(result), out / "report.html")
