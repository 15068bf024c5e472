"""Fellegi-Sunter: EM recovers known m/u, predictions, rules, persistence, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from linkage.errors import LinkageError
from linkage.match.compare import Comparison
from linkage.match.score import FellegiSunter, ScoringConfig, _em, _pattern_counts, random_pairs

COMPS = (
    Comparison(name="a", field="a", method="jaro_winkler", thresholds=(0.9,)),
    Comparison(name="b", field="b", method="exact"),
    Comparison(name="c", field="c", method="exact"),
)
TRUE_M = {"a": [0.05, 0.15, 0.8], "b": [0.1, 0.9], "c": [0.2, 0.8]}
TRUE_U = {"a": [0.9, 0.07, 0.03], "b": [0.7, 0.3], "c": [0.95, 0.05]}


def _simulate(n: int, prior: float, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    match = rng.random(n) < prior
    cols: dict[str, object] = {"id_l": np.arange(n), "id_r": np.arange(n) + n}
    for comp in COMPS:
        m, u = TRUE_M[comp.name], TRUE_U[comp.name]
        g = np.where(match, rng.choice(len(m), n, p=m), rng.choice(len(u), n, p=u))
        g[rng.random(n) < 0.05] = -1  # some nulls, which EM must ignore
        cols[f"gamma_{comp.name}"] = g.astype(np.int8)
    return pa.table(cols)


def test_em_recovers_known_m_and_prior() -> None:
    vectors = _simulate(200_000, prior=0.2)
    patterns, counts = _pattern_counts(vectors, COMPS)
    assert counts.sum() == 200_000
    u = {k: np.asarray(v) for k, v in TRUE_U.items()}
    m, _, prior, _ = _em(patterns, counts, COMPS, u,
                         ScoringConfig(max_iter=500, em_fix_u=True))
    assert prior == pytest.approx(0.2, abs=0.01)
    for name, expected in TRUE_M.items():
        assert m[name] == pytest.approx(expected, abs=0.02)


def test_em_can_estimate_u_too() -> None:
    vectors = _simulate(200_000, prior=0.3, seed=5)
    patterns, counts = _pattern_counts(vectors, COMPS)
    start = {k: np.full(len(v), 1 / len(v)) for k, v in TRUE_U.items()}
    m, u, prior, _ = _em(patterns, counts, COMPS, start,
                         ScoringConfig(max_iter=1000, em_fix_u=False, tolerance=1e-9))
    assert prior == pytest.approx(0.3, abs=0.02)
    assert u["a"] == pytest.approx(TRUE_U["a"], abs=0.03)
    assert m["b"] == pytest.approx(TRUE_M["b"], abs=0.03)


def _people() -> pa.Table:
    rng = np.random.default_rng(0)
    n = 400
    base = [f"person{i:03d}" for i in range(n // 2)]
    names = base + [b if rng.random() < 0.9 else b[:-1] + "x" for b in base]
    cities = [f"city{i % 7}" for i in range(n // 2)] * 2
    years = [str(1950 + i % 50) for i in range(n // 2)] * 2
    return pa.table({"record_id": pa.array(range(n), pa.int64()), "a": names, "b": cities,
                     "c": years})


def _pairs_for(records: pa.Table) -> pa.Table:
    from linkage.match.compare import compare

    n = records.num_rows
    rng = np.random.default_rng(1)
    true_l = np.arange(n // 2)
    rand_l = rng.integers(0, n, 2000)
    rand_r = rng.integers(0, n, 2000)
    keep = rand_l != rand_r
    left = np.concatenate([true_l, np.minimum(rand_l, rand_r)[keep]])
    right = np.concatenate([true_l + n // 2, np.maximum(rand_l, rand_r)[keep]])
    return compare(records, pa.table({"id_l": left, "id_r": right}), COMPS)


def test_fit_predict_separates_matches() -> None:
    records = _people()
    vectors = _pairs_for(records)
    model = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    assert set(model.m_) == {"a", "b", "c"} and 0 < model.prior_ < 1
    scored = model.predict(vectors)
    assert scored.column_names[:4] == ["id_l", "id_r", "match_weight", "match_probability"]
    prob = scored.column("match_probability").to_numpy()
    exact_name = vectors.column("gamma_a").to_numpy()[:200] == 2
    assert (prob[:200][exact_name] > 0.9).all()  # a typo in the name alone is uncertain here
    assert exact_name.mean() > 0.8
    assert (prob[200:] < 0.1).mean() > 0.95
    weights = scored.column("match_weight").to_numpy()
    bf_sum = sum(scored.column(f"bf_{c.name}").to_numpy() for c in COMPS)
    assert weights == pytest.approx(bf_sum + model.prior_weight)


def test_fit_is_deterministic_and_save_load_round_trips(tmp_path: Path) -> None:
    records = _people()
    vectors = _pairs_for(records)
    one = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    two = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    assert one.predict(vectors).equals(two.predict(vectors))
    path = tmp_path / "model.json"
    one.save(path)
    loaded = FellegiSunter.load(path)
    assert loaded.comparisons == one.comparisons
    assert loaded.predict(vectors).equals(one.predict(vectors))


def test_predict_before_fit_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LinkageError, match="not fitted"):
        FellegiSunter(COMPS).predict(pa.table({"id_l": [0], "id_r": [1]}))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(LinkageError, match="model"):
        FellegiSunter.load(bad)


def test_rules_become_must_and_cannot_link_columns() -> None:
    records = _people()
    vectors = _pairs_for(records)
    n = vectors.num_rows
    ml = np.zeros(n, dtype=bool)
    cl = np.zeros(n, dtype=bool)
    ml[0] = True
    cl[1] = True
    vectors = vectors.append_column("ml_id", pa.array(ml)).append_column("cl_id", pa.array(cl))
    scored = FellegiSunter(COMPS, seed=1).fit(records, vectors).predict(vectors)
    assert scored.column("must_link").to_pylist()[:3] == [True, False, False]
    assert scored.column("cannot_link").to_pylist()[:3] == [False, True, False]


def test_term_frequency_makes_rare_values_stronger() -> None:
    comps = (Comparison(name="a", field="a", method="exact", term_frequency=True),)
    records = pa.table({"record_id": pa.array(range(6), pa.int64()),
                        "a": ["wang", "wang", "wang", "wang", "ouyang", "ouyang"]})
    from linkage.match.compare import compare

    vectors = compare(records, pa.table({"id_l": [0, 4], "id_r": [1, 5]}), comps)
    model = FellegiSunter(comps, ScoringConfig(u_sample_pairs=1000), seed=0).fit(records, vectors)
    weights = model.predict(vectors).column("match_weight").to_pylist()
    assert weights[1] > weights[0]


def test_explain_adds_up_and_describes_levels() -> None:
    records = _people()
    vectors = _pairs_for(records)
    model = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    row = vectors.slice(0, 1).to_pylist()[0]
    expl = model.explain(row)
    scored = model.predict(vectors.slice(0, 1)).to_pylist()[0]
    assert expl.match_weight == pytest.approx(scored["match_weight"])
    assert [c.name for c in expl.contributions] == ["a", "b", "c"]
    assert "match weight" in expl.text() and "level" in expl.text()


def test_random_pairs_seeded_and_link_only() -> None:
    records = pa.table({"record_id": pa.array(range(10), pa.int64()),
                        "source": ["a"] * 5 + ["b"] * 5})
    one = random_pairs(records, 100, seed=3, link_only=True)
    assert one.equals(random_pairs(records, 100, seed=3, link_only=True))
    left = one.column("id_l").to_numpy()
    right = one.column("id_r").to_numpy()
    assert ((left < 5) & (right >= 5)).all()


def test_u_prior_keeps_tiny_runs_sensible() -> None:
    vectors = pa.table({"id_l": [0, 1, 2, 3], "id_r": [4, 5, 6, 7],
                        "gamma_a": pa.array([2, 2, 2, 0], pa.int8()),
                        "gamma_b": pa.array([1, 1, 1, 0], pa.int8()),
                        "gamma_c": pa.array([1, 1, 1, 0], pa.int8())})
    patterns, counts = _pattern_counts(vectors, COMPS)
    u = {k: np.asarray(v) for k, v in TRUE_U.items()}
    _, u_free, prior, _ = _em(patterns, counts, COMPS, u, ScoringConfig())
    _, u_raw, _, _ = _em(patterns, counts, COMPS, u, ScoringConfig(u_prior_pairs=0.0))
    assert u_free["a"] == pytest.approx(TRUE_U["a"], abs=0.01)
    assert u_raw["a"][2] < 0.01 or u_raw["a"][0] > 0.99  # unregularised u collapses
    assert prior == pytest.approx(0.75, abs=0.05)


def test_predict_without_contributions_has_the_same_weights() -> None:
    records = _people()
    vectors = _pairs_for(records)
    model = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    full = model.predict(vectors)
    lean = model.predict(vectors, contributions=False)
    assert not [c for c in lean.column_names if c.startswith("bf_")]
    assert lean.column("match_weight").equals(full.column("match_weight"))


def test_slabs_do_not_change_scores_or_pattern_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    import linkage.match.score as score

    records = _people()
    vectors = _pairs_for(records)
    model = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    whole = model.predict(vectors)
    patterns, counts = _pattern_counts(vectors, COMPS)
    monkeypatch.setattr(score, "_SLAB", 7)  # many slabs and a ragged last one
    assert model.predict(vectors).equals(whole)
    small_patterns, small_counts = _pattern_counts(vectors, COMPS)
    assert np.array_equal(small_patterns, patterns) and np.array_equal(small_counts, counts)
    assert counts.sum() == vectors.num_rows


def test_pattern_counts_of_a_huge_pattern_space() -> None:
    # 8 comparisons of 9 levels: 10**8 possible patterns, counted by np.unique, not bincount
    comps = tuple(Comparison(name=f"x{i}", field="a", method="jaro_winkler",
                             thresholds=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) for i in range(8))
    gammas = {f"gamma_x{i}": pa.array([8, 8, -1, 8], pa.int8()) for i in range(8)}
    gammas["gamma_x0"] = pa.array([8, 8, -1, 0], pa.int8())
    patterns, counts = _pattern_counts(pa.table({"id_l": [0, 1, 2, 3], "id_r": [4, 5, 6, 7],
                                                 **gammas}), comps)
    assert comps[0].n_levels == 9
    assert patterns.tolist() == [[-1] * 8, [0] + [8] * 7, [8] * 8]
    assert counts.tolist() == [1.0, 1.0, 2.0]


def test_u_sample_is_the_same_rows_from_a_chunked_table() -> None:
    from linkage.match.score import _take_sorted

    table = pa.Table.from_batches([pa.record_batch({"a": [f"v{i}" for i in range(k, k + 5)]})
                                   for k in range(0, 20, 5)])
    rows = np.array([0, 3, 4, 5, 12, 19])
    assert _take_sorted(table, rows).equals(table.take(pa.array(rows)))
    assert _take_sorted(table, rows[:0]).num_rows == 0


def test_config_chooses_whether_predict_keeps_contributions(tmp_path: Path) -> None:
    records = _people()
    vectors = _pairs_for(records)
    lean = FellegiSunter(COMPS, ScoringConfig(contributions=False), seed=7).fit(records, vectors)
    assert not [c for c in lean.predict(vectors).column_names if c.startswith("bf_")]
    assert "bf_a" in lean.predict(vectors, contributions=True).column_names
    lean.save(tmp_path / "model.json")
    loaded = FellegiSunter.load(tmp_path / "model.json")
    assert loaded.config.contributions is False
    default = FellegiSunter(COMPS, seed=7).fit(records, vectors)
    assert "bf_a" in default.predict(vectors).column_names


def test_u_sample_reads_only_columns_compare_reads_and_gives_the_same_u() -> None:
    from linkage.match.compare import compare, read_columns

    records = _people()
    n = records.num_rows
    status = ["ok" if i % 5 else "invalid" for i in range(n)]
    records = records.append_column("a__status", pa.array(status)) \
        .append_column("unrelated", pa.array([str(i) for i in range(n)]))
    # a__status is read only for must-link / cannot-link rules, which COMPS have none of
    assert read_columns(records.column_names, COMPS) == ["record_id", "a", "b", "c"]
    config = ScoringConfig(u_sample_records=150, u_sample_pairs=3000)
    u = FellegiSunter(COMPS, config, seed=4)._estimate_u(records)
    # the reference: the same sampled rows with every column
    rows = np.sort(np.random.default_rng(4).choice(n, 150, replace=False))
    sample = records.take(pa.array(rows))
    vectors = compare(sample, random_pairs(sample, 3000, seed=4), COMPS)
    for comp in COMPS:
        gamma = vectors.column(f"gamma_{comp.name}").to_numpy()
        counts = np.bincount(gamma[gamma >= 0], minlength=comp.n_levels) + 0.5
        assert u[comp.name] == pytest.approx(counts / counts.sum())


def test_explain_many_is_explain_of_each_row() -> None:
    """Column-wise explanations (a resolver's candidates) equal row-wise ones, term
    frequencies (some missing) and rules included."""
    comps = (*COMPS[:2], Comparison(name="c", field="c", method="exact", term_frequency=True,
                                    must_link=True))
    records = _people()
    vectors = _pairs_for(records).slice(0, 300)
    from linkage.match.compare import compare

    vectors = compare(records, vectors.select(["id_l", "id_r"]), comps)
    model = FellegiSunter(comps, seed=7).fit(records, vectors)
    tf = vectors.column("tf_c").to_numpy(zero_copy_only=False).copy()
    tf[::7] = np.nan
    vectors = vectors.set_column(vectors.column_names.index("tf_c"), "tf_c",
                                 pa.array(tf, pa.float32()))
    columns = {k: vectors.column(k).to_numpy(zero_copy_only=False)
               for k in vectors.column_names if k not in ("id_l", "id_r")}
    many = model.explain_many(columns, id_l=vectors.column("id_l").to_pylist(),
                              id_r=vectors.column("id_r").to_pylist())
    assert many == [model.explain(row) for row in vectors.to_pylist()]
