"""Writing an incremental run's folder: the big tables as logs (the previous run's files
hard-linked, the batch's rows as new parts, :mod:`linkage.io.run_log`), the small ones
whole, the worklists from the previous run's and the night's conflicts (each CSV updated,
each workbook the night's changes: :func:`linkage.io.worklists.write_worklist_changes`),
the report and ``run.json`` from the report's kept counts (:mod:`linkage.io.report_counts`),
the models, with the master index merged beside them on a second thread; staged and
swapped in as any run (:func:`linkage.io.outputs.run_folder`). None of it reads the run's
complete records, pairs, golden records or conflicts."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from linkage.io.outputs import (
    OutputError,
    mask_strings,
    run_folder,
    write_counts,
    write_json,
    write_parquet_files,
    write_text,
)
from linkage.io.report import render_figures, result_figures
from linkage.io.report_counts import ReportCounts, result_counts
from linkage.io.run_log import MAX_PARTS, append_run_table
from linkage.io.summary import run_summary
from linkage.io.worklists import write_worklist_changes

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["TableDelta", "write_incremental_run"]


@dataclass(frozen=True)
class TableDelta:
    """How a run's table differs from the previous run's: the rows ``added`` and, per key
    column, the values whose rows are replaced or removed."""

    added: pa.Table
    deleted: Mapping[str, pa.Array | pa.ChunkedArray]


def write_incremental_run(result: PipelineResult, out: str | Path, previous: Path,
                          deltas: Mapping[str, TableDelta], *,
                          beside: Callable[[Path], object] | None = None,
                          max_parts: int = MAX_PARTS, lang: str = "zh",
                          timings: dict[str, float] | None = None,
                          report: tuple[ReportCounts, list[Any]] | None = None
                          ) -> dict[str, Path]:
    """Write the run folder ``out`` of an incremental run on ``previous``: each table of
    ``deltas`` as a log on the previous run's, every other output whole. ``beside(stage)``
    writes the index into the staged run on a second thread. ``timings`` gets each
    part's seconds (``write.<part>``; the worklists' and the index's run beside the
    rest, so the parts add up to more than the wall time). ``report``: the report's
    counts, updated from the previous run's, and its explained pairs
    (:mod:`linkage.io.report_counts`); the report and ``run.json`` are drawn from them
    (without: from the result's whole tables)."""
    out = Path(out)
    timings = timings if timings is not None else {}
    inputs = [s.path for s in result.config.sources]
    with run_folder(out, inputs=inputs) as stage:
        # the worklists' xlsx are pure Python (they hold the GIL for seconds): a child
        # process writes them on the other core, forked before the index's thread starts
        conflicts = deltas["conflicts"]
        worklists = _forked(functools.partial(write_worklist_changes, previous,
                                              conflicts.deleted["entity_id"], conflicts.added,
                                              result.config.sources, stage), timings)
        with ThreadPoolExecutor(max_workers=1) as pool:
            extra = (pool.submit(_timed, timings, "write.index", beside, stage)
                     if beside is not None else None)
            written = _write_files(result, stage, previous, deltas, worklists, report,
                                   max_parts=max_parts, lang=lang, timings=timings)
            if extra is not None:
                extra.result()
    return {name: out / path.relative_to(stage) for name, path in written.items()}


def _timed(timings: dict[str, float], key: str, fn: Callable[..., T], *args: Any) -> T:
    t0 = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timings[key] = round(time.perf_counter() - t0, 4)


def _forked(write: Callable[[], Mapping[str, Path]],
            timings: dict[str, float]) -> Callable[[], Mapping[str, Path]]:
    """Start ``write`` in a forked child process; returns the wait for its result (the
    paths it wrote; its seconds go to ``timings["write.worklists"]``). Where processes
    cannot be forked, ``write`` runs when waited for."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return lambda: _timed(timings, "write.worklists", write)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        t0 = time.perf_counter()
        try:
            paths = {k: str(v) for k, v in write().items()}
            send.send(("ok", paths, time.perf_counter() - t0))
        except BaseException as exc:  # reported by the parent, which raises it
            send.send(("error", f"{type(exc).__name__}: {exc}", 0.0))

    process = ctx.Process(target=child, name="linkage-worklists")
    process.start()
    send.close()

    def wait() -> Mapping[str, Path]:
        t0 = time.perf_counter()
        try:
            status, payload, seconds = receive.recv()
        except EOFError:
            status, payload, seconds = "error", "the process ended without a result", 0.0
        finally:
            process.join()
            receive.close()
        timings["write.worklists"] = round(seconds, 4)
        timings["write.worklists_wait"] = round(time.perf_counter() - t0, 4)
        if status != "ok":
            raise OutputError(f"writing the worklists failed: {payload}")
        return {k: Path(v) for k, v in payload.items()}

    return wait


def _write_files(result: PipelineResult, stage: Path, previous: Path,
                 deltas: Mapping[str, TableDelta],
                 worklists: Callable[[], Mapping[str, Path]],
                 report: tuple[ReportCounts, list[Any]] | None, *, max_parts: int,
                 lang: str, timings: dict[str, float]) -> dict[str, Path]:
    t0 = time.perf_counter()
    written: dict[str, Path] = {}
    for name, delta in deltas.items():
        for i, path in enumerate(append_run_table(previous, stage, name, delta.added,
                                                  delta.deleted, max_parts=max_parts)):
            written[f"{name}#{i}"] = path
    whole: dict[str, pa.Table] = {"quality": result.quality,
                                  "entity_changes": result.entity_changes}
    if result.legal_reps is not None:
        whole["legal_reps"] = result.legal_reps
    if result.employers is not None:
        whole["employers"] = result.employers
    written.update(write_parquet_files({n: (t, stage / f"{n}.parquet")
                                        for n, t in whole.items()}))
    timings["write.tables"] = round(time.perf_counter() - t0, 4)
    counts, examples = report if report is not None else (result_counts(result), None)

    def draw() -> dict[str, Path]:
        files = write_counts(counts, stage)
        files["report"] = write_text(render_figures(result_figures(result, counts, examples),
                                                    lang=lang), stage / "report.html")
        return files

    written.update(_timed(timings, "write.report", draw))
    for etype, entity in result.entities.items():
        path = stage / f"model_{etype}.json"
        entity.model.save(path)
        written[f"model_{etype}"] = path
    summary = mask_strings(run_summary(result, counts))
    written.update(worklists())
    summary["files"] = {p.relative_to(stage).as_posix(): p.stat().st_size
                        for p in sorted(written.values())}
    written["run"] = write_json(summary, stage / "run.json")
    log.info("incremental run: %d files staged (%s as logs)", len(written),
             ", ".join(deltas))
    return written

