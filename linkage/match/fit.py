"""The robust default fit of the Fellegi-Sunter model: m by EM per blocking pass with the
blocked-on comparisons left out, u fixed from random pairs, the prior last, and checks
that say when a fit looks wrong.

Why per pass: candidate pairs are not a random sample. Non-matches among them agree on
their blocking keys far more often than random pairs do, so an EM over all candidates
either credits that agreement to matches (u fixed: too many "matches", a prior of 0.3)
or re-estimates u on the candidates and may settle in a wrong optimum (the exact date of
birth with m = 0). Within the pairs one pass generates, the comparisons of its keys are
constant and carry no information, and every other comparison is, for non-matches,
distributed as between random records: there the random-pair u is right and EM only has
to find m and the pass's match share (Splink trains the same way). A comparison of a
field the pass blocks on only in part (a key derived from it, or a prefix) is kept, with
its u re-estimated on the pass's pairs, where agreement among non-matches is no chance.
Each comparison's m is the median over the passes that leave it free, weighted by their
expected matches (see :func:`_combine`).

The prior comes last, with m and u fixed: the share of candidate pairs that match is then
the one free parameter of a one-dimensional EM, which cannot run away. A deterministic
estimate (pairs equal on every compared field) bounds it from below.

Diagnostics (:class:`Diagnostic`, logged as warnings and shown in the report): an exact
level whose m is near 0 or weighs against a match (the fit collapsed: that comparison
falls back to default m, or the fit is refused), levels that no pass trained, weights
that fall as agreement rises, an EM that did not converge, a prior far from the
deterministic estimate, and a fit on no pairs at all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import LinkageError
from linkage.match.block import BlockingPass, pass_agreement
from linkage.match.compare import Comparison
from linkage.match.minhash import splitmix64

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]
_EPS = 1e-9
#: a pass needs at least this many expected matches for its m to count
MIN_SESSION_MATCHES = 5.0
#: an exact level with m below this is collapsed
MIN_EXACT_M = 0.01
#: the fitted number of matches may not fall below this share of the pairs that agree on
#: every compared field (those are matches nearly always)
MIN_DETERMINISTIC_SHARE = 0.5
#: candidate pairs the training sessions draw from (a seeded sample when there are more)
MAX_SESSION_PAIRS = 1_000_000
#: pseudo-pairs of random-pair u in a session's re-estimate of a partly blocked-on u
_U_PSEUDO = 100.0
#: weights may dip this many bits as agreement rises before a level is called non-monotone
MONOTONE_SLACK = 0.5
#: expected matches a level needs before its weight is compared with the weaker levels'
#: (a weight estimated from a couple of matches is noise, not a threshold to fix)
MONOTONE_MIN_MATCHES = 5.0

Kind = Literal["no_pairs", "exact_m_near_zero", "untrained", "non_monotone",
               "not_converged", "prior_vs_rules", "no_sessions"]

#: findings that advise on a level rather than say the fit went wrong
ADVISORY: frozenset[str] = frozenset({"untrained", "non_monotone"})


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a fit. ``severity`` "error" findings changed the model (a
    fallback) or refused it; "warning" ones are for the user to look at."""

    kind: Kind
    message: str
    comparison: str | None = None
    level: int | None = None
    severity: Literal["warning", "error"] = "warning"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "comparison": self.comparison,
                "level": self.level, "message": self.message}


@dataclass(frozen=True)
class Session:
    """One EM training session: the candidate pairs of one blocking pass."""

    name: str
    n_pairs: int
    fixed: tuple[str, ...]  # comparisons blocked on (not trained here)
    conditioned: tuple[str, ...]  # blocked on in part (u re-estimated on these pairs)
    match_share: float
    expected_matches: float
    n_iter: int
    converged: bool


@dataclass
class FitResult:
    """What :func:`fit_m_and_prior` learned."""

    m: dict[str, Array]
    prior_candidates: float
    n_iter: int
    sessions: list[Session] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    deterministic_pairs: int = 0


def default_m(comp: Comparison, top: float = 0.9) -> Array:
    """m before any data: most mass on exact agreement, the rest halving towards "else"
    (also the fallback of a collapsed comparison)."""
    n = comp.n_levels
    rest = np.array([2.0**k for k in range(n - 1)], dtype=np.float64)
    rest = rest / rest.sum() * (1 - top)
    return np.concatenate([rest, [top]])


@dataclass
class Prepared:
    """The pattern counts of every training session and of all candidate pairs, computed
    once per fit (a fit may run twice: see ``FellegiSunter.fit``)."""

    comparisons: list[Comparison]
    sessions: list[tuple[str, npt.NDArray[np.int64], Array, frozenset[str], frozenset[str]]]
    patterns: npt.NDArray[np.int64]
    counts: Array
    diagnostics: list[Diagnostic]


def prepare(
    records: pa.Table,
    vectors: pa.Table,
    comparisons: Sequence[Comparison],
    *,
    blocking: Sequence[BlockingPass] = (),
    pass_name: pa.ChunkedArray | pa.Array | None = None,
    seed: int = 0,
    max_session_pairs: int | None = None,
) -> Prepared:
    """Training sessions from ``blocking`` (the passes that made ``vectors``' pairs) and,
    for passes other than exact ones, ``pass_name`` (aligned with ``vectors``); without
    them one session over all pairs, and a diagnostic says so. Sessions are drawn from a
    seeded sample of about ``max_session_pairs`` pairs (default ``MAX_SESSION_PAIRS``)
    when there are more (:func:`session_sample`; m is a share per level: a million pairs
    fix it as well as ten; the prior uses every pair)."""
    comparisons = list(comparisons)
    codes, _ = pattern_codes(vectors, comparisons)
    if len(codes) == 0:
        return assemble(comparisons, codes, None, [])
    keep = session_sample(_ints(vectors.column("id_l")), _ints(vectors.column("id_r")),
                          len(codes), max_pairs=max_session_pairs, seed=seed)
    sample = codes
    if keep is not None:
        rows = pa.array(np.flatnonzero(keep), pa.int64())
        needed = ["id_l", "id_r", *(f"gamma_{c.name}" for c in comparisons)]
        vectors = vectors.select(needed).take(rows)
        pass_name = None if pass_name is None else pass_name.take(rows)
        sample = codes[keep]
    plan = session_plan(comparisons, blocking)
    masks = session_masks(records, vectors, comparisons, plan, pass_name)
    return assemble(comparisons, codes, None,
                    [(sp.bp.name, sample[mask], None, sp.fixed, sp.part)
                     for sp, mask in zip(plan, masks, strict=True) if mask is not None])


def assemble(
    comparisons: Sequence[Comparison],
    codes: npt.NDArray[np.int64],
    weights: Array | None,
    sessions: Sequence[tuple[str, npt.NDArray[np.int64], Array | None, frozenset[str],
                             frozenset[str]]],
) -> Prepared:
    """The :class:`Prepared` of pattern codes (:func:`pattern_codes`), each counted once
    or by ``weights`` (the Spark engine's group counts): every pair's, and each
    session's (name, codes, weights, blocked on, blocked on in part), those without pairs
    left out. One function for both engines, so they fit on the same arrays."""
    comparisons = list(comparisons)
    bases = [c.n_levels + 1 for c in comparisons]
    patterns, counts = _decode(codes, bases, weights)
    diagnostics: list[Diagnostic] = []
    if len(codes) == 0:
        return Prepared(comparisons, [], patterns, counts, diagnostics)
    trained = [(name, *_decode(c, bases, w), fixed, part)
               for name, c, w, fixed, part in sessions if len(c)]
    if not trained:
        diagnostics.append(Diagnostic(
            "no_sessions", "no blocking pass could be trained on separately: m is fitted on "
            "all candidate pairs, where blocking makes non-matches look alike"))
        return Prepared(comparisons,
                        [("all pairs", patterns, counts, frozenset(), frozenset())],
                        patterns, counts, diagnostics)
    return Prepared(comparisons, trained, patterns, counts, diagnostics)


def session_sample(
    id_l: npt.NDArray[np.int64], id_r: npt.NDArray[np.int64], n_pairs: int, *,
    max_pairs: int | None = None, seed: int = 0,
) -> npt.NDArray[np.bool_] | None:
    """Which pairs the training sessions use when there are over ``max_pairs`` (default
    ``MAX_SESSION_PAIRS``) of the run's ``n_pairs``: those whose seeded hash of (id_l,
    id_r) falls under max_pairs / n_pairs of the hash range, about ``max_pairs`` pairs.
    None: all of them. A pair's fate depends on its ids alone, not on its position, so
    any slice of the pairs, in any order and on any engine, keeps the same ones."""
    cap = MAX_SESSION_PAIRS if max_pairs is None else max_pairs
    if n_pairs <= cap:
        return None
    threshold = np.uint64((max(cap, 0) << 64) // n_pairs)
    return np.asarray(pair_hash(id_l, id_r, seed) < threshold, dtype=bool)


def pair_hash(id_l: npt.NDArray[np.int64], id_r: npt.NDArray[np.int64],
              seed: int) -> npt.NDArray[np.uint64]:
    """A seeded 64-bit hash of each pair of ids (splitmix64's finaliser, applied to the
    seed, then the left id, then the right id; uint64 arithmetic wraps)."""
    state = splitmix64(np.full(len(id_l), seed & ((1 << 64) - 1), dtype=np.uint64))
    state = splitmix64(state ^ np.asarray(id_l, dtype=np.int64).view(np.uint64))
    return splitmix64(state ^ np.asarray(id_r, dtype=np.int64).view(np.uint64))




def fit_m_and_prior(
    prepared: Prepared,
    u: dict[str, Array],
    *,
    max_iter: int = 100,
    tolerance: float = 1e-6,
    on_collapse: Literal["fallback", "refuse"] = "fallback",
    m_pseudo_pairs: float = 1.0,
    report: bool = True,
) -> FitResult:
    """m per comparison and the share of candidate pairs that match, u fixed. ``report``:
    log the findings (and refuse when asked to) here; else the caller does, once, with
    :func:`report_findings`."""
    comparisons = prepared.comparisons
    diagnostics = list(prepared.diagnostics)
    if prepared.counts.sum() == 0:
        diagnostics.append(Diagnostic(
            "no_pairs", "fit on no candidate pairs: m keeps its defaults and nothing can be "
            "linked by score; check the blocking passes", severity="error"))
        result = FitResult({c.name: default_m(c) for c in comparisons}, _EPS, 0,
                           diagnostics=diagnostics)
        if report:
            report_findings(result, on_collapse)
        return result
    trained: dict[str, list[tuple[float, Array]]] = {c.name: [] for c in comparisons}
    mass = {c.name: np.zeros(c.n_levels) for c in comparisons}
    done: list[Session] = []
    n_iter = 0
    for name, patterns, counts, fixed, part in prepared.sessions:
        active = [c.name not in fixed for c in comparisons]
        free_u = [c.name in part for c in comparisons]
        m_s, share, iters, converged, level_mass = _session_em(
            patterns, counts, comparisons, u, active, free_u, max_iter, tolerance,
            m_pseudo_pairs)
        n_iter += iters
        expected = share * float(counts.sum())
        done.append(Session(name, int(counts.sum()), tuple(sorted(fixed)),
                            tuple(sorted(part)), share, expected, iters, converged))
        if not converged:
            diagnostics.append(Diagnostic(
                "not_converged", f"EM on pass {name!r} did not converge in {max_iter} "
                "iterations"))
        if expected < MIN_SESSION_MATCHES:
            continue
        for k, comp in enumerate(comparisons):
            if active[k]:
                trained[comp.name].append((expected, m_s[comp.name]))
                mass[comp.name] += level_mass[comp.name]
    m: dict[str, Array] = {}
    for comp in comparisons:
        if trained[comp.name]:
            m[comp.name] = _combine(trained[comp.name])
        else:
            m[comp.name] = default_m(comp)
            diagnostics.append(Diagnostic(
                "untrained", f"{comp.name}: no blocking pass leaves it free with enough "
                "matches to train on; default m", comparison=comp.name))
            continue
        for level in np.flatnonzero(mass[comp.name] < 0.5).tolist():
            diagnostics.append(Diagnostic(
                "untrained", f"{comp.describe_level(level)}: level seen in no match "
                f"(m {m[comp.name][level]:.2g} from the default)", comparison=comp.name,
                level=level))
    diagnostics.extend(_check_levels(comparisons, m, u, mass, on_collapse))
    patterns, counts = prepared.patterns, prepared.counts
    prior, iters = _prior_em(patterns, counts, comparisons, m, u, max_iter, tolerance)
    n_iter += iters
    deterministic = _deterministic_pairs(patterns, counts, comparisons)
    total = float(counts.sum())
    expected = prior * total
    if deterministic >= 10 and expected < MIN_DETERMINISTIC_SHARE * deterministic:
        diagnostics.append(Diagnostic(
            "prior_vs_rules", f"the fit expects {expected:.0f} matches among {total:.0f} "
            f"candidate pairs, but {deterministic} pairs agree exactly on every compared "
            "field; the prior is raised to that count", severity="error"))
        prior = min(deterministic / total, 1 - _EPS)
    elif deterministic >= 10 and expected > 100 * deterministic:
        diagnostics.append(Diagnostic(
            "prior_vs_rules", f"the fit expects {expected:.0f} matches among {total:.0f} "
            f"candidate pairs, over 100 times the {deterministic} pairs that agree exactly "
            "on every compared field"))
    result = FitResult(m, prior, n_iter, done, diagnostics, deterministic)
    if report:
        report_findings(result, on_collapse)
    return result


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPass:
    """A blocking pass that can be trained on: ``fixed`` the comparisons it blocks on,
    ``part`` those it blocks on in part, and ``by`` how its pairs are told: "gamma" (its
    keys are whole compared fields: agreeing on them is their exact level), "keys" (the
    pair's key values agree, :func:`pass_agreement`) or "name" (a pass other than exact:
    the pairs tagged with its name)."""

    bp: BlockingPass
    fixed: frozenset[str]
    part: frozenset[str]
    by: Literal["gamma", "keys", "name"]


def session_plan(comparisons: Sequence[Comparison],
                 blocking: Sequence[BlockingPass]) -> list[SessionPass]:
    """The passes to train on, in ``blocking``'s order.

    An exact pass's session is every candidate pair that agrees on its keys (all the pairs
    the pass generates, whichever pass found them first); another kind's is the pairs
    tagged with its name. A comparison is blocked on when its field is a whole key of an
    exact pass (constant in the session: left out), and in part when a key is derived
    from its field or cuts it (``name__pinyin_key``, a prefix of ``id_number``): its u is
    then re-estimated in the session. A pass that blocks on every comparison has nothing
    to train."""
    plan = []
    compared = {c.field: c for c in comparisons}
    for bp in blocking:
        bases = {k.split("__", 1)[0] for k in bp.keys}
        whole_keys = {k for i, k in enumerate(bp.keys)
                      if not (bp.prefix and bp.prefix[i]) and not (bp.suffix and bp.suffix[i])}
        fixed = frozenset(c.name for c in comparisons
                          if bp.kind == "exact" and c.field in whole_keys)
        part = frozenset(c.name for c in comparisons if c.name not in fixed
                         and c.field.split("__", 1)[0] in bases)
        if len(fixed) == len(comparisons):
            continue
        whole = not any(bp.prefix) and not any(bp.suffix)
        if bp.kind == "exact" and whole and all(k in compared for k in bp.keys):
            plan.append(SessionPass(bp, fixed, part, "gamma"))
        else:
            plan.append(SessionPass(bp, fixed, part, "keys" if bp.kind == "exact" else "name"))
    return plan


def session_masks(
    records: pa.Table, vectors: pa.Table, comparisons: Sequence[Comparison],
    plan: Sequence[SessionPass], pass_name: pa.ChunkedArray | pa.Array | None, *,
    left: npt.NDArray[np.int64] | None = None, right: npt.NDArray[np.int64] | None = None,
) -> list[npt.NDArray[np.bool_] | None]:
    """Per pass of ``plan``, which pairs of ``vectors`` are its session (None: no way to
    tell, a pass other than exact without ``pass_name``). ``left`` / ``right``: the
    pairs' rows in ``records`` (default: found by record_id)."""
    compared = {c.field: c for c in comparisons}
    if left is None or right is None:
        ids = np.asarray(pc.cast(records.column("record_id"), pa.int64()).to_numpy(),
                         dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        left = order[np.searchsorted(ids[order], _ints(vectors.column("id_l")))]
        right = order[np.searchsorted(ids[order], _ints(vectors.column("id_r")))]
    names = None
    if pass_name is not None:
        names = np.asarray(pc.cast(pass_name, pa.string()).to_numpy(zero_copy_only=False))
    out: list[npt.NDArray[np.bool_] | None] = []
    for sp in plan:
        if sp.by == "gamma":
            mask = np.ones(vectors.num_rows, dtype=bool)
            for k in sp.bp.keys:
                comp = compared[k]
                gamma = np.asarray(vectors.column(f"gamma_{comp.name}").to_numpy(),
                                   dtype=np.int64)
                mask &= gamma == comp.top_level
        elif sp.by == "keys":
            mask = pass_agreement(records, sp.bp, left, right)
        elif names is not None:
            mask = names == sp.bp.name
        else:
            out.append(None)
            continue
        out.append(np.asarray(mask, dtype=bool))
    return out


def _ints(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)


def pattern_codes(
    vectors: pa.Table, comparisons: Sequence[Comparison]
) -> tuple[npt.NDArray[np.int64], list[int]]:
    """Each pair's gamma pattern as one mixed-radix code (level + 1, so null is 0)."""
    bases = [c.n_levels + 1 for c in comparisons]
    code = np.zeros(vectors.num_rows, dtype=np.int64)
    for comp, base in zip(comparisons, bases, strict=True):
        gamma = np.asarray(vectors.column(f"gamma_{comp.name}").to_numpy(), dtype=np.int64)
        code *= base
        code += np.clip(gamma + 1, 0, base - 1)
    return code, bases


def _decode(
    codes: npt.NDArray[np.int64], bases: list[int], weights: Array | None = None,
) -> tuple[npt.NDArray[np.int64], Array]:
    """Distinct patterns (levels, -1 = null) and their counts, each code counted once or
    by its weight (by bincount when the pattern space is small, as it nearly always
    is)."""
    size = int(np.prod(bases)) if bases else 1
    if size <= 1 << 22:
        all_counts = np.bincount(codes, weights=weights, minlength=size)
        distinct = np.flatnonzero(all_counts)
        counts = all_counts[distinct]
    elif weights is None:
        distinct, counts = np.unique(codes, return_counts=True)
    else:
        distinct, inverse = np.unique(codes, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(distinct))
    return unpack_patterns(distinct, bases), counts.astype(np.float64)


def unpack_patterns(codes: npt.NDArray[np.int64], bases: Sequence[int]) -> npt.NDArray[np.int64]:
    """Mixed-radix pattern codes (level + 1 per comparison, so null is 0) back to levels:
    n_codes x n_comparisons, -1 for null."""
    patterns = np.zeros((len(codes), len(bases)), dtype=np.int64)
    rest = np.array(codes, dtype=np.int64)
    for k in range(len(bases) - 1, -1, -1):
        patterns[:, k] = rest % bases[k] - 1
        rest //= bases[k]
    return patterns


# --- EM -------------------------------------------------------------------------------------


def _combine(estimates: list[tuple[float, Array]]) -> Array:
    """One m from the passes' estimates: per level the median weighted by each pass's
    expected matches, renormalised. A median, not a mean, because a pass whose pairs
    break the model (members of one household share phone and address, so among that
    pass's non-matches address agreement is no longer chance) can inflate a rare level's
    m a hundredfold; the other passes outvote it."""
    weights = np.array([w for w, _ in estimates])
    values = np.stack([m for _, m in estimates])  # passes x levels
    out = np.empty(values.shape[1])
    for level in range(values.shape[1]):
        order = np.argsort(values[:, level], kind="stable")
        cumulative = np.cumsum(weights[order])
        at = int(np.searchsorted(cumulative, cumulative[-1] / 2))
        out[level] = values[order[at], level]
    return np.asarray(out / out.sum(), dtype=np.float64)


def _log_likelihoods(
    patterns: npt.NDArray[np.int64], comparisons: Sequence[Comparison],
    m: dict[str, Array], u: dict[str, Array], active: Sequence[bool],
) -> tuple[Array, Array]:
    log_m = np.zeros(len(patterns))
    log_u = np.zeros(len(patterns))
    for k, comp in enumerate(comparisons):
        if not active[k]:
            continue
        g = patterns[:, k]
        seen = g >= 0
        log_m[seen] += np.log(np.maximum(m[comp.name][g[seen]], _EPS))
        log_u[seen] += np.log(np.maximum(u[comp.name][g[seen]], _EPS))
    return log_m, log_u


def _posterior(log_m: Array, log_u: Array, prior: float) -> Array:
    a = math.log(prior) + log_m
    b = math.log(1 - prior) + log_u
    return np.asarray(1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700))), dtype=np.float64)


def _session_em(
    patterns: npt.NDArray[np.int64], counts: Array, comparisons: Sequence[Comparison],
    u_random: dict[str, Array], active: Sequence[bool], free_u: Sequence[bool],
    max_iter: int, tolerance: float, pseudo: float,
) -> tuple[dict[str, Array], float, int, bool, dict[str, Array]]:
    """EM for m of the active comparisons and the session's match share, u fixed except
    for ``free_u`` comparisons: those the pass blocks on in part (a key derived from
    their field, or a prefix of it), among whose non-matches agreement is more common
    than by chance; their u is re-estimated on these pairs (the random-pair u weighs as
    ``_U_PSEUDO`` pseudo-pairs). Each level gets ``pseudo`` pseudo-matches spread as
    :func:`default_m`, so a level no match shows keeps a small, sane m instead of 0."""
    m = {c.name: default_m(c) for c in comparisons}
    u = dict(u_random)
    share = 0.1
    total = float(counts.sum())
    mass = {c.name: np.zeros(c.n_levels) for c in comparisons}
    for iteration in range(1, max_iter + 1):
        log_m, log_u = _log_likelihoods(patterns, comparisons, m, u, active)
        wm = counts * _posterior(log_m, log_u, share)
        change = 0.0
        for k, comp in enumerate(comparisons):
            if not active[k]:
                continue
            g = patterns[:, k]
            seen = g >= 0
            mass[comp.name] = np.asarray(
                np.bincount(g[seen], weights=wm[seen], minlength=comp.n_levels), dtype=np.float64)
            new = mass[comp.name] + pseudo * default_m(comp)
            new = new / new.sum()
            change = max(change, float(np.abs(new - m[comp.name]).max()))
            m[comp.name] = new
            if free_u[k]:
                non = np.bincount(g[seen], weights=(counts - wm)[seen],
                                  minlength=comp.n_levels) + _U_PSEUDO * u_random[comp.name]
                u[comp.name] = non / non.sum()
        new_share = float(min(max(wm.sum() / total, _EPS), 1 - _EPS))
        change = max(change, abs(new_share - share))
        share = new_share
        if change < tolerance:
            return m, share, iteration, True, mass
    return m, share, max_iter, False, mass


def _prior_em(
    patterns: npt.NDArray[np.int64], counts: Array, comparisons: Sequence[Comparison],
    m: dict[str, Array], u: dict[str, Array], max_iter: int, tolerance: float,
) -> tuple[float, int]:
    """The share of candidate pairs that match, m and u fixed (a concave one-parameter
    likelihood: its EM converges to the one optimum)."""
    log_m, log_u = _log_likelihoods(patterns, comparisons, m, u, [True] * len(comparisons))
    total = float(counts.sum())
    prior = 0.1
    iteration = 0
    for iteration in range(1, 10 * max_iter + 1):  # noqa: B007 - reported after the loop
        new = float(min(max((counts * _posterior(log_m, log_u, prior)).sum() / total, _EPS),
                        1 - _EPS))
        done = abs(new - prior) < tolerance * max(prior, _EPS)
        prior = new
        if done:
            break
    return prior, iteration


def _deterministic_pairs(
    patterns: npt.NDArray[np.int64], counts: Array, comparisons: Sequence[Comparison]
) -> int:
    """Pairs equal on every comparison both sides have, with at least two (and half of
    the comparisons) present: matches all but always."""
    tops = np.array([c.top_level for c in comparisons])
    present = patterns >= 0
    exact = (patterns == tops) | ~present
    enough = present.sum(axis=1) >= max(2, math.ceil(len(comparisons) / 2))
    return int(counts[exact.all(axis=1) & enough].sum())


# --- checks ---------------------------------------------------------------------------------


def _check_levels(
    comparisons: Sequence[Comparison], m: dict[str, Array], u: dict[str, Array],
    mass: dict[str, Array], on_collapse: str,
) -> list[Diagnostic]:
    """Collapsed exact levels (fixed in place: default m) and non-monotone weights."""
    found = []
    for comp in comparisons:
        top = comp.top_level
        mc, uc = m[comp.name], u[comp.name]
        if mc[top] < MIN_EXACT_M or mc[top] <= uc[top]:
            found.append(Diagnostic(
                "exact_m_near_zero", f"{comp.name}: exact agreement has m {mc[top]:.3g} "
                f"against u {uc[top]:.3g}, so it would count against a match: the fit "
                "collapsed" + (", default m used" if on_collapse == "fallback" else ""),
                comparison=comp.name, level=top, severity="error"))
            m[comp.name] = default_m(comp)
            continue
        weights = np.log2(np.maximum(mc, _EPS) / np.maximum(uc, _EPS))
        trained = mass[comp.name] >= MONOTONE_MIN_MATCHES
        for level in range(1, comp.n_levels):
            below = weights[:level][trained[:level]]
            if trained[level] and len(below) and weights[level] < below.max() - MONOTONE_SLACK:
                found.append(Diagnostic(
                    "non_monotone", f"{comp.describe_level(level)} weighs "
                    f"{weights[level]:.1f} bits, less than a weaker level "
                    f"({below.max():.1f}); check the thresholds", comparison=comp.name,
                    level=level))
    return found


def report_findings(result: FitResult, on_collapse: str) -> None:
    """Log every finding; refuse a fallback when asked to. Advice on levels (one no match
    shows keeps its default m; one that weighs less than a weaker one) is routine on small or
    clean data, so it is logged as info and listed in the report's fit diagnostics; what
    changed or endangers the model is a warning."""
    for d in result.diagnostics:
        (log.info if d.kind in ADVISORY else log.warning)("score fit: %s", d.message)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if errors and on_collapse == "refuse":
        raise LinkageError("the scoring fit was refused (on_collapse = 'refuse'): "
                           + "; ".join(d.message for d in errors))
