"""The report's explained example pairs: the least certain links and the most likely
non-link of each entity type, each with the sentence that says whether and why it was
linked and the compared values as written (identifiers and phones masked).

Only a few pairs are explained, from the few records they name, so the page stays cheap
at a million records; an engine with its own way of comparing a pair (Spark) hands in
its ``explain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.privacy import mask

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

__all__ = ["MASKED_FIELDS", "Example", "example_explanations", "show", "verdict"]

#: Fields whose values are personal or identifying and are masked in the report.
MASKED_FIELDS = frozenset({"id_number", "phone", "legal_rep_id", "credit_code", "org_code",
                           "reg_number"})


def show(value: object, masked: bool) -> str:
    """A value as the report shows it: ``∅`` for none, masked where it identifies."""
    if value is None:
        return "∅"
    return mask(value) if masked else str(value)


def example_explanations(result: PipelineResult, etype: str, scored: pa.Table,
                          threshold: float | None, n: int = 3,
                          explain: Callable[[int, int], Any] | None = None) -> list[Any]:
    """The least certain links and the most likely non-links: the instructive pairs.
    ``explain`` explains one pair where the engine has its own way (Spark hands in the
    pairs' comparison vectors); by default the pair is compared here."""
    if scored.num_rows == 0 or threshold is None:
        return []
    pairs = _example_pairs(scored, threshold, n)
    if not pairs:
        return []
    from linkage.errors import LinkageError
    from linkage.io.explained import explain_records, explained_columns
    from linkage.match.compare import compare

    entity = result.entities.get(etype)
    section = result.config.entity(etype)
    # what result.explain does for each pair, with the type's records selected once (a
    # selection copies every column it keeps of every record of the type: only the
    # columns compare reads and the explanation shows are kept)
    every = (explained_columns(result.records, entity.model) if entity is not None
             else result.records)
    records = rows_of_type(every, etype)
    vectors = None
    if explain is None and entity is not None:
        try:  # the pairs compared together: one pass over the type's columns, not one a pair
            vectors = compare(records, pa.table({  # smaller id left, as explain_records
                "id_l": pa.array([min(p) for p in pairs], pa.int64()),
                "id_r": pa.array([max(p) for p in pairs], pa.int64())}), entity.model.comparisons)
        except Exception:  # each pair then fails (or not) on its own below
            vectors = None
    entity_rows = _rows_of(records, [i for p in pairs for i in p])
    value_rows = (_rows_of(entity.records, [i for p in pairs for i in p])
                  if entity is not None else {})
    out: list[Any] = []
    for id_l, id_r in pairs:
        try:
            if explain is not None:
                explanation = explain(id_l, id_r)
            elif entity is None:
                raise LinkageError(f"{etype} records were not linked in this run")
            else:
                explanation = explain_records(
                    records, entity.model, id_l, id_r, scored=entity.scored,
                    threshold=section.scoring.link_threshold if section is not None else None,
                    candidates=entity.blocking.pairs, vectors=vectors)
        except Exception:  # an explanation is a nicety; the report must still render
            continue
        out.append(Example(explanation, verdict(explanation, threshold,
                                                _same_entity(records, entity_rows, id_l, id_r)),
                           _pair_values(result, etype, value_rows, id_l, id_r)))
    return out


def rows_of_type(records: pa.Table, etype: str) -> pa.Table:
    """The rows of ``records`` of entity type ``etype``: a slice, no copy, when they are
    one run of rows (the sources of a type are read one after the other, so they usually
    are), else a filtered copy."""
    keep = pc.fill_null(pc.equal(records.column("entity_type"), etype), False)
    at = pc.indices_nonzero(keep)
    if len(at) == 0:
        return records.slice(0, 0)
    lo, hi = at[0].as_py(), at[len(at) - 1].as_py()
    if hi - lo + 1 == len(at):
        return records.slice(lo, len(at))
    return records.filter(keep)


def _example_pairs(scored: pa.Table, threshold: float, n: int) -> list[tuple[int, int]]:
    """(id_l, id_r) of the ``n - 1`` links with the lowest weight and the non-link with
    the highest (ties in scored order): sorted on the weights of those rows alone, where
    sorting the filtered table copied every column of millions of pairs."""
    prob = scored["match_probability"]
    weight = scored["match_weight"]
    rows: list[int] = []
    for keep, order, k in ((pc.greater_equal(prob, threshold), "ascending", n - 1),
                           (pc.less(prob, threshold), "descending", 1)):
        at = pc.indices_nonzero(pc.fill_null(keep, False))
        if k <= 0 or not len(at):
            continue
        best = pc.sort_indices(pa.table({"w": weight.take(at)}), sort_keys=[("w", order)])
        rows.extend(at.take(best.slice(0, k)).to_pylist())
    if not rows:
        return []
    ids = scored.select(["id_l", "id_r"]).take(pa.array(rows, pa.int64()))
    return list(zip(ids["id_l"].to_pylist(), ids["id_r"].to_pylist(), strict=True))


def _rows_of(records: pa.Table, ids: list[int]) -> dict[int, int]:
    """Row of each of ``ids`` in ``records`` (absent: not there): the few ids are hashed
    and the record ids probe them, where a lookup per pair hashed every record id."""
    if "record_id" not in records.column_names:
        return {}
    wanted = pa.array(sorted(set(ids)), pa.int64())
    column = pc.cast(records["record_id"], pa.int64())
    rows = pc.indices_nonzero(pc.fill_null(pc.is_in(column, value_set=wanted), False))
    found = column.take(rows).to_pylist()
    return dict(zip(found, rows.to_pylist(), strict=True))


def pair_values(result: PipelineResult, etype: str, id_l: int,
                 id_r: int) -> tuple[tuple[str, str, str], ...]:
    """Each compared field's two values as written, identifiers and phones masked."""
    entity = result.entities.get(etype)
    if entity is None:
        return ()
    return _pair_values(result, etype, _rows_of(entity.records, [id_l, id_r]), id_l, id_r)


def _pair_values(result: PipelineResult, etype: str, rows: dict[int, int], id_l: int,
                 id_r: int) -> tuple[tuple[str, str, str], ...]:
    entity = result.entities.get(etype)
    if entity is None or id_l not in rows or id_r not in rows:
        return ()
    records = entity.records
    at = pa.array([rows[id_l], rows[id_r]], pa.int64())
    out: list[tuple[str, str, str]] = []
    for field in dict.fromkeys(c.field for c in entity.model.comparisons):
        column = f"{field}__raw" if f"{field}__raw" in records.column_names else field
        if column not in records.column_names:
            continue
        left, right = records[column].take(at).to_pylist()
        hide = field in MASKED_FIELDS
        out.append((field, show(left, hide), show(right, hide)))
    return tuple(out)


@dataclass(frozen=True)
class Example:
    """An explained pair with the sentence that says whether and why it was linked."""

    explanation: Any
    verdict: str
    values: tuple[tuple[str, str, str], ...] = ()

    def text(self) -> str:
        shown = "".join(f"\n  {f:<20} {a}  |  {b}" for f, a, b in self.values)
        return f"{self.verdict}{shown}\n{self.explanation.text()}"


def verdict(explanation: Any, threshold: float, linked: bool | None) -> str:
    """Whether and why a pair was linked: a must-link pair at probability 0.0000 must say
    that the rule, not the score, joined it."""
    p = float(explanation.match_probability)
    above = p >= threshold
    if explanation.cannot_link:
        return (f"not linked: a cannot-link rule keeps the records apart (different valid "
                f"identifiers), probability {p:.4f}")
    if explanation.must_link and not above:
        return (f"linked by the must-link rule (same valid identifier), although its "
                f"probability {p:.4f} is below the threshold {threshold:g}")
    if above:
        if linked is False:
            return (f"not linked although its probability {p:.4f} reaches the threshold "
                    f"{threshold:g}: clustering split the records (conflicting identifiers)")
        return f"linked: probability {p:.4f} reaches the threshold {threshold:g}"
    if linked:
        return (f"linked through other records of the entity, although its own probability "
                f"{p:.4f} is below the threshold {threshold:g}")
    return f"not linked: probability {p:.4f} is below the threshold {threshold:g}"


def same_entity(records: pa.Table, id_l: int, id_r: int) -> bool | None:
    return _same_entity(records, _rows_of(records, [id_l, id_r]), id_l, id_r)


def _same_entity(records: pa.Table, rows: dict[int, int], id_l: int,
                 id_r: int) -> bool | None:
    if "entity_id" not in records.column_names or id_l not in rows or id_r not in rows:
        return None
    ent = records["entity_id"].take(pa.array([rows[id_l], rows[id_r]], pa.int64())).to_pylist()
    return ent[0] is not None and ent[0] == ent[1]
