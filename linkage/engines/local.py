"""The out-of-core run of one machine: memory bounded by a budget, not by the input.

What is on disk (a work folder beside the output folder, ``.<out>.work-<pid>-<random>``,
removed at the end, and by the next run when a killed one left it):

- ``raw_<i>.arrow``: each source as read (Arrow IPC, one file per source);
- ``std_<type>_<j>.arrow``: the standardised records, one file per batch;
- ``<type>_scored``, ``<type>_vectors``, ``<type>_pairs``: the scored pairs, comparison
  vectors and candidate pairs, once scored;
- ``by_entity``: the golden records and conflicts, one file per chunk of entities;
- ``records``: every record with its entity id, one file per range of record ids,
  before they become records.parquet (written row group by row group).

Each is opened memory-mapped, so its pages belong to the page cache (the kernel drops
them under pressure and reads them again) rather than to the process; after each batch,
chunk, range and output row group the pages read are let go (``MADV_DONTNEED``). A file
is deleted as soon as no table reads it any more (its map is collected), not at the end:
once the records with their entity ids are spilled, each type's records are read from
there, and the standardised batches go. The engine logs the folder's peak size.

What is in memory: one source while it is read; one batch while it is standardised; the
columns blocking and compare read (whole columns: they are the linking kernels' input),
the candidate pairs and their scores until they are spilled; the clusters (record ->
entity id); one chunk of entities while golden records, conflicts are built; quality,
legal representatives and evaluation read whole columns of the mapped tables. Blocking
beyond 50M pairs spills through DuckDB with half the budget as its ``memory_limit``.

The budget (``[engine] memory_limit``, ``--memory-limit``, default 60% of physical
memory) sets the batch and chunk sizes at :data:`BYTES_PER_RECORD` per record.

The kernels are the library's stage functions, unchanged: this module only feeds them
(:class:`LocalPipeline` overrides the hooks of :class:`~linkage.pipeline.Pipeline`), so a
run here gives the same entities, golden records and conflicts as ``Pipeline.run``.
"""

from __future__ import annotations

import functools
import logging
import mmap
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.config import EntityConfig, PipelineConfig
from linkage.io.sources import read_source
from linkage.pipeline import (
    EntityResult,
    Pipeline,
    PipelineResult,
    _merge_read_flags,
    _records_with_entities,
)
from linkage.runtime.memory import give_back
from linkage.standardisers import standardise

log = logging.getLogger(__name__)

__all__ = ["BYTES_PER_RECORD", "LocalPipeline", "run_local", "spill"]

#: Working memory of one record inside a batch or chunk (its standardised columns, the
#: stage's codes and temporaries). Measured: golden + conflicts on 1M person records
#: peaked near 1.5 GB, i.e. ~1.5 KB a record; doubled for headroom.
BYTES_PER_RECORD = 3 << 10
#: a batch or chunk holds at most this share of the budget (the linking stages hold
#: the rest: columns, pairs, scores)
CHUNK_SHARE = 0.25
MIN_ROWS = 1_000


class SpillSpace:
    """The bytes of the spill files alive now and at most: a file counts from its write
    until its map is collected (no table reads it any more), when it is deleted."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def add(self, mapped: mmap.mmap, path: Path) -> None:
        size = path.stat().st_size
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(mapped, self._gone, path, size)

    def _gone(self, path: Path, size: int) -> None:
        self.live -= size
        path.unlink(missing_ok=True)


def spill(table: pa.Table, path: Path,
          maps: list[mmap.mmap] | weakref.WeakSet[mmap.mmap] | None = None,
          space: SpillSpace | None = None) -> pa.Table:
    """Write ``table`` to an Arrow IPC file and return it memory-mapped from there (the
    map is added to ``maps``, for :func:`release`). With ``space`` the file is counted
    there and deleted once its map is collected."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    with path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if isinstance(maps, list):
        maps.append(mapped)
    elif maps is not None:
        maps.add(mapped)
    if space is not None:
        space.add(mapped, path)
    return pa.ipc.open_file(pa.BufferReader(pa.py_buffer(mapped))).read_all()


def release(maps: Iterable[mmap.mmap]) -> None:
    """Drop the mapped pages a stage has read from the process (``MADV_DONTNEED``): they
    stay in the page cache and come back on the next read, but no longer count in the
    process's memory, so a pass over a spilled table holds only the chunk at hand. The
    memory the batch, chunk or row group freed goes back to the system too
    (:func:`~linkage.runtime.memory.give_back`), so the next one does not stack on it."""
    give_back()
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:
        return
    for mapped in list(maps):
        mapped.madvise(advice)


class LocalPipeline(Pipeline):
    """:class:`~linkage.pipeline.Pipeline` with batches, spill files and entity chunks."""

    def __init__(self, config: PipelineConfig, *, work_dir: Path,
                 memory_limit: int | None = None, chunk_rows: int | None = None) -> None:
        super().__init__(config)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        budget = memory_limit if memory_limit is not None else config.engine.memory_bytes
        self.memory_limit = budget
        self.chunk_rows = chunk_rows or max(MIN_ROWS,
                                            int(budget * CHUNK_SHARE) // BYTES_PER_RECORD)
        self._files = 0
        #: the maps of the spill files still read (a map no table holds is collected,
        #: and its file deleted)
        self._maps: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
        self.space = SpillSpace()
        #: the names of every file spilled, in order
        self.spilled: list[str] = []
        log.info("local engine: budget %.1f GB, %d records per batch or chunk, work folder %s",
                 budget / (1 << 30), self.chunk_rows, self.work_dir)

    def _path(self, name: str) -> Path:
        self._files += 1
        path = self.work_dir / f"{self._files:04d}_{name}.arrow"
        self.spilled.append(path.name)
        return path

    def _spill_file(self, table: pa.Table, name: str) -> pa.Table:
        return spill(table, self._path(name), self._maps, self.space)

    def _read(self) -> pa.Table:
        """Each source read, spilled and mapped back; record ids dense from 0 as always."""
        tables = []
        offset = 0
        for source in self.config.sources:
            table = read_source(source, first_record_id=offset)
            offset += table.num_rows
            tables.append(self._spill_file(table, f"raw_{source.department}"))
        records = pa.concat_tables(tables, promote_options="default")
        log.info("read %d records from %d sources", records.num_rows, len(self.config.sources))
        return records

    def _standardise(self, etype: str, subset: pa.Table, section: EntityConfig) -> pa.Table:
        """Standardised in batches (each value's result does not depend on its batch)."""
        parts = []
        for start in range(0, max(subset.num_rows, 1), self.chunk_rows):
            batch = subset.slice(start, self.chunk_rows)
            done = _merge_read_flags(standardise(batch, section.fields), batch)
            parts.append(self._spill_file(done, f"std_{etype}"))
            release(self._maps)
            log.info("%s: standardised %d of %d records", etype,
                     min(start + self.chunk_rows, subset.num_rows), subset.num_rows)
        return pa.concat_tables(parts, promote_options="default")

    def _by_entity(self, records: pa.Table, clusters: pa.Table,
                   stage: Callable[[pa.Table, pa.Table], pa.Table]) -> pa.Table:
        """The stage over chunks of whole entities in entity-id order: each chunk's output is
        sorted by entity id and the chunks follow each other, so the concatenation is what
        one call over everything returns."""
        parts = []
        for part, part_clusters in entity_chunks(records, clusters, self.chunk_rows):
            done = stage(part, part_clusters)
            parts.append(self._spill_file(done, "by_entity"))
            del done
            release(self._maps)
        if len(parts) == 1:
            return parts[0]
        return pa.concat_tables(parts, promote_options="default")

    def _spill(self, name: str, table: pa.Table) -> pa.Table:
        done = self._spill_file(table, name)
        release(self._maps)
        return done

    def _records(self, raw: pa.Table, entities: Mapping[str, EntityResult]) -> pa.Table:
        """Every record with its entity id, built and spilled one range of record ids at a
        time (each type's records and the raw records are in record-id order, so a range
        is a slice of each): the rows and their order are those of one sort of everything.

        The records of each type are then read from there, range by range (the same rows
        and columns): a standardised batch whose rows are all past is read no more, and
        its file goes, so the records are on disk once, not twice."""
        if raw.num_rows <= self.chunk_rows:
            return super()._records(raw, entities)
        # copies: a view of one mapped chunk would keep its batch's file
        ids = {t: np.array(e.records.column("record_id").to_numpy()) for t, e in entities.items()}
        raw_ids = raw.column("record_id").to_numpy()
        if not all(_ascending(a) for a in (raw_ids, *ids.values())):
            return super()._records(raw, entities)
        parts = []
        done: dict[str, list[pa.Table]] = {t: [] for t in entities}
        for start in range(0, raw.num_rows, self.chunk_rows):
            end = min(start + self.chunk_rows, raw.num_rows)
            lo, hi = int(raw_ids[start]), int(raw_ids[end - 1])
            sliced, bounds = {}, {}
            for t, e in entities.items():
                a, b = (int(x) for x in np.searchsorted(ids[t], [lo, hi + 1]))
                bounds[t] = a, b
                sliced[t] = replace(e, records=e.records.slice(a, b - a))
            part = self._spill_file(
                _records_with_entities(raw.slice(start, self.chunk_rows), sliced), "records")
            parts.append(part)
            for t, e in entities.items():
                a, b = bounds[t]
                if b > a:
                    done[t].append(_rows_of(part, raw_ids[start:end], ids[t][a:b],
                                            sliced[t].records))
                    # every row still there, in place: the ranges done, then the rest
                    # (a slice at the end would keep a chunk of the last batch)
                    rest = [e.records.slice(b)] if b < e.records.num_rows else []
                    e.records = pa.concat_tables([*done[t], *rest])
            del sliced, part
            release(self._maps)
        return pa.concat_tables(parts, promote_options="default")

    def _block_memory_limit(self) -> str | None:
        return f"{max(self.memory_limit // 2, 64 << 20) >> 20}MB"


#: a type's records read back from more runs of record ids than this stay where they are
MAX_RUNS = 4096


def _rows_of(records: pa.Table, record_ids: np.ndarray, mine: np.ndarray,
             table: pa.Table) -> pa.Table:
    """``table`` (the rows of record ids ``mine``, ascending) as zero-copy slices of
    ``records`` (record ids ``record_ids``, ascending), one per run of consecutive rows
    (a type's records come from a few source files, each a run); ``table`` itself when
    ``records`` does not hold exactly its rows and columns."""
    names = table.column_names
    if len(mine) == 0 or not set(names) <= set(records.column_names):
        return table
    at = np.searchsorted(record_ids, mine)
    if at[-1] >= len(record_ids) or not np.array_equal(record_ids[at], mine):
        return table
    breaks = np.flatnonzero(np.diff(at) != 1) + 1
    if len(breaks) >= MAX_RUNS:
        return table
    picked = records.select(names)
    if picked.schema != table.schema:
        return table
    starts = [0, *breaks.tolist()]
    ends = [*breaks.tolist(), len(at)]
    return pa.concat_tables([picked.slice(int(at[a]), b - a)
                             for a, b in zip(starts, ends, strict=True)])


def _ascending(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] > values[:-1]).all())


def entity_chunks(records: pa.Table, clusters: pa.Table,
                  rows: int) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(records, clusters) of consecutive ranges of entity ids, about ``rows`` records
    each, an entity never split."""
    if records.num_rows <= rows:
        yield records, clusters
        return
    at = pc.index_in(records.column("record_id"), value_set=clusters.column("record_id"))
    entity = clusters.column("entity_id").take(at)
    encoded = pc.dictionary_encode(entity).combine_chunks()
    # rank of each record's entity id among the sorted distinct ids
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ent = rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    sizes = np.bincount(ent, minlength=len(order))
    chunk_of = np.cumsum(sizes) // max(rows, 1)
    per_record = chunk_of[ent]
    by_chunk = np.argsort(per_record, kind="stable")
    bounds = np.searchsorted(per_record[by_chunk], np.unique(per_record), side="left")
    ends = [*bounds[1:].tolist(), len(by_chunk)]
    for lo, hi in zip(bounds.tolist(), ends, strict=True):
        take = pa.array(by_chunk[lo:hi])
        part = records.take(take)
        yield part, clusters.take(pc.index_in(part.column("record_id"),
                                              value_set=clusters.column("record_id")))


def run_local(config: PipelineConfig, out: str | Path, *, memory_limit: int | None = None,
              previous: pa.Table | None = None, evaluate: bool = True,
              progress: bool = False, lang: str = "zh",
              beside: Callable[[PipelineResult, Path], object] | None = None
              ) -> PipelineResult:
    """Run ``config`` out of core and write its outputs into ``out`` (the files
    :func:`~linkage.io.outputs.write_outputs` writes); returns the result. Its big
    tables stay memory-mapped from the work folder's files, which are unlinked when this
    returns: readable while the result lives, and their space is freed with it.
    ``beside(result, folder)`` writes a derived sub-folder into the staged run (the online
    index)."""
    from linkage.io.outputs import scratch_folder, write_outputs

    with scratch_folder(out) as work:
        pipeline = LocalPipeline(config, work_dir=work, memory_limit=memory_limit)
        result = pipeline.run(previous=previous, progress=progress, evaluate=evaluate)
        release(pipeline._maps)
        steps = logging.getLogger("linkage.progress")
        steps.info("work folder: %d files spilled, %.2f GB at most, %.2f GB now",
                   len(pipeline.spilled), pipeline.space.peak / 1e9, pipeline.space.live / 1e9)
        steps.info("writing outputs to %s", out)
        # the outputs are read from the mapped files row group by row group: let each go
        written = write_outputs(result, out, lang=lang, beside=None if beside is None
                                else functools.partial(beside, result),
                                after_row_group=lambda: release(pipeline._maps))
        steps.info("wrote %d files to %s", len(written), out)
    return result
