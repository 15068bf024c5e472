"""Write a run's outputs: Parquet tables, the fitted scoring models (``model_<type>.json``,
reusable through a pipeline section's ``model``) and ``run.json``, as one run folder.

A run never writes into the folder it is asked for. :func:`run_folder` hands out a fresh
staging folder beside it (``.<name>.staging-<pid>-<random>``), every file is written
there, ``run.json`` last (it lists every other file with its size), and only then is the
staging folder swapped in for the old one in one rename (Linux ``renameat2`` exchange;
elsewhere two renames) and the old run removed, its run.json first. So a folder with a
``run.json`` is one complete run: a crash, a kill or a full disk at any moment leaves
either the old run or the new one under the final name, never a mix, and the next run
removes the leftovers of dead processes. :func:`check_out_dir` refuses, before any work,
an ``--out`` that is a file, is not writable, holds files that are not a linkage run, or
holds an input.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import LinkageError
from linkage.io.report import render_figures, result_figures
from linkage.io.report_counts import (
    COUNTS_FILE,
    COUNTS_FORMAT,
    TOP_FILE,
    ReportCounts,
    result_counts,
)
from linkage.io.summary import run_summary
from linkage.io.worklists import write_worklists
from linkage.privacy import mask_personal

if TYPE_CHECKING:
    from linkage.match.score import FellegiSunter
    from linkage.pipeline import PipelineResult

log = logging.getLogger(__name__)

#: names a run folder may hold (what :func:`write_outputs` writes, and its temp files)
_RUN_FILE = re.compile(r"(?:[A-Za-z0-9_]+\.parquet|model_[a-z0-9_]+\.json|review_[a-z0-9_]+\.csv"
                       r"|run\.json|report\.html"
                       r"|\..+\.tmp)")
#: sub-folders a run folder may hold (the departments' worklists, the online index)
RUN_SUBFOLDERS = frozenset({"worklists", "index"})
#: sub-folders derived from a run's files, not listed in its run.json: the online index
#: (:mod:`linkage.service.index`), written beside the outputs or later by ``linkage index``
DERIVED_SUBFOLDERS = frozenset({"index"})
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?:staging|old|work)-(?P<pid>[0-9]+)-[0-9a-f]+")


class OutputError(LinkageError):
    """The output folder cannot take a run (a file, read-only, foreign files, an input)."""


def write_outputs(result: PipelineResult, out_dir: str | Path, *, lang: str = "zh",
                  beside: Callable[[Path], object] | None = None,
                  after_row_group: Callable[[], None] | None = None,
                  previous: Path | None = None) -> dict[str, Path]:
    """Write every output of ``result`` as the run folder ``out_dir`` (replacing a previous
    run there as a whole); returns name -> path. ``lang`` is the language of
    ``report.html`` (``zh`` or ``en``). ``beside(folder)`` writes a derived sub-folder
    into the staged run (the online index, :data:`DERIVED_SUBFOLDERS`) on a second thread
    while the outputs are written, so it is swapped in with them. ``after_row_group`` runs
    after each Parquet row group of the tables (an out-of-core run lets the memory-mapped
    pages just written go; the tables are then written one after the other).
    ``previous``: the run an incremental run updates (a department's worklists equal to
    its worklists there are hard-linked from it, not written again)."""
    out = Path(out_dir)
    with run_folder(out, inputs=_input_paths(result)) as stage, \
            ThreadPoolExecutor(max_workers=1) as pool:
        extra = pool.submit(beside, stage) if beside is not None else None
        staged = write_run_files(result, stage, lang=lang, after_row_group=after_row_group,
                                 previous=previous)
        if extra is not None:
            extra.result()
    written = {name: out / path.relative_to(stage) for name, path in staged.items()}
    log.info("wrote %d files to %s", len(written), out)
    return written


def write_run_files(result: PipelineResult, folder: Path, *, lang: str = "zh",
                    after_row_group: Callable[[], None] | None = None,
                    previous: Path | None = None) -> dict[str, Path]:
    """Every output file of ``result`` into ``folder``, ``run.json`` last with the list of
    the others (path inside the folder -> bytes). ``previous``: a run folder whose
    worklists are hard-linked where this run's are the same (an incremental run)."""
    tables: dict[str, pa.Table] = {"records": result.records, "pairs": result.pairs}
    for etype, table in result.golden.items():
        tables[f"golden_{etype}"] = table
    tables["conflicts"] = result.conflicts
    tables["quality"] = result.quality
    if result.legal_reps is not None:
        tables["legal_reps"] = result.legal_reps
    if result.employers is not None:
        tables["employers"] = result.employers
    tables["entity_changes"] = result.entity_changes
    files = {name: (table, folder / f"{name}.parquet") for name, table in tables.items()}
    worklists = partial(write_worklists, result.conflicts, result.config.sources, folder,
                        previous=previous)
    # the worklists' xlsx and the report are Python work (they hold the GIL); the
    # Parquet tables' encoding and compression release it: side by side, the tables
    # cost next to no wall time. A bounded-memory run (``after_row_group``) writes its
    # tables one after the other, row group by row group, beside them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        python_side = pool.submit(lambda: (worklists(), _write_report(result, folder, lang)))
        written = write_parquet_files(files, after_row_group=after_row_group)
        lists, report = python_side.result()
    written.update(lists)
    if after_row_group is not None:
        after_row_group()
    for etype, entity in result.entities.items():
        written[f"model_{etype}"] = _atomic(folder / f"model_{etype}.json",
                                            partial(_save_model, entity.model))
    for etype, entity in result.entities.items():
        if entity.review is not None:
            written[f"review_{etype}"] = _atomic(
                folder / f"review_{etype}.csv", partial(_write_review, entity.review))
    written.update(report)
    summary = mask_strings(run_summary(result))
    summary["files"] = {p.relative_to(folder).as_posix(): p.stat().st_size
                        for p in sorted(written.values())}
    written["run"] = write_json(summary, folder / "run.json")
    return written


def is_complete_run(folder: Path) -> bool:
    """Whether ``folder`` holds exactly the files its ``run.json`` lists, at their sizes
    (a derived sub-folder, which ``linkage index`` may rebuild in place, aside, and so are
    writes in progress: a name starting with ``.`` is an atomic write's temporary file or
    the index's scratch folder beside it, which the index's thread may still be filling
    when the staged run.json is written, never a file of the run)."""
    try:
        listed = json.loads((folder / "run.json").read_text(encoding="utf-8"))["files"]
        present = {path: p.stat().st_size for p in folder.rglob("*")
                   if p.is_file() and p.name != "run.json"
                   and (top := (path := p.relative_to(folder).as_posix()).split("/")[0])
                   not in DERIVED_SUBFOLDERS and not top.startswith(".")}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(listed, dict) and present == listed


# --- the run folder ------------------------------------------------------------------------


@contextlib.contextmanager
def run_folder(out: str | Path, *, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """A fresh staging folder beside ``out``; when the block ends without an error it
    becomes ``out`` in one swap (the previous run there is removed), else it is removed.

    Any engine writes a run through this: ``with run_folder(out) as stage: ...``."""
    target = check_out_dir(out, inputs=inputs)
    remove_leftovers(target)
    stage = _make_sibling(target, "staging")
    try:
        yield stage
        _swap_in(stage, target)
    except BaseException:
        _remove_run(stage)
        raise


@contextlib.contextmanager
def scratch_folder(out: str | Path) -> Iterator[Path]:
    """A work folder beside ``out`` for an engine's spill files (``.<name>.work-<pid>-...``,
    never inside the run folder), removed when the block ends; a killed run's is removed
    by the next run, like its staging folder."""
    target = Path(out).expanduser().resolve()
    remove_leftovers(target)
    path = _make_sibling(target, "work")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def check_out_dir(out: str | Path, *, inputs: Iterable[Path] = ()) -> Path:
    """The absolute output folder, after refusing one a run cannot (or must not) replace:
    an existing file, a folder that is not writable (or whose parent is not), a folder
    holding files other than a run's, or one holding an input of the run."""
    target = Path(out).expanduser().resolve()
    shown = str(out)
    if target.exists() and not target.is_dir():
        raise OutputError(f"--out {shown}: is an existing file, not a folder")
    parent = target.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {shown}: cannot create a folder in {probe} (not writable)")
    if target.is_dir():
        if not os.access(target, os.W_OK | os.X_OK):
            raise OutputError(f"--out {shown}: the folder is not writable")
        # a complete run (any engine's: run.json lists its files) is replaced whole
        foreign = [] if is_complete_run(target) else sorted(
            p.name for p in target.iterdir()
            if (p.name not in RUN_SUBFOLDERS if p.is_dir() else not _RUN_FILE.fullmatch(p.name)))
        if foreign:
            listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise OutputError(f"--out {shown}: holds files that are not a linkage run "
                              f"({listed}); a run replaces its folder whole, so name a new "
                              "or empty folder")
    for path in inputs:
        full = Path(path).resolve()
        if full == target or target in full.parents:
            raise OutputError(f"--out {shown}: holds an input of this run ({full.name}); "
                              "the run would replace it")
    return target


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the staging and old folders beside ``target`` that processes which have since
    died left behind (a killed run); a live run's folders are left alone."""
    removed: list[Path] = []
    parent = target.parent
    if not parent.is_dir():
        return removed
    for path in parent.iterdir():
        m = _LEFTOVER.fullmatch(path.name)
        if m is None or m["name"] != target.name or _alive(int(m["pid"])):
            continue
        _remove_run(path)
        removed.append(path)
    if removed:
        log.info("removed %d leftover folder(s) of killed runs beside %s", len(removed),
                 target.name)
    return removed


def _make_sibling(target: Path, kind: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o777)
    return path


def _swap_in(stage: Path, target: Path) -> None:
    """Make ``stage`` the folder ``target`` (atomically where the system allows)."""
    if not target.exists():
        try:
            stage.rename(target)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if _exchange(stage, target):
        _remove_run(stage)  # now holds the previous run
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    target.rename(old)
    stage.rename(target)
    _remove_run(old)


def _remove_run(folder: Path) -> None:
    """Remove a replaced run, its run.json first: a kill halfway through the removal must
    not leave a folder whose run.json claims files that are gone."""
    with contextlib.suppress(FileNotFoundError):
        (folder / "run.json").unlink()
    shutil.rmtree(folder, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mask_strings(data: Any) -> Any:
    """``data`` with every ID or mobile number inside its strings masked (a query or a
    metric label in run.json may quote one)."""
    if isinstance(data, str):
        return mask_personal(data)
    if isinstance(data, Mapping):
        return {k: mask_strings(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_strings(v) for v in data]
    return data


def _input_paths(result: PipelineResult) -> list[Path]:
    config = result.config
    paths = [s.path for s in config.sources]
    paths += [e.model for t in config.entity_types if (e := config.entity(t)) and e.model]
    if config.truth is not None:
        paths.append(config.truth)
    return paths


# --- single files --------------------------------------------------------------------------

def write_parquet_files(files: Mapping[str, tuple[pa.Table, Path]], *,
                        after_row_group: Callable[[], None] | None = None
                        ) -> dict[str, Path]:
    """Write several tables, each atomically, on up to one thread per core (Parquet
    encoding and compression release the GIL: a run's records, conflicts and golden
    records are written side by side). Returns name -> path, in the given order. With
    ``after_row_group`` (a bounded-memory run) at most :data:`BOUNDED_WRITERS` at a
    time, each row group by row group."""
    workers = min(len(files), os.cpu_count() or 1)
    if after_row_group is not None:
        workers = min(workers, BOUNDED_WRITERS)
    if workers <= 1:
        return {name: write_parquet(table, path, after_row_group=after_row_group)
                for name, (table, path) in files.items()}
    # the largest first, so no long write is left running alone at the end
    order = sorted(files, key=lambda name: -files[name][0].nbytes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(write_parquet, *files[name],
                                     after_row_group=after_row_group) for name in order}
        return {name: futures[name].result() for name in files}


#: Parquet files a bounded-memory run writes at once (each holds one row group's encoded
#: pages; two keep both cores of a small machine busy)
BOUNDED_WRITERS = 2


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


def _write_review(queue: pa.Table, tmp: str) -> None:
    from linkage.master.review import write_review

    write_review(queue, Path(tmp))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _save_model(model: FellegiSunter, tmp: str) -> None:
    model.save(Path(tmp))


def _write_report(result: PipelineResult, out: Path, lang: str = "zh") -> dict[str, Path]:
    """``report.html`` and the counts it is drawn from, which an incremental run on this
    one updates (:mod:`linkage.io.report_counts`)."""

    counts = result_counts(result)
    written = write_counts(counts, out)
    written["report"] = write_text(render_figures(result_figures(result, counts), lang=lang),
                                   out / "report.html")
    return written


def write_counts(counts: ReportCounts, folder: Path) -> dict[str, Path]:
    """``report_counts.json`` and ``report_top_conflicts.parquet`` into ``folder``."""
    data = {"format": COUNTS_FORMAT, "top_complete": counts.top_complete,
            "types": {t: c.to_json() for t, c in sorted(counts.types.items())}}
    return {"report_counts": write_json(data, folder / COUNTS_FILE),
            "report_top_conflicts": write_parquet(counts.top, folder / TOP_FILE)}
