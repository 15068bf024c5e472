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

def write_outputs(result: PipelineResult, out_dir: str | Path, *,
                  after_row_group: Callable[[], None] | None = None) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir``; returns name -> path.
    ``after_row_group`` runs after each Parquet row group of the large tables (an
    out-of-core run lets the memory-mapped pages just written go)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    big = partial(write_parquet, after_row_group=after_row_group)
    written["records"] = big(result.records, out / "records.parquet")
    written["pairs"] = big(result.pairs, out / "pairs.parquet")
    for etype, table in result.golden.items():
        written[f"golden_{etype}"] = big(table, out / f"golden_{etype}.parquet")
    written["conflicts"] = big(result.conflicts, out / "conflicts.parquet")
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


#: rows per Parquet row group (pyarrow's default, so a table written in row groups is the
#: file ``pq.write_table`` writes, byte for byte)
ROW_GROUP_ROWS = 1 << 20


def write_parquet(table: pa.Table, path: Path, *,
                  after_row_group: Callable[[], None] | None = None) -> Path:
    """Write ``table`` to ``path`` atomically (zstd), calling ``after_row_group`` after
    each row group."""
    def write(tmp: str) -> None:
        with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
            for start in range(0, max(table.num_rows, 1), ROW_GROUP_ROWS):
                writer.write_table(table.slice(start, ROW_GROUP_ROWS))
                if after_row_group is not None:
                    after_row_group()
    if after_row_group is None:
        return _atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return _atomic(path, write)


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
