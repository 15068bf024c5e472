"""The run summary: counts, timings, configuration, versions and metrics of a run.

``run.json`` holds it, the report opens with it and the command line prints from it, so it
lives apart from all three.
"""

from __future__ import annotations

import functools
import platform
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from linkage.config import to_dict
from linkage.master.cluster import link_mask

if TYPE_CHECKING:
    from linkage.io.report_counts import ReportCounts
    from linkage.pipeline import PipelineResult

__all__ = ["PACKAGES", "run_summary"]

PACKAGES = ("linkage", "pyarrow", "numpy", "rapidfuzz", "networkx", "duckdb", "opencc",
            "pypinyin")


def run_summary(result: PipelineResult, counts: ReportCounts | None = None) -> dict[str, Any]:
    """Counts, timings, configuration, versions and metrics of a run (JSON-able): counted
    over its tables, or taken from the report's ``counts`` (an incremental run's, which
    keeps no whole table; :mod:`linkage.io.report_counts`)."""
    if counts is not None:
        return _summary(result, *_from_counts(result, counts))
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
    return _summary(result, inputs, outputs, flagged, by_kind)


def _from_counts(result: PipelineResult, counts: ReportCounts) -> tuple[
        dict[str, dict[str, int]], dict[str, Any], int, dict[str, int]]:
    inputs: dict[str, dict[str, int]] = {}
    for etype, c in sorted(counts.types.items()):
        for source, n in c.inputs.items():
            inputs.setdefault(source, {})[etype] = n
    inputs = {s: dict(sorted(v.items())) for s, v in sorted(inputs.items())}
    outputs: dict[str, Any] = {"records": sum(c.records for c in counts.types.values())}
    by_kind: dict[str, int] = {}
    for etype, e in result.entities.items():
        c = counts.types[etype]
        outputs[etype] = {"records": c.records, "candidate_pairs": e.blocking.pairs.num_rows,
                          "links": c.links, "entities": c.golden,
                          "conflicts": sum(n for by in c.conflicts.values()
                                           for n in by.values())}
        for kind, by in c.conflicts.items():
            by_kind[kind] = by_kind.get(kind, 0) + sum(by.values())
    return inputs, outputs, sum(c.flagged for c in counts.types.values()), by_kind


def _summary(result: PipelineResult, inputs: dict[str, dict[str, int]],
             outputs: dict[str, Any], flagged: int, by_kind: dict[str, int]) -> dict[str, Any]:
    return {
        "name": result.config.name,
        "inputs": inputs,
        "outputs": outputs,
        "records_flagged": flagged,
        "conflicts_by_kind": dict(sorted(by_kind.items())),
        "blocking": {t: e.blocking.report for t, e in result.entities.items()},
        "timings_s": result.timings,
        "metrics": result.metrics,
        "gates": [to_dict(g) for g in result.gates],
        "config": to_dict(result.config),
        "versions": _versions(),
    }


def _threshold(result: PipelineResult, etype: str) -> float:
    section = result.config.entity(etype)
    assert section is not None
    return section.scoring.link_threshold


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Package versions, looked up once per process (each lookup reads package metadata)."""
    return tuple(_versions_uncached().items())


def _versions() -> dict[str, str]:
    return dict(_installed_versions())


def _versions_uncached() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
