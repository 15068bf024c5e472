"""Quality gates: limits a nightly build sets on how far the master data may move in a run.

A pipeline file's ``[gates]`` table names the limits; a run whose figures pass one fails
its build (``linkage run`` exits 3 after writing every output, so the run can be
inspected). A gate left out is not checked.

``max_new_merges``          share of this run's entities formed by merging entities of the
                            previous run (``--previous``); a sudden wave of merges usually
                            means a bad batch or a loosened threshold
``max_splits``              share of this run's entities split off a previous entity
``max_identity_conflicts``  identity conflicts (one valid ID number or credit code held by
                            records of different people or enterprises)
``max_flagged_records``     share of input records that carry a flag (unusable values)
``min_records``             input records read (an empty or truncated delivery)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, kw_only=True)
class GatesConfig:
    """Limits on a run's figures (``[gates]``); None leaves a gate unchecked."""

    max_new_merges: float | None = None
    max_splits: float | None = None
    max_identity_conflicts: int | None = None
    max_flagged_records: float | None = None
    min_records: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_new_merges", "max_splits", "max_flagged_records"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a share of 0..1, got {value!r}")
        for name in ("max_identity_conflicts", "min_records"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value!r}")

    @property
    def active(self) -> bool:
        """Whether any gate is set."""
        return any(getattr(self, n) is not None for n in self.__dataclass_fields__)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: the figure measured against the limit."""

    gate: str
    value: float
    limit: float
    passed: bool

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        op = ">=" if self.gate.startswith("min_") else "<="
        return f"{self.gate}: {_show(self.value)} (limit {op} {_show(self.limit)}) {verdict}"


def run_figures(
    *, records: pa.Table, changes: pa.Table, conflicts: pa.Table,
    entities: Mapping[str, int],
) -> dict[str, float]:
    """The figures the gates look at, from a run's tables (``entities``: count per type)."""
    n_entities = sum(entities.values())
    change = changes.column("change") if changes.num_rows else pa.array([], pa.string())
    merges = int(pc.sum(pc.equal(change, "merge")).as_py() or 0)
    splits_new = 0
    if changes.num_rows:
        is_split = pc.equal(changes.column("change"), "split")
        split_rows = changes.filter(is_split)
        splits_new = int(pc.sum(pc.list_value_length(split_rows.column("new_ids"))).as_py() or 0)
    kinds = conflicts.column("kind") if conflicts.num_rows else pa.array([], pa.string())
    identity = int(pc.sum(pc.equal(kinds, "identity_conflict")).as_py() or 0)
    flagged = 0
    if records.num_rows and "flags" in records.column_names:
        flagged = int(pc.sum(pc.greater(pc.list_value_length(records.column("flags")), 0))
                      .as_py() or 0)
    return {
        "max_new_merges": merges / n_entities if n_entities else 0.0,
        "max_splits": splits_new / n_entities if n_entities else 0.0,
        "max_identity_conflicts": float(identity),
        "max_flagged_records": flagged / records.num_rows if records.num_rows else 0.0,
        "min_records": float(records.num_rows),
    }


def check_gates(gates: GatesConfig, figures: Mapping[str, float]) -> list[GateResult]:
    """Every set gate against its figure, in the order of :class:`GatesConfig`."""
    results = []
    for name in GatesConfig.__dataclass_fields__:
        limit = getattr(gates, name)
        if limit is None:
            continue
        value = figures[name]
        passed = value >= limit if name.startswith("min_") else value <= limit
        results.append(GateResult(name, value, float(limit), passed))
    return results


def gates_text(gates: Sequence[GateResult]) -> str:
    """The console lines for a run's gates (empty when it has none)."""
    return "quality gates:\n" + "\n".join(f"  {g}" for g in gates) if gates else ""


def gates_failed(gates: Sequence[GateResult], out: object) -> str | None:
    """The error line when a gate failed (None when all passed): every engine's CLI says
    it the same way before exiting with code 3."""
    failed = [g for g in gates if not g.passed]
    if not failed:
        return None
    return ("linkage: quality gate(s) failed: " + "; ".join(str(g) for g in failed)
            + f" (outputs written to {out}/)")


def _show(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.4f}"
