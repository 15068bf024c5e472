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
    prob = scored["match_probability"]
    out: list[Any] = []
    links = scored.filter(pc.greater_equal(prob, threshold)).sort_by("match_weight")
    near = scored.filter(pc.less(prob, threshold)).sort_by([("match_weight", "descending")])
    pairs = [row for table in (links.slice(0, n - 1), near.slice(0, 1))
             for row in table.select(["id_l", "id_r"]).to_pylist()]
    if not pairs:
        return out
    from linkage.errors import LinkageError
    from linkage.io.explained import explain_records

    # what result.explain does for each pair, with the type's records selected once (a
    # selection copies every column of every record of the type)
    records = result.records.filter(pc.equal(result.records.column("entity_type"), etype))
    entity = result.entities.get(etype)
    section = result.config.entity(etype)
    for row in pairs:
        try:
            if explain is not None:
                explanation = explain(row["id_l"], row["id_r"])
            elif entity is None:
                raise LinkageError(f"{etype} records were not linked in this run")
            else:
                explanation = explain_records(
                    records, entity.model, row["id_l"], row["id_r"], scored=entity.scored,
                    threshold=section.scoring.link_threshold if section is not None else None,
                    candidates=entity.blocking.pairs)
        except Exception:  # an explanation is a nicety; the report must still render
            continue
        out.append(Example(explanation, verdict(explanation, threshold,
                                                same_entity(records, row["id_l"],
                                                             row["id_r"])),
                           pair_values(result, etype, row["id_l"], row["id_r"])))
    return out


def pair_values(result: PipelineResult, etype: str, id_l: int,
                 id_r: int) -> tuple[tuple[str, str, str], ...]:
    """Each compared field's two values as written, identifiers and phones masked."""
    entity = result.entities.get(etype)
    if entity is None:
        return ()
    records = entity.records
    at = pc.index_in(pa.array([id_l, id_r], pa.int64()),
                     value_set=records["record_id"].combine_chunks())
    if at.null_count:
        return ()
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
    if "entity_id" not in records.column_names:
        return None
    ids = records["record_id"]
    at = pc.index_in(pa.array([id_l, id_r], pa.int64()), value_set=ids.combine_chunks())
    if at.null_count:
        return None
    ent = records["entity_id"].take(at).to_pylist()
    return ent[0] is not None and ent[0] == ent[1]
