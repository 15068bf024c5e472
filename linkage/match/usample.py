"""The random-pair sample that u is counted on: drawing the pairs, counting levels, and
taking out the few matches among them (see ``FellegiSunter.fit``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.match.compare import Comparison

_EPS = 1e-9


def _level_counts(gamma: npt.NDArray[np.int8], n_levels: int) -> npt.NDArray[np.float64]:
    """Pairs per level (nulls left out)."""
    counts = np.bincount(gamma[gamma >= 0].astype(np.int64), minlength=n_levels)
    return np.asarray(counts[:n_levels], dtype=np.float64)


def _u_from_levels(
    gammas: Mapping[str, npt.NDArray[np.int8]], comparisons: Sequence[Comparison],
    scale: float,
) -> dict[str, npt.NDArray[np.float64]]:
    """u per comparison from the random pairs' levels, with a half-count floor."""
    u = {}
    for comp in comparisons:
        gamma = gammas[comp.name]
        raw = np.bincount(gamma[gamma >= 0].astype(np.int64), minlength=comp.n_levels)
        counts = raw[: comp.n_levels].astype(np.float64) * scale + 0.5  # floor
        u[comp.name] = counts / counts.sum()
    return u


def _non_match_weights(
    gammas: Mapping[str, npt.NDArray[np.int8]], m: Mapping[str, npt.NDArray[np.float64]],
    u: Mapping[str, npt.NDArray[np.float64]], prior: float,
) -> npt.NDArray[np.float64]:
    """Each random pair's chance of being a non-match under the fitted model."""
    n = len(next(iter(gammas.values()))) if gammas else 0
    log_odds = np.full(n, math.log(max(prior, _EPS) / max(1 - prior, _EPS)))
    for name, gamma in gammas.items():
        # per level log(m/u), with 0 for null (index -1 + 1 = 0)
        table = np.concatenate([[0.0], np.log(np.maximum(m[name], _EPS))
                                - np.log(np.maximum(u[name], _EPS))])
        log_odds += table[gamma.astype(np.intp) + 1]
    return np.asarray(1.0 - 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700))),
                      dtype=np.float64)


def _without_matches(
    gammas: Mapping[str, npt.NDArray[np.int8]], m: Mapping[str, npt.NDArray[np.float64]],
    u: Mapping[str, npt.NDArray[np.float64]], prior: float, *, scale: float = 1.0,
) -> dict[str, npt.NDArray[np.float64]]:
    """u from the random pairs' levels (``gammas``), each pair counted by its chance of
    being a non-match under the fitted model (one E step on the u sample), with the same
    half-count floor: the few matches among random pairs hold almost all of their exact
    agreements on rare values."""
    non_match = _non_match_weights(gammas, m, u, prior)
    out = {}
    for name, gamma in gammas.items():
        seen = gamma >= 0
        counts = np.bincount(gamma[seen].astype(np.intp), weights=non_match[seen],
                             minlength=len(u[name]))[: len(u[name])] * scale + 0.5
        out[name] = np.asarray(counts / counts.sum(), dtype=np.float64)
    return out


def _possible_pairs(records: pa.Table, *, link_only: bool) -> float:
    """Record pairs a dedupe (or, with ``link_only``, a cross-source link) could form."""
    n = records.num_rows
    if link_only and "source" in records.column_names:
        counts = np.asarray(pc.value_counts(pc.fill_null(
            records.column("source").combine_chunks(), "")).field("counts").to_numpy(),
            dtype=np.float64)
        return float((counts.sum() ** 2 - (counts**2).sum()) / 2)
    return float(n * (n - 1) / 2)


def random_pairs(
    records: pa.Table, n_pairs: int, *, seed: int, link_only: bool = False
) -> pa.Table:
    """``n_pairs`` random distinct-record pairs (id_l < id_r), seeded; with ``link_only``,
    only pairs of records from different sources."""
    ids = np.asarray(pc.cast(records.column("record_id"), pa.int64()).to_numpy(), dtype=np.int64)
    n = len(ids)
    rng = np.random.default_rng(seed)
    if n < 2:
        return pa.table({"id_l": pa.array([], pa.int64()), "id_r": pa.array([], pa.int64())})
    i = rng.integers(0, n, size=n_pairs)
    j = rng.integers(0, n, size=n_pairs)
    keep = i != j
    if link_only and "source" in records.column_names:
        src = pc.dictionary_encode(pc.fill_null(records.column("source").combine_chunks(), ""))
        codes = np.asarray(src.indices.to_numpy(), dtype=np.int64)
        keep &= codes[i] != codes[j]
    a, b = ids[i[keep]], ids[j[keep]]
    return pa.table({"id_l": np.minimum(a, b), "id_r": np.maximum(a, b)})
