"""``generate()``: the true world, every department's files, the ground truth, a manifest.

Layout of ``out``::

    <department>_<persons|enterprises>.<csv|xlsx>   the departmental files
    persons.toml, enterprises.toml, pipeline.toml  pipeline files `linkage run` reads
    manifest.json                                  files, encodings, dates, counts, config
    truth/records.parquet                          source, entity_type, source_key, true_entity_id
    truth/entities_person.parquet                  current true value of every person field
    truth/entities_enterprise.parquet              ... and of every enterprise field
    truth/errors.parquet                           every injected error (and stale value)
    truth/changes.parquet                          the true change history
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.synth.columns import IntArray, date_strings, stream
from linkage.synth.config import SynthConfig
from linkage.synth.corrupt import ErrorLog, corrupt_enterprises, corrupt_persons
from linkage.synth.departments import FILES, DepartmentFile
from linkage.synth.enterprises import Enterprises, make_enterprises
from linkage.synth.pipeline_template import pipeline_toml
from linkage.synth.population import Persons, make_persons
from linkage.synth.snapshot import enterprise_snapshot, person_snapshot, record_keys
from linkage.synth.writers import department_table, write_table

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What was generated: the content of ``manifest.json``."""

    data: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records written across all departmental files."""
        return int(sum(f["records"] for f in self.data["files"]))

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def generate(*, persons: int, enterprises: int, seed: int, out: Path,
             config: SynthConfig | None = None) -> Manifest:
    """Generate a multi-department world of ``persons`` and ``enterprises`` into ``out``.

    Deterministic: the same arguments give byte-identical files; today's date is never read.
    """
    if persons < 1 or enterprises < 0:
        raise ValueError("need at least one person and a non-negative number of enterprises")
    config = config or SynthConfig()
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    people = make_persons(persons, seed, config)
    firms = make_enterprises(enterprises, people, seed, config) if enterprises else None

    record_parts: list[pa.Table] = []
    error_parts: list[pa.Table] = []
    files_info: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    labels: list[tuple[str, str]] = []
    # Files are written on a background thread while the next department is built (CSV
    # encoding and xlsx compression release the GIL); each file is still written whole by
    # one call, so the bytes do not depend on timing.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-writer")
    pending = []
    for spec in FILES:
        if spec.entity_type == "enterprise" and firms is None:
            continue
        table, records, errors, logbook = _department(spec, config, seed, people, firms)
        pending.append(writer.submit(write_table, table, spec, out / spec.filename))
        record_parts.append(records)
        labels.append((spec.department, spec.entity_type))
        error_parts.append(errors)
        files_info.append(_file_info(spec, config, table.num_rows))
        stats += _stats(spec, logbook, errors)
        log.info("generate: %s %d records", spec.filename, table.num_rows)

    writer.shutdown(wait=True)
    for job in pending:
        job.result()  # re-raise a writing error here
    truth = out / "truth"
    # Each file's parts are already in key order: sorting the files sorts the tables.
    order = sorted(range(len(labels)), key=labels.__getitem__)
    _write(pa.concat_tables([record_parts[i] for i in order]), truth / "records.parquet")
    _write(pa.concat_tables([error_parts[i] for i in order]), truth / "errors.parquet")
    _write(_person_entities(people), truth / "entities_person.parquet")
    changes = [_person_changes(people)]
    if firms is not None:
        _write(_enterprise_entities(firms, people), truth / "entities_enterprise.parquet")
        changes.append(_enterprise_changes(firms, people))
    _write(pa.concat_tables(changes).sort_by(
        [(c, "ascending") for c in ("entity_type", "entity_id", "date", "field")]),
        truth / "changes.parquet")

    types = ["person"] + (["enterprise"] if firms is not None else [])
    for name, entity_types in (("persons", ["person"]), ("enterprises", ["enterprise"]),
                               ("pipeline", types)):
        if all(t in types for t in entity_types):
            text = pipeline_toml(f"synthetic {name}", FILES, entity_types, config, seed)
            (out / f"{name}.toml").write_text(text, encoding="utf-8")

    manifest = Manifest({
        "format_version": FORMAT_VERSION,
        "generator": "linkage.synth",
        "seed": seed,
        "persons": persons,
        "enterprises": enterprises,
        "reference_date": config.reference_date,
        "files": files_info,
        "truth": {
            "records": "truth/records.parquet",
            "entities_person": "truth/entities_person.parquet",
            "entities_enterprise": "truth/entities_enterprise.parquet" if firms else None,
            "errors": "truth/errors.parquet",
            "changes": "truth/changes.parquet",
        },
        "pipelines": [f"{n}.toml" for n in ("persons", "enterprises", "pipeline")
                      if (out / f"{n}.toml").exists()],
        "counts": _counts(pa.concat_tables(record_parts), pa.concat_tables(error_parts)),
        "error_stats": stats,
        "config": config.as_dict(),
    })
    (out / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def _department(spec: DepartmentFile, config: SynthConfig, seed: int, people: Persons,
                firms: Enterprises | None) -> tuple[pa.Table, pa.Table, pa.Table, ErrorLog]:
    rng = stream(seed, f"snapshot/{spec.stem}")
    if spec.entity_type == "person":
        snap = person_snapshot(rng, spec, config, people)
        logbook = corrupt_persons(snap, config, stream(seed, f"errors/{spec.stem}"), people)
        ids = people.entity_id
    else:
        assert firms is not None
        snap = enterprise_snapshot(rng, spec, config, firms, people)
        logbook = corrupt_enterprises(snap, config, stream(seed, f"errors/{spec.stem}"),
                                      firms, people)
        ids = firms.entity_id
    keys = record_keys(spec, snap.n)
    _log_duplicates(logbook, snap.duplicate_of, keys, config.within_department_duplicate)
    table = department_table(spec, keys, snap.values, snap.as_of)
    n = snap.n
    records = pa.table({
        "source": pa.array([spec.department] * n, pa.string()),
        "entity_type": pa.array([spec.entity_type] * n, pa.string()),
        "source_key": keys,
        "true_entity_id": ids.take(pa.array(snap.entity, pa.int64())),
    })
    errors = logbook.table(spec.department, spec.entity_type, keys)
    return table, records, errors, logbook


def _log_duplicates(logbook: ErrorLog, duplicate_of: IntArray, keys: pa.Array,
                    rate: float) -> None:
    rows = np.flatnonzero(duplicate_of >= 0)
    originals_n = len(duplicate_of) - len(rows)
    logbook.count("record", "duplicate", originals_n, originals_n * rate)
    originals = keys.take(pa.array(duplicate_of[rows], pa.int64()))
    logbook.add("record", "duplicate", rows, originals, keys.take(pa.array(rows, pa.int64())))


def _counts(records: pa.Table, errors: pa.Table) -> dict[str, Any]:
    """Records and distinct true entities per entity type; errors per kind."""
    counts: dict[str, Any] = {"records": records.num_rows, "errors": errors.num_rows}
    for etype in ("person", "enterprise"):
        part = records.filter(pc.equal(records.column("entity_type"), etype))
        counts[f"{etype}_records"] = part.num_rows
        counts[f"{etype}_entities_with_records"] = len(pc.unique(part.column("true_entity_id")))
    kinds = errors.group_by("kind").aggregate([("kind", "count")]).to_pylist()
    counts["errors_by_kind"] = {k["kind"]: k["kind_count"] for k in sorted(
        kinds, key=lambda k: str(k["kind"]))}
    return counts


def _file_info(spec: DepartmentFile, config: SynthConfig, n: int) -> dict[str, Any]:
    return {
        "path": spec.filename, "department": spec.department, "entity_type": spec.entity_type,
        "format": spec.format, "encoding": spec.encoding if spec.format == "csv" else None,
        "snapshot_date": config.snapshot_dates[spec.department], "records": n,
        "key": spec.key_header, "updated_at": spec.updated_header,
        "date_style": spec.date_style, "columns": dict(spec.headers),
    }


def _stats(spec: DepartmentFile, logbook: ErrorLog, errors: pa.Table) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    if errors.num_rows:
        grouped = errors.group_by(["field", "kind"]).aggregate([("source_key", "count")])
        for f, k, c in zip(grouped["field"].to_pylist(), grouped["kind"].to_pylist(),
                           grouped["source_key_count"].to_pylist(), strict=True):
            counts[(f, k)] = c
    rows = []
    for (fld, kind), (eligible, expected) in sorted(logbook.stats.items()):
        rows.append({"source": spec.department, "entity_type": spec.entity_type, "field": fld,
                     "kind": kind, "eligible": int(eligible), "expected": round(expected, 3),
                     "injected": counts.get((fld, kind), 0)})
    return rows


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def _person_entities(p: Persons) -> pa.Table:
    return pa.table({
        "entity_id": p.entity_id,
        "name": p.name,
        "id_number": p.id_number,
        "birth_date": date_strings(p.birth, "iso"),
        "sex": pc.if_else(pa.array(p.sex), "M", "F"),
        "phone": p.phone_new,
        "address": p.addr_new.full(),
        "twin_of": pc.if_else(pa.array(p.twin_of >= 0),
                              p.entity_id.take(pa.array(np.maximum(p.twin_of, 0))),
                              pa.scalar(None, pa.string())),
    })


def _enterprise_entities(e: Enterprises, p: Persons) -> pa.Table:
    parent = pc.if_else(pa.array(e.branch), e.entity_id.take(pa.array(np.maximum(e.parent, 0))),
                        pa.scalar(None, pa.string()))
    has_former = pc.not_equal(e.name_old, e.name_new)
    return pa.table({
        "entity_id": e.entity_id,
        "name": e.name_new,
        "credit_code": e.credit_code,
        "legal_rep_name": p.name.take(pa.array(e.rep_new)),
        "legal_rep_id": p.id_number.take(pa.array(e.rep_new)),
        "address": e.addr_new.full(),
        "established_date": date_strings(e.established, "iso"),
        "capital": e.capital,
        "status": e.status_new,
        "customs_code": e.customs_code,
        "org_code": e.org_code,
        "reg_number": e.reg_number,
        "legal_rep_entity_id": p.entity_id.take(pa.array(e.rep_new)),
        "parent_entity_id": parent,
        "former_name": pc.if_else(has_former, e.name_old, pa.scalar(None, pa.string())),
    })


def _changes(entity_type: str, ids: pa.Array, when: IntArray, changed: np.ndarray,
             fields: dict[str, tuple[pa.Array, pa.Array]]) -> pa.Table:
    rows = np.flatnonzero(changed)
    take = pa.array(rows, pa.int64())
    parts = []
    for fld, (old, new) in fields.items():
        parts.append(pa.table({
            "entity_type": pa.array([entity_type] * len(rows), pa.string()),
            "entity_id": ids.take(take),
            "field": pa.array([fld] * len(rows), pa.string()),
            "old_value": old.take(take),
            "new_value": new.take(take),
            "date": pa.array(when[rows].astype(np.int32), pa.date32()),
        }))
    return pa.concat_tables(parts)


def _person_changes(p: Persons) -> pa.Table:
    moved = pc.not_equal(p.addr_old.full(), p.addr_new.full()).to_numpy(zero_copy_only=False)
    phoned = pc.not_equal(p.phone_old, p.phone_new).to_numpy(zero_copy_only=False)
    return pa.concat_tables([
        _changes("person", p.entity_id, p.move, moved,
                 {"address": (p.addr_old.full(), p.addr_new.full())}),
        _changes("person", p.entity_id, p.phone_change, phoned,
                 {"phone": (p.phone_old, p.phone_new)}),
    ])


def _enterprise_changes(e: Enterprises, p: Persons) -> pa.Table:
    def differs(a: pa.Array, b: pa.Array) -> np.ndarray:
        result: np.ndarray = pc.fill_null(pc.not_equal(a, b), False).to_numpy(
            zero_copy_only=False)
        return result

    rep_old_name = p.name.take(pa.array(e.rep_old))
    rep_new_name = p.name.take(pa.array(e.rep_new))
    rep_old_id = p.id_number.take(pa.array(e.rep_old))
    rep_new_id = p.id_number.take(pa.array(e.rep_new))
    active = pa.array(["存续"] * e.n, pa.string())
    return pa.concat_tables([
        _changes("enterprise", e.entity_id, e.rename, differs(e.name_old, e.name_new),
                 {"name": (e.name_old, e.name_new)}),
        _changes("enterprise", e.entity_id, e.rep_change, differs(rep_old_id, rep_new_id),
                 {"legal_rep_name": (rep_old_name, rep_new_name),
                  "legal_rep_id": (rep_old_id, rep_new_id)}),
        _changes("enterprise", e.entity_id, e.move,
                 differs(e.addr_old.full(), e.addr_new.full()),
                 {"address": (e.addr_old.full(), e.addr_new.full())}),
        _changes("enterprise", e.entity_id, e.status_change, differs(active, e.status_new),
                 {"status": (active, e.status_new)}),
    ])
