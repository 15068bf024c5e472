"""Log-structured tables of incremental runs, and their compaction.

An incremental run changes a few percent of a master's rows, spread over the whole table;
rewriting the big tables (records, pairs, golden records, conflicts) would cost it as much
as a full run writes. Instead its run folder holds each of them as a log
(:mod:`linkage.io.run_tables` reads it back merged): the previous run's files hard-linked
as they are, plus this run's rows as ``<name>__add_<n>.parquet`` and the keys of the rows
they replace or remove as ``<name>__del_<n>.parquet``. When a table has piled up
:data:`MAX_PARTS` runs' parts, the run writes it as one plain file again; ``linkage
compact RUN`` does so for every log table of a run, through the same staging folder and
swap as a run (:func:`linkage.io.outputs.run_folder`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import LinkageError
from linkage.io.outputs import (
    DERIVED_SUBFOLDERS,
    is_complete_run,
    run_folder,
    write_json,
    write_parquet,
)
from linkage.io.run_tables import log_table, read_run_table, run_table_names

log = logging.getLogger(__name__)

__all__ = ["MAX_PARTS", "append_run_table", "compact_run", "link_file"]

#: incremental runs' parts a table may hold before a run writes it as one file again
MAX_PARTS = 8


def link_file(source: Path, target: Path) -> Path:
    """``source`` hard-linked as ``target`` (copied when the two are on different file
    systems): a file carried over from an earlier run is not written again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def append_run_table(previous: Path, stage: Path, name: str, added: pa.Table,
                     deleted: Mapping[str, pa.Array | pa.ChunkedArray], *,
                     max_parts: int = MAX_PARTS) -> list[Path]:
    """Table ``name`` of the run being staged in ``stage``: the table of ``previous``
    (its files hard-linked), less the rows ``deleted`` names (column -> values; a row
    goes when any of its columns holds one of that column's values), plus ``added``.
    Written as one plain file instead when ``previous`` holds the table in a form that
    cannot be linked (a Spark folder) or when the log would pass ``max_parts`` runs; when
    nothing changes, the previous files are linked and no part is added. Returns the
    files written or linked."""
    single = previous / f"{name}.parquet"
    old = log_table(previous, name)
    base: Path | None
    parts: tuple[tuple[Path, Path], ...]
    if single.is_file():
        base, parts = single, ()
    elif old is not None:
        base, parts = old.base, tuple(zip(old.dels, old.adds, strict=True))
    else:
        base, parts = None, ()
    if base is not None and not added.num_rows and not any(len(v) for v in deleted.values()):
        # nothing changes: the previous run's files, linked as they are
        if not parts:
            return [link_file(base, stage / base.name)]
        assert old is not None
        return [link_file(p, stage / p.name) for p in old.files]
    if base is None or len(parts) + 1 > max_parts:
        return [_merged_file(previous, stage, name, added, deleted)]
    schema = pq.read_schema(base)
    files = [link_file(base, stage / f"{name}__base.parquet")]
    for d, a in parts:
        files += [link_file(d, stage / d.name), link_file(a, stage / a.name)]
    n = len(parts) + 1
    files.append(write_parquet(_deletions(deleted, schema),
                               stage / f"{name}__del_{n:04d}.parquet"))
    files.append(write_parquet(_conform(added, schema), stage / f"{name}__add_{n:04d}.parquet"))
    return files


def _merged_file(previous: Path, stage: Path, name: str, added: pa.Table,
                 deleted: Mapping[str, pa.Array | pa.ChunkedArray]) -> Path:
    """The table as one file: ``previous``'s rows less the deleted ones, plus ``added``."""
    import pyarrow.compute as pc

    table = read_run_table(previous, name)
    drop = None
    for key, values in deleted.items():
        if key not in table.column_names or not len(values):
            continue
        hit = pc.is_in(table.column(key), value_set=pa.chunked_array([values])
                       .combine_chunks().cast(table.schema.field(key).type))
        drop = hit if drop is None else pc.or_(drop, hit)
    if drop is not None:
        table = table.filter(pc.invert(pc.fill_null(drop, False)))
    table = pa.concat_tables([table, _conform(added, table.schema)])
    log.info("table %s: written whole (%d rows)", name, table.num_rows)
    return write_parquet(table, stage / f"{name}.parquet")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (a column it lacks as nulls),
    so every part of a log reads as one table."""
    n = table.num_rows
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _deletions(deleted: Mapping[str, pa.Array | pa.ChunkedArray],
               schema: pa.Schema) -> pa.Table:
    """The deletion file: one column per key, padded with nulls to one length."""
    arrays = {k: pa.chunked_array([v]).combine_chunks() if isinstance(v, pa.Array)
              else v.combine_chunks() for k, v in deleted.items()}
    n = max((len(a) for a in arrays.values()), default=0)
    columns = {}
    for key, values in arrays.items():
        kind = schema.field(key).type if key in schema.names else values.type
        values = values.cast(kind)
        if len(values) < n:
            values = pa.concat_arrays([values, pa.nulls(n - len(values), kind)])
        columns[key] = values
    return pa.table(columns)


def compact_run(run: str | Path, *,
                index: Callable[[Path, Path], object] | None = None) -> list[str]:
    """Write every log table of the run folder ``run`` as one plain file (through a
    staging folder swapped in for the run, as a run is written; every other file is
    hard-linked), and the worklists' workbooks of an incremental run (the night's changes)
    as complete ones. ``index(run, stage)``: given when the run's master index holds
    parts, writes it whole into the staged run once its run.json is there
    (:func:`linkage.service.compact.compact_run` passes it). Returns the names of the
    tables compacted, ``index`` when the index was and ``worklists`` when the workbooks
    were (none: the run is left as it is)."""
    folder = Path(run).expanduser().resolve()
    if not is_complete_run(folder):
        raise LinkageError(f"{run}: not a complete run folder (its run.json does not list "
                           "the files it holds)")
    logs = [n for n in run_table_names(folder) if log_table(folder, n) is not None]
    if not logs and index is None and not _change_books(folder):
        return []
    summary = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    with run_folder(folder) as stage:
        written: dict[str, int] = {}
        log_files = {p.name for n in logs if (t := log_table(folder, n)) is not None
                     for p in t.files}
        for name in logs:
            path = write_parquet(read_run_table(folder, name), stage / f"{name}.parquet")
            written[path.name] = path.stat().st_size
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if not path.is_file() or path.name == "run.json" or path.name in log_files:
                continue
            link_file(path, stage / rel)
            if rel.parts[0] not in DERIVED_SUBFOLDERS:
                written[rel.as_posix()] = path.stat().st_size
        books = _complete_workbooks(folder, summary, stage)
        for path in books:
            written[path.relative_to(stage).as_posix()] = path.stat().st_size
        summary["files"] = dict(sorted(written.items()))
        write_json(summary, stage / "run.json")
        if index is not None:  # the master index whole again too (the staged run is complete)
            index(folder, stage)
    done = [*logs, *(["index"] if index is not None else []), *(["worklists"] if books else [])]
    log.info("compacted %s: %s", folder, ", ".join(done))
    return done


def _complete_workbooks(folder: Path, summary: Mapping[str, Any], stage: Path) -> list[Path]:
    """The worklists' complete workbooks, where an incremental run left the night's
    changes (:func:`linkage.io.worklists.complete_workbooks`)."""
    from linkage.config import pipeline_from_dict
    from linkage.io.worklists import complete_workbooks

    config = summary.get("config")
    if not isinstance(config, Mapping) or not (folder / "worklists").is_dir():
        return []
    base = Path(str(config.get("base_dir", ".")))
    sources = pipeline_from_dict({k: v for k, v in config.items() if k != "base_dir"},
                                 base_dir=base, origin=f"{folder}/run.json").sources
    return complete_workbooks(folder, sources, stage)


def _change_books(folder: Path) -> bool:
    """Whether a department's workbook in the run holds an incremental run's changes."""
    from linkage.io.worklists import holds_changes

    return any(holds_changes(book) for book in (folder / "worklists").glob("*.xlsx"))
