"""Supervised adapter: scikit-learn and recordlinkage classifiers on labelled vectors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from linkage.errors import LinkageError, SchemaError
from linkage.match.compare import Comparison
from linkage.match.supervised import SupervisedScorer, labels_from_entities

COMPS = (
    Comparison(name="a", field="a", method="jaro_winkler", thresholds=(0.9,)),
    Comparison(name="b", field="b", method="exact"),
)


def _vectors(n: int = 2000, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(seed)
    match = rng.random(n) < 0.3
    a = np.where(match, rng.choice(3, n, p=[0.05, 0.15, 0.8]),
                 rng.choice(3, n, p=[0.9, 0.07, 0.03]))
    b = np.where(match, rng.choice(2, n, p=[0.1, 0.9]), rng.choice(2, n, p=[0.8, 0.2]))
    b[rng.random(n) < 0.05] = -1
    table = pa.table({"id_l": np.arange(n), "id_r": np.arange(n) + n,
                      "gamma_a": a.astype(np.int8), "gamma_b": b.astype(np.int8),
                      "cl_x": np.arange(n) == 0})
    return table, match


@pytest.mark.parametrize("model", ["logistic", "recordlinkage_logistic",
                                   "recordlinkage_naive_bayes"])
def test_classifiers_learn_the_signal(model: str) -> None:
    vectors, match = _vectors()
    scorer = SupervisedScorer(COMPS, model=model, seed=1)  # type: ignore[arg-type]
    scorer.fit(vectors, match)
    scored = scorer.predict(vectors)
    prob = scored.column("match_probability").to_numpy()
    ga = vectors.column("gamma_a").to_numpy()
    gb = vectors.column("gamma_b").to_numpy()
    best = (ga == 2) & (gb == 1)
    worst = (ga == 0) & (gb == 0)
    assert prob[best].min() > prob[worst].max()
    accuracy = ((prob >= 0.5) == match).mean()
    assert accuracy > 0.85
    assert scored.column("cannot_link").to_pylist()[:2] == [True, False]
    weights = scored.column("match_weight").to_numpy()
    assert weights == pytest.approx(np.log2(prob / (1 - prob)))


def test_errors_are_clear() -> None:
    vectors, match = _vectors(50)
    with pytest.raises(LinkageError, match="not fitted"):
        SupervisedScorer(COMPS).predict(vectors)
    with pytest.raises(SchemaError, match="labels"):
        SupervisedScorer(COMPS).fit(vectors, match[:10])
    with pytest.raises(LinkageError, match="both"):
        SupervisedScorer(COMPS).fit(vectors, np.ones(50, dtype=bool))


def test_labels_from_entities() -> None:
    vectors = pa.table({"id_l": [0, 0, 1, 5], "id_r": [1, 2, 2, 6]})
    labels = labels_from_entities(vectors, [0, 1, 2, 5], ["e1", "e1", "e2", "e3"])
    assert labels.tolist() == [True, False, False, False]  # record 6 is unknown
