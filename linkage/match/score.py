"""Score stage: Fellegi-Sunter match weights with m and u estimated from the data.

* u (the chance a level occurs between two *different* entities) comes from comparing
  random record pairs (seeded), which are almost all non-matches; more of them when the
  first fit says matches are too rare for the sample to resolve a rare level's u.
* m (the chance of a level between two records of the *same* entity) and the prior (the
  share of candidate pairs that match) come from EM on the comparison-pattern counts: the
  candidate pairs are reduced to distinct gamma patterns with counts, so each EM iteration
  costs O(patterns), not O(pairs).
* Term-frequency adjustment: on the exact level of a ``term_frequency`` comparison the u
  probability becomes the value's own frequency (a shared rare surname is stronger
  evidence than a shared 王); fuzzy levels get a weighted share of the same adjustment.
* Deterministic rules and constraints from ``compare`` (``ml_<name>``, ``cl_<name>``)
  become the bool columns ``must_link`` and ``cannot_link`` for the clustering stage.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import LinkageError, SchemaError
from linkage.match.block import BlockingPass
from linkage.match.compare import Comparison, compare, read_columns
from linkage.match.explain import Contribution, Explanation
from linkage.match.fit import (
    Diagnostic,
    Prepared,
    Session,
    fit_m_and_prior,
    prepare,
    report_findings,
    unpack_patterns,
)
from linkage.match.joint import _em as _em  # re-exported (tests import it here)
from linkage.match.usample import (
    _level_counts,
    _non_match_weights,
    _possible_pairs,
    _u_from_levels,
    _without_matches,
)
from linkage.match.usample import random_pairs as random_pairs
from linkage.schemas import require_fields

log = logging.getLogger(__name__)

_EPS = 1e-9
_FORMAT = "linkage.fellegi_sunter/1"
#: rounds of (fit m and the prior, take the matches out of the u sample) at most
_U_ROUNDS = 5
#: expected matches the u sample should hold (see FellegiSunter._extend_u_sample)
_U_SAMPLE_MATCHES = 200.0
#: an agreement level seen fewer times in the u sample has u set by the floor
_U_MIN_SEEN = 10
#: random pairs compared at a time for u
_U_CHUNK = 1 << 19
#: pairs per slab of predict and of the pattern count (keeps temporaries cache-sized)
_SLAB = 1 << 16


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    """How pairs are scored and which ones are links.

    ``u_sample_pairs`` random record pairs, drawn among ``u_sample_records`` randomly
    chosen records (seeded), estimate u. A level no random pair shows gets u from a
    half-count floor (0.5 / pairs), which caps the evidence it can give; when the first fit
    finds matches so rare that this cap keeps a pair agreeing on one strong field (an
    exact title) below the threshold, the "sessions" fit compares more random pairs, until
    the sample holds about 200 expected matches or ``u_max_sample_pairs`` pairs.

    ``link_only``: u is sampled from pairs of records of *different* sources (linking
    datasets rather than deduplicating). ``prior_space``: "random" (default) scores with
    the u of random record pairs and the prior of a random pair (EM's expected matches over
    all possible pairs), the classic model; "candidates" scores with EM's u and prior among
    the candidate pairs, which collapses when nearly every candidate is a match.
    ``em_fix_u``: keep u from random pairs during EM. The default (False) starts EM from
    the random-pair u and re-estimates it on the candidate pairs: blocking makes
    non-matching candidates agree on their blocking keys far more often than random pairs
    do, and an m fitted against the random-pair u absorbs every such pair (a shared
    placeholder ID, the same common name in one county). The random-pair
    u weighs as ``u_prior_pairs`` pseudo-pairs in that re-estimate, which keeps tiny runs
    sensible and is negligible on large ones. ``tf_min``:
    floor for a term frequency. ``tf_fuzzy_weight``: share of the exact level's tf
    adjustment applied to fuzzy levels. ``contributions``: whether ``predict`` keeps each
    comparison's weight as a ``bf_<name>`` column by default (a float64 column per
    comparison; False keeps large runs lean, and ``explain`` recomputes any pair's).

    ``fit``: "sessions" (default; see :mod:`linkage.match.fit`) keeps the random-pair u,
    fits m by EM per blocking pass without the comparisons that pass blocks on, then the
    prior with m and u fixed, and checks the result; "joint" is the earlier single EM over
    all candidate pairs (``em_fix_u``, ``u_prior_pairs``, ``prior_init`` and
    ``m_init_top`` apply to it only). ``on_collapse``: what a collapsed "sessions" fit
    does (an exact level with m near 0, a prior below the deterministic estimate, no
    pairs): "fallback" repairs it with defaults and warns, "refuse" raises.
    ``m_pseudo_pairs``: pseudo-matches per comparison spread over its levels as default m,
    so that a level no match shows keeps a small m rather than 0.
    """

    link_threshold: float = 0.9
    max_iter: int = 100
    tolerance: float = 1e-6
    u_sample_pairs: int = 200_000
    u_sample_records: int = 50_000
    u_max_sample_pairs: int = 2_000_000
    link_only: bool = False
    prior_space: Literal["random", "candidates"] = "random"
    em_fix_u: bool = False
    u_prior_pairs: float = 1000.0
    prior_init: float = 0.05
    m_init_top: float = 0.9
    tf_min: float = 1e-6
    tf_fuzzy_weight: float = 0.5
    max_weight: float = 30.0
    contributions: bool = True
    fit: Literal["sessions", "joint"] = "sessions"
    on_collapse: Literal["fallback", "refuse"] = "fallback"
    m_pseudo_pairs: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.link_threshold < 1.0:
            raise ValueError("link_threshold is a probability strictly between 0 and 1")
        if self.max_iter < 1 or self.u_sample_pairs < 1 or self.u_sample_records < 2:
            raise ValueError("max_iter and u_sample_pairs must be >= 1, u_sample_records >= 2")
        if self.u_max_sample_pairs < 1:
            raise ValueError("u_max_sample_pairs must be >= 1")
        if not 0.0 < self.prior_init < 1.0 or not 0.0 < self.m_init_top < 1.0:
            raise ValueError("prior_init and m_init_top are probabilities strictly within 0..1")
        if self.u_prior_pairs < 0:
            raise ValueError("u_prior_pairs must be >= 0")
        if not 0.0 <= self.tf_fuzzy_weight <= 1.0:
            raise ValueError("tf_fuzzy_weight must be within 0..1")
        if self.m_pseudo_pairs < 0:
            raise ValueError("m_pseudo_pairs must be >= 0")


class FellegiSunter:
    """Unsupervised Fellegi-Sunter scorer (sklearn style: ``fit`` returns self, learned
    attributes end in ``_``, ``predict`` has no side effects)."""

    def __init__(
        self,
        comparisons: Sequence[Comparison],
        config: ScoringConfig = ScoringConfig(),  # frozen, so safe to share
        *,
        seed: int = 0,
    ) -> None:
        self.comparisons = tuple(comparisons)
        self.config = config
        self.seed = seed

    # --- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        records: pa.Table,
        vectors: pa.Table,
        *,
        blocking: Sequence[BlockingPass] = (),
        pass_name: pa.ChunkedArray | pa.Array | None = None,
    ) -> FellegiSunter:
        """Estimate u from random record pairs, then m and the prior on ``vectors``.

        ``blocking``: the passes that produced ``vectors``' pairs (and ``pass_name``, the
        candidate pairs' column of that name, for passes other than exact ones), which the
        default "sessions" fit trains on one by one. ``diagnostics_`` lists what the fit
        found wrong (also logged as warnings)."""
        self._check_vectors(vectors)
        u_random = self._estimate_u(records)
        possible = _possible_pairs(records, link_only=self.config.link_only)
        if self.config.fit == "sessions":
            prepared = prepare(records, vectors, self.comparisons, blocking=blocking,
                               pass_name=pass_name, seed=self.seed)
            return self._fit_sessions(prepared, u_random, possible)
        patterns, counts = _pattern_counts(vectors, self.comparisons)
        return self._fit_joint(patterns, counts, u_random, possible)

    def _fit_sessions(self, prepared: Prepared, u_random: dict[str, npt.NDArray[np.float64]],
                      possible: float) -> FellegiSunter:
        """The "sessions" fit on ``prepared`` pattern counts, with ``u_random`` from
        :meth:`_estimate_u` (whose u sample it may grow) and ``possible`` record pairs:
        the driver's part of the fit, which both engines run."""
        counts = prepared.counts
        # Random pairs include a few matches (about prior x sample): on a small or
        # duplicate-rich table they make exact agreement look common among
        # non-matches. Later rounds count each random pair by its chance of being a
        # non-match under the previous round's model, until u settles.
        extended = False
        for _round in range(_U_ROUNDS + 1):
            fitted = fit_m_and_prior(
                prepared, u_random, max_iter=self.config.max_iter,
                tolerance=self.config.tolerance, on_collapse=self.config.on_collapse,
                m_pseudo_pairs=self.config.m_pseudo_pairs, report=False)
            random_prior = fitted.prior_candidates * float(counts.sum()) / possible \
                if possible else 0.0
            if not extended:
                # once, when the first fit says how rare a match is: a sample too
                # small to resolve u at that scale grows (see _extend_u_sample)
                extended = True
                if self._extend_u_sample(random_prior, fitted.m):
                    u_random = self._u_without_matches(u_random, fitted.m, random_prior)
                    continue
            if _round == _U_ROUNDS or random_prior * self._u_sample_size < 1.0:
                break
            before = u_random
            u_random = self._u_without_matches(u_random, fitted.m, random_prior)
            if max(float(np.abs(np.log(u_random[k] / before[k])).max())
                   for k in u_random) < 0.01:
                break
        report_findings(fitted, self.config.on_collapse)
        self.diagnostics_: list[Diagnostic] = fitted.diagnostics
        self.sessions_: list[Session] = fitted.sessions
        return self._fitted(fitted.m, u_random, fitted.prior_candidates, fitted.n_iter,
                            u_random, counts, possible)

    def _fit_joint(self, patterns: npt.NDArray[np.int64], counts: npt.NDArray[np.float64],
                   u_random: dict[str, npt.NDArray[np.float64]],
                   possible: float) -> FellegiSunter:
        """The "joint" fit on the pattern counts (both engines)."""
        m, u_cand, prior_cand, n_iter = _em(patterns, counts, self.comparisons, u_random,
                                            self.config)
        self.diagnostics_ = []
        self.sessions_ = []
        if counts.sum() == 0:
            self.diagnostics_ = [Diagnostic(
                "no_pairs", "fit on no candidate pairs: m and the prior keep their "
                "starting values", severity="error")]
            log.warning("score fit: %s", self.diagnostics_[0].message)
        return self._fitted(m, u_cand, prior_cand, n_iter, u_random, counts, possible)

    def _fitted(self, m: dict[str, npt.NDArray[np.float64]],
                u_cand: dict[str, npt.NDArray[np.float64]], prior_cand: float, n_iter: int,
                u_random: dict[str, npt.NDArray[np.float64]],
                counts: npt.NDArray[np.float64], possible: float) -> FellegiSunter:
        self.m_ = m
        self.u_candidates_ = u_cand
        self.prior_candidates_ = prior_cand
        if self.config.prior_space == "random":
            # Classic Fellegi-Sunter: u of random record pairs with the prior of a random
            # pair, so agreement on a blocking key weighs what it weighs in the population
            # (a twin who shares name and birth date is not a match by default).
            expected_matches = prior_cand * float(counts.sum())
            self.u_ = u_random
            self.prior_ = min(max(expected_matches / possible, _EPS), 1 - _EPS) \
                if possible else prior_cand
        else:
            self.u_ = u_cand
            self.prior_ = prior_cand
        self.n_iter_ = n_iter
        self.n_patterns_ = len(counts)
        log.info("score: fitted on %d pairs (%d patterns) in %d EM iterations, prior %.6f",
                 int(counts.sum()), len(counts), n_iter, self.prior_)
        return self

    def _estimate_u(self, records: pa.Table) -> dict[str, npt.NDArray[np.float64]]:
        require_fields(records, ["record_id"], what="FellegiSunter.fit(records)")
        # Random pairs among a random subset of records are still uniformly random record
        # pairs, and comparing them only needs the subset's values encoded.
        n = records.num_rows
        size = min(n, self.config.u_sample_records)
        if size < n:
            rng = np.random.default_rng(self.seed)
            read = read_columns(records.column_names, self.comparisons)
            if self.config.link_only and "source" in records.column_names:
                read.append("source")  # random_pairs pairs across sources
            records = _take_sorted(records.select(read),
                                   np.sort(rng.choice(n, size, replace=False)))
        self._u_records = records
        #: level counts of the extra pairs on which no sparse comparison agrees, per
        #: sparse comparison (see _extend_u_sample)
        self._u_common: dict[str, npt.NDArray[np.float64]] = {}
        self._u_extra_pairs = 0
        self._u_gammas: dict[str, npt.NDArray[np.int8]] = self._u_levels(
            self.config.u_sample_pairs, self.seed)
        self._u_sample_size = len(next(iter(self._u_gammas.values()))) \
            if self._u_gammas else 0
        # Pairs are drawn with replacement: from a small table the sample repeats the few
        # pairs there are, and its counts weigh no more than those distinct pairs, else
        # the half-count floor would claim a precision the data cannot give (12 records:
        # a shared birth date "never seen among 100,000 random pairs" is 66 pairs seen).
        possible = _possible_pairs(records, link_only=self.config.link_only)
        self._u_scale = min(1.0, possible / max(self._u_sample_size, 1))
        return _u_from_levels(self._u_gammas, self.comparisons, self._u_scale)

    def _u_levels(self, n_pairs: int, seed: int) -> dict[str, npt.NDArray[np.int8]]:
        """Each comparison's level on ``n_pairs`` random pairs of the u records, compared
        in chunks (only the int8 levels are kept)."""
        comparisons = self.comparisons
        parts: dict[str, list[npt.NDArray[np.int8]]] = {c.name: [] for c in comparisons}
        for k, lo in enumerate(range(0, n_pairs, _U_CHUNK)):
            pairs = random_pairs(self._u_records, min(_U_CHUNK, n_pairs - lo),
                                 seed=seed if k == 0 else seed + 7919 * k,
                                 link_only=self.config.link_only)
            vectors = compare(self._u_records, pairs, comparisons)
            for comp in comparisons:
                parts[comp.name].append(np.asarray(
                    vectors.column(f"gamma_{comp.name}").to_numpy(), dtype=np.int8))
        return {name: np.concatenate(chunks) if chunks else np.empty(0, np.int8)
                for name, chunks in parts.items()}

    def _extend_u_sample(self, random_prior: float,
                         m: Mapping[str, npt.NDArray[np.float64]]) -> bool:
        """Grow the u sample of the comparisons it is too small for.

        A level that no random pair in the sample shows gets u from the half-count floor,
        0.5 / sample size, however much rarer it really is (an exactly equal paper title:
        the floor of 200,000 pairs is 2.5e-6, the truth below 2e-7). That caps the
        evidence the level can give at log2(2 x sample x m) bits. Whether the cap matters
        depends on the prior: a link needs evidence past the prior odds, and when a
        random pair matches 1 time in 10,000 a single field agreeing (title, year and
        nothing else) stays just under 0.9. So the sample is grown until it holds
        ``_U_SAMPLE_MATCHES`` expected matches (prior x size), which puts the floor at
        1 / (2 x _U_SAMPLE_MATCHES) of the prior, up to ``u_max_sample_pairs``, for the
        comparisons with an agreement level that fewer than ``_U_MIN_SEEN`` non-matches
        show (its count less the matches the fit expects there, prior x size x m); only
        those are compared on the extra pairs. Returns whether it grew; the caller
        re-estimates u."""
        self._u_common = {}
        if random_prior <= 0 or not self._u_gammas:
            return False
        target = min(self.config.u_max_sample_pairs,
                     math.ceil(_U_SAMPLE_MATCHES / random_prior))
        extra = target - self._u_sample_size
        if extra < self._u_sample_size // 10:
            return False
        expected = random_prior * self._u_sample_size
        sparse = []
        for comp in self.comparisons:
            seen = _level_counts(self._u_gammas[comp.name], comp.n_levels)
            if (seen - expected * m[comp.name])[1:].min() < _U_MIN_SEEN:
                sparse.append(comp)
        if not sparse:
            return False
        # Matches cannot be told apart from non-matches by one field alone (a count less
        # the matches expected at a level is noise where nearly all are matches): a pair
        # that agrees at some level of a sparse comparison is compared on every field
        # and weighed like the joint sample's pairs; the rest (every sparse comparison
        # "different" or null) are non-matches but for a negligible share.
        rare: dict[str, list[npt.NDArray[np.int8]]] = {c.name: [] for c in self.comparisons}
        self._u_common = {c.name: np.zeros(c.n_levels) for c in sparse}
        n_extra = 0
        for k, lo in enumerate(range(0, extra, _U_CHUNK)):
            pairs = random_pairs(self._u_records, min(_U_CHUNK, extra - lo),
                                 seed=self.seed + 1 + 7919 * k,
                                 link_only=self.config.link_only)
            n_extra += pairs.num_rows
            levels = compare(self._u_records, pairs, sparse)
            agree = np.zeros(pairs.num_rows, dtype=bool)
            for comp in sparse:
                agree |= np.asarray(levels.column(f"gamma_{comp.name}").to_numpy()) >= 1
            for comp in sparse:
                gamma = np.asarray(levels.column(f"gamma_{comp.name}").to_numpy())
                self._u_common[comp.name] += _level_counts(gamma[~agree], comp.n_levels)
            full = compare(self._u_records, pairs.filter(pa.array(agree)), self.comparisons)
            for comp in self.comparisons:
                rare[comp.name].append(np.asarray(
                    full.column(f"gamma_{comp.name}").to_numpy(), dtype=np.int8))
        self._u_rare = {name: np.concatenate([self._u_gammas[name], *chunks])
                        for name, chunks in rare.items()}
        possible = _possible_pairs(self._u_records, link_only=self.config.link_only)
        self._u_extra_pairs = n_extra
        self._u_extra_scale = min(1.0, possible / max(self._u_sample_size + n_extra, 1))
        log.info("score: u of %s counted on %d more random pairs (a random pair matches "
                 "about 1 in %.0f)", ", ".join(c.name for c in sparse), n_extra,
                 1 / random_prior)
        return True

    def _u_without_matches(
        self, u: dict[str, npt.NDArray[np.float64]],
        m: Mapping[str, npt.NDArray[np.float64]], random_prior: float,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """u with the matches among the random pairs taken out: each pair of the joint
        sample counts by its chance of being a non-match (:func:`_without_matches`); a
        comparison counted on more pairs (:meth:`_extend_u_sample`) adds those of them
        that agree on some sparse comparison, weighed the same way, and the rest as
        non-matches."""
        out = _without_matches(self._u_gammas, m, u, random_prior, scale=self._u_scale)
        if self._u_common:
            weights = _non_match_weights(self._u_rare, m, u, random_prior)
            for name, common in self._u_common.items():
                gamma = self._u_rare[name]
                seen = gamma >= 0
                counts = np.bincount(gamma[seen].astype(np.intp), weights=weights[seen],
                                     minlength=len(common))[: len(common)] + common
                counts = counts * self._u_extra_scale + 0.5  # floor
                out[name] = np.asarray(counts / counts.sum(), dtype=np.float64)
        return out

    # --- prediction ------------------------------------------------------------------------

    def predict(self, vectors: pa.Table, *, contributions: bool | None = None) -> pa.Table:
        """ScoredPairs: id_l, id_r, match_weight, match_probability, bf_<name> per
        comparison (unless ``contributions=False``, which saves one float column per
        comparison on large runs; ``explain`` recomputes them for any pair; None follows
        ``ScoringConfig.contributions``), plus ``must_link`` / ``cannot_link`` when
        compare produced rules.

        Pairs are scored in slabs, so the per-comparison temporaries (weights, tf
        adjustments) stay slab-sized; only the output columns are run-sized."""
        self._require_fitted()
        self._check_vectors(vectors)
        if contributions is None:
            contributions = self.config.contributions
        n = vectors.num_rows
        inputs = []
        for comp in self.comparisons:
            gamma = _column_numpy(vectors, f"gamma_{comp.name}")
            tf_col = f"tf_{comp.name}"
            tf = _column_numpy(vectors, tf_col) \
                if comp.term_frequency and tf_col in vectors.column_names else None
            inputs.append((comp, self.level_weights(comp.name), gamma, tf))
        total = np.empty(n, dtype=np.float64)
        probability = np.empty(n, dtype=np.float64)
        bfs = {f"bf_{comp.name}": np.empty(n, dtype=np.float64)
               for comp in self.comparisons} if contributions else {}
        prior_w = self.prior_weight
        for lo in range(0, n, _SLAB):
            hi = min(lo + _SLAB, n)
            acc, slab_bfs = self._weigh(prior_w, [
                (comp, weights, gamma[lo:hi], None if tf is None else tf[lo:hi])
                for comp, weights, gamma, tf in inputs])
            if contributions:
                for name, bf in slab_bfs.items():
                    bfs[f"bf_{name}"][lo:hi] = bf
            total[lo:hi] = acc
            probability[lo:hi] = _probability(acc)
        columns: dict[str, Any] = {
            "id_l": vectors.column("id_l"),
            "id_r": vectors.column("id_r"),
            "match_weight": total,
            "match_probability": probability,
        }
        columns.update(bfs)
        for kind in ("ml", "cl"):
            flags = [c for c in vectors.column_names if c.startswith(f"{kind}_")]
            if flags:
                acc_flags = np.zeros(n, dtype=bool)
                for c in flags:
                    acc_flags |= np.asarray(
                        pc.fill_null(vectors.column(c), False).to_numpy(zero_copy_only=False),
                        dtype=bool,
                    )
                columns["must_link" if kind == "ml" else "cannot_link"] = acc_flags
        return pa.table(columns)

    def score_levels(
        self, gammas: Mapping[str, npt.NDArray[Any]], tfs: Mapping[str, npt.NDArray[Any]],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict[str, Any]]:
        """:meth:`predict`'s arithmetic on plain arrays (a handful of pairs, no table):
        ``gammas`` the level per pair of every comparison, ``tfs`` the term frequency of
        the comparisons that use them. Returns (match weight, match probability, each
        comparison's contribution by name)."""
        self._require_fitted()
        inputs = [(comp, self.level_weights(comp.name), gammas[comp.name],
                   tfs.get(comp.name) if comp.term_frequency else None)
                  for comp in self.comparisons]
        acc, bfs = self._weigh(self.prior_weight, inputs)
        return acc, _probability(acc), bfs

    def _weigh(self, prior_w: float, inputs: Sequence[tuple[
            Comparison, npt.NDArray[np.float64], npt.NDArray[Any], npt.NDArray[Any] | None]],
    ) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
        """Match weights (prior + every contribution) and the contributions, of one slab."""
        n = len(inputs[0][2]) if inputs else 0
        acc = np.full(n, prior_w, dtype=np.float64)
        bfs: dict[str, npt.NDArray[np.float64]] = {}
        for comp, weights, g, tf in inputs:
            bf = weights[g.astype(np.intp) + 1]
            if tf is not None:
                # NaN (no value) counts as 1; np.where costs a quarter of nan_to_num on a
                # resolver's few pairs (inf would weigh alike either way: clipped below)
                tf_slab = np.where(np.isnan(tf), 1.0, tf).astype(np.float64)
                bf = bf + self._tf_adjustment(comp, g, tf_slab)
            bfs[comp.name] = bf
            acc += bf
        return acc, bfs

    def _tf_adjustment(
        self, comp: Comparison, gamma: npt.NDArray[np.integer[Any]],
        tf: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """log2(u_exact / tf) on the exact level, a weighted share of it on fuzzy levels."""
        u_top = self.u_[comp.name][comp.top_level]
        adj = np.log2(u_top / np.maximum(tf, self.config.tf_min))
        limit = self.config.max_weight
        adj = np.minimum(np.maximum(adj, -limit), limit)  # np.clip, without its wrappers
        weight = np.where(gamma == comp.top_level, 1.0,
                          np.where(gamma >= 1, self.config.tf_fuzzy_weight, 0.0))
        return np.asarray(adj * weight, dtype=np.float64)

    def level_weights(self, name: str) -> npt.NDArray[np.float64]:
        """log2(m/u) per level of comparison ``name``, index 0 = null level (weight 0)."""
        self._require_fitted()
        m, u = self.m_[name], self.u_[name]
        # remembered per (m, u) arrays: explaining a resolver's candidates asks for every
        # comparison's weights per candidate (fitting assigns new arrays, never edits them)
        memo: dict[str, tuple[Any, Any, npt.NDArray[np.float64]]] = \
            self.__dict__.setdefault("_weights_memo", {})
        known = memo.get(name)
        if known is not None and known[0] is m and known[1] is u:
            return known[2]
        limit = self.config.max_weight
        w = np.clip(np.log2(np.maximum(m, _EPS) / np.maximum(u, _EPS)), -limit, limit)
        weights = np.concatenate([[0.0], w])
        weights.flags.writeable = False
        memo[name] = (m, u, weights)
        return weights

    @property
    def prior_weight(self) -> float:
        """log2 prior odds of a match (of a random pair, or of a candidate pair; see
        ``ScoringConfig.prior_space``)."""
        self._require_fitted()
        p = min(max(self.prior_, _EPS), 1 - _EPS)
        return math.log2(p / (1 - p))

    @property
    def threshold_weight(self) -> float:
        """The match weight that corresponds to ``link_threshold``."""
        p = self.config.link_threshold
        return math.log2(p / (1 - p))

    def parameters(self) -> pa.Table:
        """The m/u table: comparison, level, description, m, u, weight (log2 m/u)."""
        self._require_fitted()
        rows: dict[str, list[Any]] = {k: [] for k in
                                      ("comparison", "level", "description", "m", "u", "weight")}
        for comp in self.comparisons:
            weights = self.level_weights(comp.name)
            for level in range(comp.n_levels):
                rows["comparison"].append(comp.name)
                rows["level"].append(level)
                rows["description"].append(comp.describe_level(level))
                rows["m"].append(float(self.m_[comp.name][level]))
                rows["u"].append(float(self.u_[comp.name][level]))
                rows["weight"].append(float(weights[level + 1]))
        return pa.table(rows)

    # --- explanations ----------------------------------------------------------------------

    def explain(self, vectors_row: Mapping[str, Any]) -> Explanation:
        """Each comparison's level and contribution for one pair (a row of ComparisonVectors
        as a mapping: gamma_<name>, optional tf_<name>, ml_/cl_ and id_l/id_r)."""
        self._require_fitted()
        contributions: list[Contribution] = []
        total = self.prior_weight
        for comp in self.comparisons:
            key = f"gamma_{comp.name}"
            if key not in vectors_row:
                raise SchemaError(f"explain: row lacks {key!r}")
            raw = vectors_row[key]
            level = -1 if raw is None else int(raw)
            weight = float(self.level_weights(comp.name)[level + 1])
            tf_adj = 0.0
            tf_value = vectors_row.get(f"tf_{comp.name}")
            if comp.term_frequency and tf_value is not None and not math.isnan(float(tf_value)):
                tf_adj = float(self._tf_adjustment(
                    comp, np.asarray([level]), np.asarray([float(tf_value)]))[0])
            m = float(self.m_[comp.name][level]) if level >= 0 else None
            u = float(self.u_[comp.name][level]) if level >= 0 else None
            contributions.append(Contribution(
                name=comp.name, field=comp.field, level=level,
                description=comp.describe_level(level), m=m, u=u,
                weight=weight + tf_adj, tf_adjustment=tf_adj,
            ))
            total += weight + tf_adj
        ml = any(bool(v) for k, v in vectors_row.items() if k.startswith("ml_"))
        cl = any(bool(v) for k, v in vectors_row.items() if k.startswith("cl_"))
        id_l, id_r = vectors_row.get("id_l"), vectors_row.get("id_r")
        return Explanation(
            prior_weight=self.prior_weight,
            contributions=tuple(contributions),
            match_weight=total,
            match_probability=float(_probability(np.asarray([total]))[0]),
            id_l=None if id_l is None else int(id_l),
            id_r=None if id_r is None else int(id_r),
            must_link=ml,
            cannot_link=cl,
        )

    def explain_many(self, vectors: Mapping[str, npt.NDArray[Any]],
                     id_l: Sequence[int] | None = None,
                     id_r: Sequence[int] | None = None) -> list[Explanation]:
        """:meth:`explain` of several pairs at once, given column-wise (``gamma_<name>``,
        optional ``tf_<name>``, ``ml_`` / ``cl_`` arrays of equal length): the term
        frequency adjustments and probabilities are computed per column, not per pair,
        with the same arithmetic, so each result equals :meth:`explain` of its row."""
        self._require_fitted()
        n = len(next(iter(vectors.values()))) if vectors else 0
        prior = self.prior_weight
        total = np.full(n, prior, dtype=np.float64)
        per_comp = []
        for comp in self.comparisons:
            key = f"gamma_{comp.name}"
            if key not in vectors:
                raise SchemaError(f"explain: row lacks {key!r}")
            levels = np.asarray(vectors[key]).astype(np.int64)
            weights = self.level_weights(comp.name)[levels + 1]
            adj = np.zeros(n, dtype=np.float64)
            tf = vectors.get(f"tf_{comp.name}")
            if comp.term_frequency and tf is not None:
                tf64 = np.asarray(tf).astype(np.float64)
                known = ~np.isnan(tf64)
                if known.any():
                    adj[known] = self._tf_adjustment(comp, levels[known], tf64[known])
            contribution = weights + adj
            for i in range(n):  # Python float sums, in explain's order
                total[i] = float(total[i]) + float(contribution[i])
            per_comp.append((comp, levels, contribution, adj))
        probability = _probability(total)
        rules = {kind: np.zeros(n, dtype=bool) for kind in ("ml", "cl")}
        for k, v in vectors.items():
            if k[:3] in ("ml_", "cl_"):
                rules[k[:2]] |= np.asarray(v).astype(bool)
        out = []
        for i in range(n):
            contributions = []
            for comp, levels, contribution, adj in per_comp:
                level = int(levels[i])
                m = float(self.m_[comp.name][level]) if level >= 0 else None
                u = float(self.u_[comp.name][level]) if level >= 0 else None
                contributions.append(Contribution(
                    name=comp.name, field=comp.field, level=level,
                    description=comp.describe_level(level), m=m, u=u,
                    weight=float(contribution[i]), tf_adjustment=float(adj[i])))
            out.append(Explanation(
                prior_weight=prior, contributions=tuple(contributions),
                match_weight=float(total[i]), match_probability=float(probability[i]),
                id_l=None if id_l is None else int(id_l[i]),
                id_r=None if id_r is None else int(id_r[i]),
                must_link=bool(rules["ml"][i]), cannot_link=bool(rules["cl"][i])))
        return out

    # --- persistence -----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write comparisons, config and fitted parameters as JSON."""
        self._require_fitted()
        data = {
            "format": _FORMAT,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
            "prior": self.prior_,
            "prior_candidates": self.prior_candidates_,
            "n_iter": self.n_iter_,
            "m": {k: v.tolist() for k, v in self.m_.items()},
            "u": {k: v.tolist() for k, v in self.u_.items()},
            "diagnostics": [d.as_dict() for d in getattr(self, "diagnostics_", [])],
        }
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FellegiSunter:
        """Read a model written by :meth:`save`."""
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(loaded, dict) or loaded.get("format") != _FORMAT:
                raise LinkageError(f"{path}: not a linkage Fellegi-Sunter model file")
            data: Any = loaded
            comparisons = [Comparison(**_tuples(c)) for c in data["comparisons"]]
            model = cls(comparisons, ScoringConfig(**_tuples(data["config"])), seed=data["seed"])
            model.prior_ = float(data["prior"])
            model.prior_candidates_ = float(data.get("prior_candidates", data["prior"]))
            model.n_iter_ = int(data["n_iter"])
            model.m_ = {k: np.asarray(v, dtype=np.float64) for k, v in data["m"].items()}
            model.u_ = {k: np.asarray(v, dtype=np.float64) for k, v in data["u"].items()}
            model.diagnostics_ = [Diagnostic(**d) for d in data.get("diagnostics", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LinkageError(f"cannot load model from {path}: {exc}") from None
        for comp in comparisons:
            if len(model.m_.get(comp.name, ())) != comp.n_levels:
                raise LinkageError(f"{path}: parameters do not match comparison {comp.name!r}")
        return model

    # --- checks ----------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if not hasattr(self, "m_"):
            raise LinkageError("FellegiSunter is not fitted: call fit(records, vectors) or "
                               "FellegiSunter.load(path) first")

    def _check_vectors(self, vectors: pa.Table) -> None:
        needed = ["id_l", "id_r", *(f"gamma_{c.name}" for c in self.comparisons)]
        require_fields(vectors, needed, what="FellegiSunter(vectors)")


def _pattern_counts(
    vectors: pa.Table, comparisons: Sequence[Comparison]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Distinct gamma patterns (n_patterns x n_comparisons, -1 for null) and their counts.

    Each pair's pattern is one mixed-radix code; codes are built and counted in slabs (a
    run-sized code array only exists when the pattern space is too large to count by
    bincount)."""
    n = vectors.num_rows
    gammas = [_column_numpy(vectors, f"gamma_{comp.name}") for comp in comparisons]
    bases = [comp.n_levels + 1 for comp in comparisons]
    size = int(np.prod(bases)) if bases else 1
    by_bincount = size <= 1 << 22
    counts_all = np.zeros(size if by_bincount else 0, dtype=np.int64)
    codes = np.empty(0 if by_bincount else n, dtype=np.int64)
    for lo in range(0, n, _SLAB):
        hi = min(lo + _SLAB, n)
        code = np.zeros(hi - lo, dtype=np.int64)
        for gamma, base in zip(gammas, bases, strict=True):
            code *= base
            code += np.clip(gamma[lo:hi].astype(np.int64) + 1, 0, base - 1)
        if by_bincount:
            counts_all += np.bincount(code, minlength=size)
        else:
            codes[lo:hi] = code
    if by_bincount:
        distinct = np.flatnonzero(counts_all)
        counts = counts_all[distinct]
    else:
        distinct, counts = np.unique(codes, return_counts=True)
    return unpack_patterns(distinct, bases), counts.astype(np.float64)


def _take_sorted(table: pa.Table, rows: npt.NDArray[np.int64]) -> pa.Table:
    """``table.take(rows)`` for ascending ``rows``, batch by batch: Table.take concatenates
    each multi-chunk column first, a transient copy of the whole table (65 MB for 1M
    memory-mapped records) to keep a few thousand rows."""
    batches = []
    at = 0
    for batch in table.to_batches():
        first, last = np.searchsorted(rows, [at, at + batch.num_rows])
        if last > first:
            batches.append(batch.take(pa.array(rows[first:last] - at)))
        at += batch.num_rows
    return pa.Table.from_batches(batches, schema=table.schema)


def _column_numpy(table: pa.Table, name: str) -> npt.NDArray[Any]:
    """A column as NumPy, without a copy when it is one null-free chunk (as compare makes
    it)."""
    column = table.column(name)
    if column.num_chunks == 1:
        return np.asarray(column.chunk(0).to_numpy(zero_copy_only=False))
    return np.asarray(column.to_numpy())


def _probability(weight: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000))), dtype=np.float64)


def _tuples(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the frozen dataclasses declare."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
