"""One record against a few others, without tables: the online resolver's comparison.

:func:`compare_record` gives exactly what :func:`~linkage.match.compare.compare` gives
those pairs on a table (tests hold the two together), with the same comparators, but no
encoding of whole columns and no thread pool: a counter's lookup compares a handful of
candidates, where the column machinery would cost more than the comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.match.comparators import CAPPED_APART, DERIVED_INPUTS, similarity
from linkage.match.comparators.strings import scoring_workers
from linkage.match.compare import Comparison

__all__ = ["compare_record"]

#: a status that makes a value valid for the must-link and cannot-link rules
OK_PREFIX = "ok"


def compare_record(
    record: Mapping[str, Any],
    others: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Comparison],
) -> dict[str, npt.NDArray[np.generic]]:
    """:func:`compare` of one record against a few others, without tables: for each
    comparison, ``gamma_<name>`` and the ``ml_`` / ``cl_`` flags of every pair
    (other, record), as :func:`compare` gives them on a table holding ``others`` then
    ``record`` (columns read as :func:`read_columns` lists them; derived columns read
    off the last row holding each value, as there). Only the pairs that are neither null
    nor equal reach the comparator, all in one call. Term frequencies are left to the
    caller: on a handful of records they would count nothing useful. Cross-column
    comparisons (``other_field``) are null here (not yet evaluated one record at a
    time)."""
    rows = [*others, record]
    n = len(others)
    out: dict[str, npt.NDArray[np.generic]] = {}
    for comp in comparisons:
        field = comp.field
        top = comp.top_level
        if comp.other_field is not None:
            # cross-column comparisons are not evaluated one record at a time yet: null
            # (no weight either way), never a must-link
            out[f"gamma_{comp.name}"] = np.full(n, -1, dtype=np.int8)
            if comp.must_link:
                out[f"ml_{comp.name}"] = np.zeros(n, dtype=bool)
            continue

        def value(row: Mapping[str, Any], field: str = field) -> str | None:
            v = row.get(field)
            return None if v is None or v == "" else str(v)

        mine = value(record)
        theirs = [value(row) for row in others]
        gamma = np.zeros(n, dtype=np.int8)
        todo: list[int] = []
        for i, v in enumerate(theirs):
            if mine is None or v is None:
                gamma[i] = -1
            elif v == mine:
                gamma[i] = top
            else:
                todo.append(i)
        rep: dict[str, Mapping[str, Any]] = {}  # the last row holding each value
        for row in rows:
            v = value(row)
            if v is not None:
                rep[v] = row
        both_valid = None
        if comp.must_link or comp.cannot_link:
            def valid(row: Mapping[str, Any], field: str = field) -> bool:
                v = value(row)
                if v is None or "*" in v:
                    return False
                status = row.get(f"{field}__status", OK_PREFIX)
                if status is None or not str(status).startswith(OK_PREFIX):
                    return False
                return not row.get(f"{field}__masked")
            me = valid(record)
            both_valid = np.array([me and valid(row) for row in others], dtype=bool)
        cannot = both_valid & (gamma == 0) if both_valid is not None else None
        rule = CAPPED_APART.get(comp.method)
        ts = comp.levels_thresholds
        pending = [(i, v) for i in todo if (v := theirs[i]) is not None]
        if rule is not None and ts and ts[0] > rule[1] and mine is not None and \
                f"{field}__{rule[0]}" in record:
            column = f"{field}__{rule[0]}"
            side = rep[mine].get(column)
            if side not in (None, ""):
                # apart on the derived column: "else" without the comparator
                pending = [(i, v) for i, v in pending
                           if rep[v].get(column) in (None, "", side)]
        if comp.method != "exact" and pending and mine is not None:
            distinct = list(dict.fromkeys(v for _, v in pending))
            uniques = [*distinct, mine]
            code = {v: j for j, v in enumerate(distinct)}
            derived = {name: pa.array([rep[v].get(f"{field}__{name}") for v in uniques],
                                      pa.string())
                       for name in DERIVED_INPUTS.get(comp.method, ())
                       if f"{field}__{name}" in record}
            # one comparator call: distinct value j against the record's (the last one),
            # on this thread (rapidfuzz's thread pool costs more than a handful of pairs)
            with scoring_workers(1):
                scored = np.asarray(similarity(
                    comp.method, pa.array(uniques, pa.string()),
                    np.arange(len(distinct), dtype=np.int64),
                    np.full(len(distinct), len(distinct), dtype=np.int64),
                    derived, None, floor=ts[0] if ts else None), dtype=np.float32)
            sims = scored[np.array([code[v] for _, v in pending], dtype=np.int64)]
            comparable = ~np.isnan(sims)
            levels = np.searchsorted(np.asarray(ts, dtype=np.float32),
                                     np.where(comparable, sims, np.float32(0.0)),
                                     side="right").astype(np.int8)
            levels[~comparable] = -1
            at = np.array([i for i, _ in pending], dtype=np.int64)
            gamma[at] = levels
            if cannot is not None:
                cannot[at] &= comparable & (sims < np.float32(ts[-1] if ts else 1.0))
        out[f"gamma_{comp.name}"] = gamma
        if comp.must_link and both_valid is not None:
            out[f"ml_{comp.name}"] = both_valid & (gamma == top)
        if comp.cannot_link and cannot is not None:
            out[f"cl_{comp.name}"] = cannot
    return out
