"""The earlier single EM (``ScoringConfig.fit = "joint"``): m, optionally u, and the prior
fitted together on all candidate pairs' pattern counts. Kept for comparison; the default
fit is :mod:`linkage.match.fit`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from linkage.match.compare import Comparison

if TYPE_CHECKING:
    from linkage.match.score import ScoringConfig

_EPS = 1e-9


def _em(
    patterns: npt.NDArray[np.int64],
    counts: npt.NDArray[np.float64],
    comparisons: Sequence[Comparison],
    u_init: dict[str, npt.NDArray[np.float64]],
    config: ScoringConfig,
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.float64]], float, int]:
    """EM for m (and optionally u) and the prior on pattern counts."""
    m = {c.name: _m_start(c, config.m_init_top) for c in comparisons}
    u = {k: v.copy() for k, v in u_init.items()}
    prior = config.prior_init
    total = counts.sum()
    if total == 0:
        return m, u, prior, 0
    iteration = 0
    for iteration in range(1, config.max_iter + 1):  # noqa: B007 - reported after the loop
        log_m = np.zeros(len(counts))
        log_u = np.zeros(len(counts))
        for k, comp in enumerate(comparisons):
            g = patterns[:, k]
            seen = g >= 0
            log_m[seen] += np.log(np.maximum(m[comp.name][g[seen]], _EPS))
            log_u[seen] += np.log(np.maximum(u[comp.name][g[seen]], _EPS))
        a = math.log(prior) + log_m
        b = math.log(1 - prior) + log_u
        post = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        wm = counts * post
        wu = counts * (1 - post)
        change = 0.0
        for k, comp in enumerate(comparisons):
            g = patterns[:, k]
            seen = g >= 0
            new_m = _normalise(np.bincount(g[seen], weights=wm[seen], minlength=comp.n_levels))
            change = max(change, float(np.abs(new_m - m[comp.name]).max()))
            m[comp.name] = new_m
            if not config.em_fix_u:
                # MAP update: the random-pair u acts as u_prior_pairs pseudo-pairs, so a
                # handful of candidate pairs cannot drive u to 0 or 1
                observed = np.bincount(g[seen], weights=wu[seen], minlength=comp.n_levels)
                new_u = _normalise(observed + config.u_prior_pairs * u_init[comp.name])
                change = max(change, float(np.abs(new_u - u[comp.name]).max()))
                u[comp.name] = new_u
        new_prior = float(min(max(wm.sum() / total, _EPS), 1 - _EPS))
        change = max(change, abs(new_prior - prior))
        prior = new_prior
        if change < config.tolerance:
            break
    return m, u, prior, iteration


def _m_start(comp: Comparison, top: float) -> npt.NDArray[np.float64]:
    """Initial m: most mass on exact agreement, the rest decaying towards "else"."""
    n = comp.n_levels
    rest = np.array([2.0**k for k in range(n - 1)], dtype=np.float64)
    rest = rest / rest.sum() * (1 - top)
    return np.concatenate([rest, [top]])


def _normalise(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    y = np.asarray(x, dtype=np.float64) + 1e-12
    return np.asarray(y / y.sum(), dtype=np.float64)
