"""Writing the master index as a log (:mod:`linkage.service.index_log` says what a part
holds and how it is read): an incremental run's index is the previous one's files
hard-linked plus one part written from the night's changes alone (:func:`write_part`),
never from the run's complete tables; past
:data:`~linkage.service.index_log.MAX_INDEX_PARTS` parts, or with
``linkage compact RUN``, the index is written whole again from what the log reads
(:func:`compact_index`)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from linkage.config import EntityConfig
from linkage.io.run_log import link_file
from linkage.match.compare import read_columns
from linkage.service.index import (
    INDEX_DIR,
    QUALITY_DAYS,
    QUALITY_SUMS,
    MasterIndex,
    SortedKeys,
    TypeIndex,
    part_dir,
    source_key_hashes,
)
from linkage.service.index_build import (
    content_of,
    fresh_folder,
    spill_beside,
    unpacked,
    unpacked_schema,
    updated_tf,
    write_keys,
    write_tf,
)
from linkage.service.index_files import key_files
from linkage.service.index_log import (
    DEAD,
    GONE,
    RETIRED,
    LoggedKeys,
)
from linkage.service.index_tables import (
    ENDS,
    HASH,
    by_entity_hash,
    compact,
    conflicts_by_golden,
    id_type,
    mapped,
    plain,
    write_arrow,
)
from linkage.service.keys import (
    flagged_rows,
    hash_strings,
    pass_keys,
    resolvable,
)

if TYPE_CHECKING:
    from linkage.match.score import FellegiSunter
    from linkage.service.index_write import IndexUpdate

log = logging.getLogger(__name__)

__all__ = ["NotLoggedError", "compact_index", "compact_type", "index_parts", "loggable",
           "write_part"]


class NotLoggedError(Exception):
    """The change cannot be added as a part (then the index is written whole)."""


def loggable(update: IndexUpdate, section: EntityConfig) -> bool:
    """Whether ``update`` carries what a part is written from, for the same passes."""
    return (update.records is not None and update.clusters is not None
            and update.golden is not None and update.conflicts is not None
            and update.quality is not None
            and tuple(update.base.section.blocking) == tuple(section.blocking))


def write_part(folder: Path, section: EntityConfig, model: FellegiSunter,
               update: IndexUpdate, spill: Path) -> dict[str, Any]:
    """One type's index in ``folder``: the previous index's files and parts linked, the
    night's part written, tf counts, quality and model whole (small). Returns its
    manifest entry; raises :class:`NotLoggedError` when the part's rows do not fit the base's
    columns (then the caller writes the index whole)."""
    base = update.base
    assert update.records is not None and update.clusters is not None
    assert update.golden is not None and update.conflicts is not None
    assert update.quality is not None
    if not len(update.removed) and not update.added.num_rows and not update.records.num_rows \
            and not update.golden.num_rows:
        # nothing changed: the previous index as it is, linked, no part
        folder.mkdir(parents=True, exist_ok=True)
        _link_previous(base, folder)
        return _entry(base)
    n = base.parts + 1
    part = part_dir(folder, n)
    part.mkdir(parents=True)
    records = _sorted(update.records, "record_id")
    rid = np.asarray(records.column("record_id").to_numpy(), dtype=np.int64)
    # records: the lookup columns, typed as the base's so the layers stack
    wanted = [f.name for f in base.records.schema if f.name != "__content"]
    if not set(wanted) <= set(records.column_names):
        raise NotLoggedError("the records lack columns of the base")
    slim = records.select(wanted).append_column(
        "__content", pa.array(content_of(records, section, update), pa.uint64()))
    write_arrow(_conform(slim, base.records.schema), part / "records.arrow")
    clusters = _sorted(update.clusters, "record_id")
    write_arrow(_conform(clusters, _schema(base.folder / "clusters.arrow"), nulls=True),
                part / "clusters.arrow")
    removed = np.unique(np.asarray(update.removed, dtype=np.int64))
    write_arrow(pa.table({"record_id": pa.array(removed, pa.int64())}), part / RETIRED)
    # golden records and conflicts of the touched entities, laid out as a whole index's
    golden = by_entity_hash(update.golden, spill)
    conflicts, ends = conflicts_by_golden(update.conflicts, golden, records, spill)
    if ends is not None:
        golden = golden.append_column(ENDS, pa.array(ends, id_type(ends)))
    write_arrow(compact(golden, keep=("entity_id",), narrow=True), part / "golden.arrow")
    write_arrow(conflicts, part / "conflicts.arrow")
    old_ids = pa.chunked_array([update.entities[0]] if update.entities is not None else [],
                               pa.string())
    gone = by_entity_hash(pa.table({"entity_id": old_ids.combine_chunks()}), spill)
    write_arrow(gone.select([HASH, "entity_id"]), part / GONE)
    # members of every record the part holds, the base's entries of them ended
    ids = records.column("record_id").combine_chunks()
    write_keys(hash_strings(records.column("entity_id"))[0], np.ones(len(rid), dtype=bool),
                ids, part / "members.arrow")
    _write_dead(base.members, np.concatenate([rid, removed]), part / f"members{DEAD}")
    added = update.added
    added_ids = added.column("record_id").combine_chunks()
    write_keys(source_key_hashes(added), np.ones(added.num_rows, dtype=bool), added_ids,
                part / "source_keys.arrow")
    _write_dead(base.source_keys, removed, part / f"source_keys{DEAD}")
    passes = []
    for bp in section.blocking:
        if not resolvable(bp):
            continue
        if bp.name not in base.keys:
            raise NotLoggedError(f"the base has no keys of pass {bp.name!r}")
        pk = base.keys[bp.name]
        for field_name, stem, variant in key_files(bp):
            old = getattr(pk, field_name)
            if old is None:
                raise NotLoggedError(f"the base has no {stem} file of pass {bp.name!r}")
            h, present = hash_strings(pass_keys(added, variant))
            if field_name == "flagged":
                present &= flagged_rows(added, bp)
            write_keys(h, present, added_ids, part / f"{stem}.arrow")
            _write_dead(old, removed, part / f"{stem}{DEAD}")
        passes.append(bp.name)
    tf: dict[str, int] = {}
    for comp in section.comparisons:
        if not comp.term_frequency:
            continue
        values, counts, tf[comp.name] = updated_tf(update, comp.field, comp.name)
        write_tf(values, counts, folder / f"tf_{comp.name}.arrow")
    write_arrow(update.quality.sums, folder / QUALITY_SUMS)
    write_arrow(update.quality.days, folder / QUALITY_DAYS)
    model.save(folder / "model.json")
    _link_previous(base, folder)
    entry = _entry(base)
    alive = int(np.isin(removed, base.record_ids).sum())
    new_entities = update.golden.num_rows
    return {"records": int(entry["records"]) - alive + added.num_rows,
            "entities": int(entry["entities"]) - len(old_ids) + new_entities,
            "passes": passes, "tf_totals": tf,
            "max_record_id": max(base.max_record_id, int(rid.max()) if len(rid) else -1),
            "parts": n}


def _sorted(table: pa.Table, column: str) -> pa.Table:
    ids = np.asarray(table.column(column).to_numpy(), dtype=np.int64)
    if len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all()):
        return table
    return table.take(pa.array(np.argsort(ids, kind="stable")))


def _schema(path: Path) -> pa.Schema:
    with pa.memory_map(str(path), "r") as source:
        return ipc.open_file(source).schema


def _conform(table: pa.Table, schema: pa.Schema, *, nulls: bool = False) -> pa.Table:
    """``table`` with ``schema``'s columns and types (so a part stacks on the base):
    a column it lacks as nulls when ``nulls``, else :class:`NotLoggedError`; a value that
    does not fit the base's type (a dictionary's index, a narrowed id) likewise."""
    columns = []
    for f in schema:
        if f.name in table.column_names:
            try:
                columns.append(table.column(f.name).cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise NotLoggedError(f"column {f.name!r} does not fit the base's type") from exc
        elif nulls:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, f.type)]))
        else:
            raise NotLoggedError(f"column {f.name!r} of the base is missing")
    return pa.Table.from_arrays(columns, schema=schema).combine_chunks()


def _base_file(keys: SortedKeys) -> SortedKeys:
    """The base file under a logged key file (the file itself when it has no parts)."""
    if isinstance(keys, LoggedKeys):
        hv: Any = keys.hashes
        vv: Any = keys.values
        return SortedKeys(hv.base, vv.base)
    return keys


def _write_dead(keys: SortedKeys, ids: npt.NDArray[np.int64], path: Path) -> None:
    """Positions of the base file's entries of ``ids`` (which the part ends)."""
    values = _base_file(keys).values
    dead = np.flatnonzero(np.isin(values, ids)) if len(ids) else np.zeros(0, np.int64)
    write_arrow(pa.table({"position": pa.array(dead.astype(np.int64), pa.int64())}), path)


def _entry(ti: TypeIndex) -> dict[str, Any]:
    manifest = json.loads((ti.folder.parent / "manifest.json").read_text(encoding="utf-8"))
    return dict(manifest["types"][ti.entity_type])


def _link_previous(base: TypeIndex, folder: Path) -> None:
    """The previous index's base files and parts, hard-linked into ``folder`` (the files
    a part rewrites whole, already there, are left)."""
    for path in sorted(base.folder.rglob("*")):
        target = folder / path.relative_to(base.folder)
        if path.is_file() and not target.exists():
            link_file(path, target)


# --- compaction: the index whole again, from what its log reads -------------------


def compact_type(ti: TypeIndex, folder: Path, spill: Path) -> dict[str, Any]:
    """Write ``ti`` (base and parts) as one file set into ``folder``: the files a fresh
    index of the same records would hold. Raises :class:`NotLoggedError` when its layers'
    conflicts are laid out too differently to merge."""
    folder.mkdir(parents=True, exist_ok=True)
    section = ti.section
    compared = read_columns(ti.records.column_names, section.comparisons)
    live = plain(ti.live())
    golden, conflicts = _merged_layers(ti, spill)
    write_arrow(compact(live, keep=("entity_id", "source_key", *compared)),
                folder / "records.arrow", spill)
    clusters = ti.clusters
    write_arrow(clusters.drop_columns(["entity_type", "entity_id"]), folder / "clusters.arrow",
                spill, compression="zstd")
    write_arrow(compact(golden, keep=("entity_id",), narrow=True), folder / "golden.arrow")
    write_arrow(conflicts, folder / "conflicts.arrow")
    _write_whole(ti.members, folder / "members.arrow")
    _write_whole(ti.source_keys, folder / "source_keys.arrow")
    for pk in ti.keys.values():
        for _, stem, keys in pk.files():
            _write_whole(keys, folder / f"{stem}.arrow")
    for path in sorted(ti.folder.iterdir()):
        if path.is_file() and not (folder / path.name).exists():
            link_file(path, folder / path.name)  # tf, quality, model: whole already
    entry = _entry(ti)
    entry.pop("parts", None)
    entry["records"] = len(ti.record_ids)
    entry["entities"] = golden.num_rows
    return entry


def _write_whole(keys: SortedKeys, path: Path) -> None:
    """A logged key file as one sorted file (ids ascending within a hash, as a fresh
    index's)."""
    h = np.asarray(keys.hashes, dtype=np.uint64)
    v = np.asarray(keys.values, dtype=np.int64)
    if isinstance(keys, LoggedKeys):
        order = np.lexsort((v, h))
        h, v = h[order], v[order]
    write_arrow(pa.table({HASH: pa.array(h, pa.uint64()), "record_id": pa.array(v, id_type(v))}),
                path)


def _merged_layers(ti: TypeIndex, spill: Path) -> tuple[pa.Table, pa.Table]:
    """golden.arrow's and conflicts.arrow's tables of every layer's live entities, in
    entity-hash order with where each one's conflicts end."""
    layers = ti.layers
    if any(layer.conflict_ends is None for layer in layers):
        raise NotLoggedError("a layer's conflicts are not in golden order")
    shown = [c for c in layers[0].golden.column_names if c not in (HASH, ENDS)]
    c_schema = unpacked_schema(next(
        (layer.conflict_table for layer in layers if layer.conflict_table.num_rows),
        layers[0].conflict_table).schema)
    g_schema = unpacked_schema(layers[0].golden.select(shown).schema)
    later: list[pa.Array] = []
    goldens, conflict_tables, hashes, starts, counts = [], [], [], [], []
    offset = 0
    for layer in reversed(layers):
        g = layer.golden
        # (a layer without conflicts may store its empty table in another layout)
        if [c for c in g.column_names if c not in (HASH, ENDS)] != shown or (
                layer.conflict_table.num_rows and
                unpacked_schema(layer.conflict_table.schema) != c_schema):
            raise NotLoggedError("the layers' golden records or conflicts differ in layout")
        ends = np.asarray(layer.conflict_ends, dtype=np.int64)
        first = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        keep = np.arange(g.num_rows, dtype=np.int64)
        if later:
            gone = pa.concat_arrays(later)
            hit = pc.is_in(g.column("entity_id"), value_set=gone)
            keep = np.flatnonzero(~np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool))
        goldens.append(unpacked(g.select(shown).take(pa.array(keep)), g_schema))
        hashes.append(np.asarray(layer.golden_hashes, dtype=np.uint64)[keep])
        starts.append(first[keep] + offset)
        counts.append((ends - first)[keep])
        if layer.conflict_table.num_rows:
            conflict_tables.append(unpacked(layer.conflict_table, c_schema))
            offset += layer.conflict_table.num_rows
        later.append(one_array(g.column("entity_id")))
        if layer.gone_ids is not None:
            later.append(layer.gone_ids.cast(pa.string()))
    # newest layer first above; conflicts concatenated in the same order
    golden = pa.concat_tables(goldens)
    h = np.concatenate(hashes)
    ids = golden.column("entity_id")
    order = np.asarray(pc.sort_indices(pa.table({"h": pa.array(h, pa.uint64()), "id": ids}),
                                       sort_keys=[("h", "ascending"), ("id", "ascending")]
                                       ).to_numpy(), dtype=np.int64)
    start = np.concatenate(starts)[order]
    count = np.concatenate(counts)[order]
    ends = np.cumsum(count).astype(np.int64)
    total = int(ends[-1]) if len(ends) else 0
    rows = np.repeat(start - (ends - count), count) + np.arange(total, dtype=np.int64)
    golden = golden.take(pa.array(order)).append_column(HASH, pa.array(h[order], pa.uint64()))
    golden = golden.append_column(ENDS, pa.array(ends, id_type(ends)))
    both = pa.concat_tables(conflict_tables) if conflict_tables else \
        unpacked(layers[0].conflict_table, c_schema)
    return golden, compact(mapped(both, rows, spill), keep=(HASH,), narrow=True)


def one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.cast(pa.string())


def index_parts(run_dir: Path) -> int:
    """How many parts the run's index holds in all (0 without an index)."""
    path = run_dir / INDEX_DIR / "manifest.json"
    if not path.is_file():
        return 0
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return sum(int(t.get("parts", 0)) for t in manifest.get("types", {}).values())


def compact_index(run_dir: str | Path, stage: Path | None = None, *,
                  rebuild: Callable[[Path], object] | None = None) -> bool:
    """Write the index of ``run_dir`` whole when it holds parts (into ``stage``'s index
    folder, or swapped in for the run's own); False when there were none. An index
    whose layers cannot be merged is built again from the run folder's tables
    (``rebuild(folder)``, :func:`~linkage.service.index_write.build_index`; without it, as
    in a run still being written, it keeps its parts)."""
    run = Path(run_dir)
    index = MasterIndex.open(run)
    if not any(ti.parts for ti in index.types.values()):
        return False
    out = (stage or run) / INDEX_DIR
    tmp = fresh_folder(out.with_name(f"{INDEX_DIR}.compact"))
    manifest = json.loads((run / INDEX_DIR / "manifest.json").read_text(encoding="utf-8"))
    try:
        with spill_beside(tmp) as spill:
            for etype, ti in index.types.items():
                manifest["types"][etype] = compact_type(ti, tmp / etype, spill)
    except NotLoggedError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if rebuild is None:
            log.info("index of %s: %s; its parts are kept", run, exc)
            return False
        log.info("index of %s: %s; built again from the run folder", run, exc)
        rebuild(stage or run)  # (a stage holds the run's tables, compacted)
        return True
    _swap(tmp, out, manifest)
    return True


def _swap(tmp: Path, out: Path, manifest: dict[str, Any]) -> None:
    from linkage.io.outputs import write_json
    from linkage.service.index import FORMAT

    manifest["format"] = FORMAT
    write_json(manifest, tmp / "manifest.json")
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
