"""The robust fit: per-pass EM on cross-domain data where the joint EM collapses, the
diagnostics of a collapsed fit, and fits on no pairs."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest

from linkage.errors import LinkageError
from linkage.match.block import BlockingPass, block, pass_agreement
from linkage.match.compare import Comparison, compare
from linkage.match.fit import Prepared, default_m, fit_m_and_prior
from linkage.match.score import FellegiSunter, ScoringConfig
from linkage.synth.crossdomain import crossdomain

PERSON_COMPARISONS = (
    Comparison(name="given_name", field="given_name", thresholds=(0.7, 0.88, 0.94)),
    Comparison(name="surname", field="surname", thresholds=(0.7, 0.88, 0.94)),
    Comparison(name="date_of_birth", field="date_of_birth", method="date"),
    Comparison(name="street_number", field="street_number", method="exact"),
    Comparison(name="street", field="street", thresholds=(0.8, 0.9)),
    Comparison(name="city", field="city", thresholds=(0.8, 0.9)),
    Comparison(name="postcode", field="postcode", method="levenshtein", thresholds=(0.75,)),
    Comparison(name="phone", field="phone", method="levenshtein", thresholds=(0.9,)),
)
#: the blocking under which the single EM over all candidates gave the worst fit
BLOCKING = (("surname",), ("date_of_birth",), ("postcode", "street_number"))


@pytest.fixture(scope="module")
def register() -> pa.Table:
    return crossdomain("persons", 2500, seed=7)


def _f1(records: pa.Table, config: ScoringConfig) -> tuple[float, FellegiSunter]:
    passes = [BlockingPass(name="+".join(k), keys=k, max_block_size=100_000) for k in BLOCKING]
    blocked = block(records.drop_columns(["truth"]), passes)
    vectors = compare(records, blocked.pairs, PERSON_COMPARISONS)
    model = FellegiSunter(PERSON_COMPARISONS, config, seed=3).fit(
        records.drop_columns(["truth"]), vectors, blocking=passes,
        pass_name=blocked.pairs.column("pass_name"))
    scored = model.predict(vectors)
    truth = records.column("truth").to_numpy()
    linked = scored.column("match_probability").to_numpy() >= config.link_threshold
    left, right = scored.column("id_l").to_numpy(), scored.column("id_r").to_numpy()
    tp = int((truth[left[linked]] == truth[right[linked]]).sum())
    sizes = np.bincount(truth)
    n_true = int((sizes * (sizes - 1) // 2).sum())
    return 2 * tp / (int(linked.sum()) + n_true), model


def test_per_pass_fit_holds_where_the_joint_fit_does_not(register: pa.Table) -> None:
    f1, model = _f1(register, ScoringConfig())
    joint_f1, _ = _f1(register, ScoringConfig(fit="joint"))
    assert f1 >= 0.95
    assert f1 > joint_f1 + 0.01
    # each pass trained the comparisons it does not block on
    names = {s.name: s for s in model.sessions_}
    assert names["surname"].fixed == ("surname",)
    assert set(names["postcode+street_number"].fixed) == {"postcode", "street_number"}
    # exact agreement on a date of birth is strong evidence, never against a match
    assert model.level_weights("date_of_birth")[-1] > 5
    # the prior of a random pair is near the truth (true pairs / all pairs)
    truth = register.column("truth").to_numpy()
    sizes = np.bincount(truth)
    n = register.num_rows
    true_prior = (sizes * (sizes - 1) / 2).sum() / (n * (n - 1) / 2)
    assert model.prior_ == pytest.approx(true_prior, rel=0.35)


def test_pass_agreement_is_the_pairs_a_pass_makes() -> None:
    records = pa.table({"record_id": [0, 1, 2, 3], "a": ["x1", "x2", " x1", None],
                        "b": ["p", "p", "p", "p"]})
    bp = BlockingPass(name="ab", keys=("a", "b"), prefix=(1, 0))
    left, right = np.array([0, 0, 1, 2]), np.array([1, 2, 3, 3])
    # prefix 1 makes x1 and x2 agree; the padded value is trimmed; null never agrees
    assert pass_agreement(records, bp, left, right).tolist() == [True, True, False, False]


def _prepared(patterns: list[list[int]], counts: list[float],
              comparisons: tuple[Comparison, ...]) -> Prepared:
    p = np.asarray(patterns, dtype=np.int64)
    c = np.asarray(counts, dtype=np.float64)
    return Prepared(list(comparisons), [("all", p, c, frozenset(), frozenset())], p, c, [])


COMPS = (Comparison(name="a", field="a", method="exact"),
         Comparison(name="b", field="b", method="exact"),
         Comparison(name="c", field="c", method="exact"))


def test_a_collapsed_exact_level_falls_back_loudly(caplog: pytest.LogCaptureFixture) -> None:
    # the pairs that agree on a and b (the matches) never agree on c, which agrees only
    # as often among the others as chance says: EM gives c's exact level m ~ 0
    prepared = _prepared([[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0]],
                         [500, 200, 20000, 200, 200], COMPS)
    u = {c.name: np.array([0.99, 0.01]) for c in COMPS}
    with caplog.at_level(logging.WARNING, logger="linkage.match.fit"):
        result = fit_m_and_prior(prepared, u)
    collapsed = [d for d in result.diagnostics if d.kind == "exact_m_near_zero"]
    assert [d.comparison for d in collapsed] == ["c"]
    assert collapsed[0].severity == "error"
    assert result.m["c"].tolist() == default_m(COMPS[2]).tolist()
    assert "collapsed" in caplog.text
    with pytest.raises(LinkageError, match="refused"):
        fit_m_and_prior(prepared, u, on_collapse="refuse")


def test_levels_no_match_shows_are_reported_untrained() -> None:
    comps = (Comparison(name="a", field="a", method="jaro_winkler", thresholds=(0.8,)),
             Comparison(name="b", field="b", method="exact"))
    prepared = _prepared([[2, 1], [0, 0], [0, 1]], [400, 20000, 1000], comps)
    u = {"a": np.array([0.95, 0.04, 0.01]), "b": np.array([0.9, 0.1])}
    result = fit_m_and_prior(prepared, u)
    untrained = [(d.comparison, d.level) for d in result.diagnostics if d.kind == "untrained"]
    assert ("a", 1) in untrained
    assert result.m["a"][1] > 0  # a pseudo-count keeps it off zero


def test_fit_on_no_pairs_is_loud_not_a_silent_prior(caplog: pytest.LogCaptureFixture) -> None:
    records = pa.table({"record_id": [0, 1, 2], "a": ["x", "y", "z"], "b": ["1", "2", "3"],
                        "c": ["p", "q", "r"]})
    vectors = compare(records, pa.table({"id_l": pa.array([], pa.int64()),
                                         "id_r": pa.array([], pa.int64())}), COMPS)
    with caplog.at_level(logging.WARNING):
        model = FellegiSunter(COMPS).fit(records, vectors)
    assert [d.kind for d in model.diagnostics_] == ["no_pairs"]
    assert "no candidate pairs" in caplog.text
    assert model.prior_ < 0.05
    with pytest.raises(LinkageError, match="no candidate pairs"):
        FellegiSunter(COMPS, ScoringConfig(on_collapse="refuse")).fit(records, vectors)
    joint = FellegiSunter(COMPS, ScoringConfig(fit="joint")).fit(records, vectors)
    assert [d.kind for d in joint.diagnostics_] == ["no_pairs"]


def test_diagnostics_survive_save_and_load(register: pa.Table, tmp_path: object) -> None:
    from pathlib import Path

    _, model = _f1(register.slice(0, 600), ScoringConfig())
    path = Path(str(tmp_path)) / "model.json"
    model.save(path)
    loaded = FellegiSunter.load(path)
    assert [d.as_dict() for d in loaded.diagnostics_] == [d.as_dict()
                                                         for d in model.diagnostics_]


def test_sessions_from_a_sample_of_pairs_give_about_the_same_m(register: pa.Table) -> None:
    from linkage.match.fit import prepare

    records = register.drop_columns(["truth"])
    passes = [BlockingPass(name="+".join(k), keys=k, max_block_size=100_000) for k in BLOCKING]
    blocked = block(records, passes)
    vectors = compare(records, blocked.pairs, PERSON_COMPARISONS)
    u = FellegiSunter(PERSON_COMPARISONS, seed=3)._estimate_u(records)
    full = fit_m_and_prior(prepare(records, vectors, PERSON_COMPARISONS, blocking=passes), u)
    assert vectors.num_rows > 20_000
    sampled = prepare(records, vectors, PERSON_COMPARISONS, blocking=passes, seed=1,
                      max_session_pairs=vectors.num_rows // 2)
    assert sum(int(s[2].sum()) for s in sampled.sessions) < vectors.num_rows
    half = fit_m_and_prior(sampled, u)
    for comp in PERSON_COMPARISONS:
        top = comp.top_level
        assert half.m[comp.name][top] == pytest.approx(full.m[comp.name][top], abs=0.05)
    assert half.prior_candidates == pytest.approx(full.prior_candidates, rel=0.1)


def test_session_sample_depends_on_the_pair_not_its_position() -> None:
    """The session sample keeps a pair by a seeded hash of its ids: shuffled pairs, or the
    pairs cut into slices (a Spark engine's batches), keep the same pairs; about the cap
    of them (a binomial count: within 5 standard deviations); none dropped at or below
    the cap; another seed keeps others."""
    from linkage.match.fit import session_sample

    rng = np.random.default_rng(5)
    n, cap = 200_000, 30_000
    id_l = rng.integers(0, 10**9, n)
    id_r = id_l + rng.integers(1, 10**6, n)
    keep = session_sample(id_l, id_r, n, max_pairs=cap, seed=0)
    assert keep is not None and keep.dtype == bool
    p = cap / n
    assert abs(int(keep.sum()) - cap) < 5 * (n * p * (1 - p)) ** 0.5
    kept = set(zip(id_l[keep].tolist(), id_r[keep].tolist(), strict=True))
    order = rng.permutation(n)
    shuffled = session_sample(id_l[order], id_r[order], n, max_pairs=cap, seed=0)
    assert shuffled is not None
    assert set(zip(id_l[order][shuffled].tolist(), id_r[order][shuffled].tolist(),
                   strict=True)) == kept
    sliced = np.concatenate([session_sample(id_l[lo:lo + 7_000], id_r[lo:lo + 7_000], n,
                                            max_pairs=cap, seed=0)  # type: ignore[list-item]
                             for lo in range(0, n, 7_000)])
    assert np.array_equal(sliced, keep)
    other = session_sample(id_l, id_r, n, max_pairs=cap, seed=1)
    assert other is not None and 0.1 < (other & keep).sum() / keep.sum() < 0.2
    assert session_sample(id_l, id_r, cap, max_pairs=cap, seed=0) is None
    # swapping a pair's sides is another pair (pairs have id_l < id_r)
    assert not np.array_equal(session_sample(id_r, id_l, n, max_pairs=cap, seed=0), keep)
