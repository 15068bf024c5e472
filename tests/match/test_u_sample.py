"""The u sample grows when matches are rarer than it can resolve: a level that no random
pair shows gets u from the half-count floor, and on data where a random pair matches 1 in
10,000 that floor kept a paper agreeing only on title and year under the threshold."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.match.block import BlockingPass, block
from linkage.match.compare import Comparison, compare
from linkage.match.score import FellegiSunter, ScoringConfig
from linkage.synth.crossdomain import crossdomain

PAPER_COMPARISONS = (
    Comparison(name="title", field="title", thresholds=(0.8, 0.9, 0.96)),
    Comparison(name="authors", field="authors", thresholds=(0.7, 0.85)),
    Comparison(name="venue", field="venue", method="exact"),
    Comparison(name="year", field="year", method="levenshtein", thresholds=(0.7,)),
)


def _papers(n_entities: int, seed: int) -> pa.Table:
    """Generated papers, lower case with punctuation folded, blocked on the title's first
    word (as the cross-domain benchmark prepares them)."""
    table = crossdomain("papers", n_entities, seed=seed)
    for name in ("title", "authors", "venue"):
        col = pc.replace_substring_regex(pc.utf8_lower(table.column(name)), r"[^\w\s]", " ")
        col = pc.utf8_trim_whitespace(pc.replace_substring_regex(col, r"\s+", " "))
        table = table.set_column(table.column_names.index(name), name, col)
    first = pc.list_element(pc.utf8_split_whitespace(table.column("title")), 0)
    return table.append_column("title__first", first)


def _scored(table: pa.Table, config: ScoringConfig) -> tuple[FellegiSunter, pa.Table]:
    records = table.drop_columns(["truth"])
    passes = [BlockingPass(name="title__first", keys=("title__first",),
                           max_block_size=100_000)]
    blocked = block(records, passes)
    vectors = compare(records, blocked.pairs, PAPER_COMPARISONS)
    model = FellegiSunter(PAPER_COMPARISONS, config, seed=1).fit(
        records, vectors, blocking=passes, pass_name=blocked.pairs.column("pass_name"))
    return model, model.predict(vectors, contributions=False)


def _f1_at_and_best(table: pa.Table, scored: pa.Table, threshold: float) -> tuple[float, float]:
    truth = table.column("truth").to_numpy()
    prob = scored.column("match_probability").to_numpy()
    true = truth[scored.column("id_l").to_numpy()] == truth[scored.column("id_r").to_numpy()]
    sizes = np.bincount(truth)
    n_true = int((sizes * (sizes - 1) // 2).sum())
    linked = prob >= threshold
    at = 2 * int(true[linked].sum()) / (int(linked.sum()) + n_true)
    tp = np.cumsum(true[np.argsort(-prob, kind="stable")])
    best = float((2 * tp / (np.arange(1, len(tp) + 1) + n_true)).max())
    return at, best


def test_default_threshold_lands_within_001_of_the_best_on_papers() -> None:
    # with the 200,000-pair sample alone: F1 0.9608 at 0.9 against 0.9741 at best
    table = _papers(3000, seed=7)
    config = ScoringConfig()
    model, scored = _scored(table, config)
    f1, best = _f1_at_and_best(table, scored, config.link_threshold)
    assert set(model._u_common) == {"title", "authors"}  # year and venue: seen often
    assert model._u_extra_pairs > 4 * config.u_sample_pairs
    assert best - f1 <= 0.01
    assert f1 >= 0.96


def _coded(n_entities: int, duplicated: float, seed: int) -> pa.Table:
    """Records with a code unique to each entity, a name of 300 and a day of 3,650, in
    one of 40 groups (the blocking key). A duplicate keeps its group, and its code, name
    and day each with chance 0.9: exact code agreement is never seen between two
    different entities."""
    rng = np.random.default_rng(seed)
    entity = np.arange(n_entities)
    copies = entity[rng.random(n_entities) < duplicated]
    entity = np.concatenate([entity, copies])
    codes = rng.permutation(10 * n_entities)[:n_entities]
    names = rng.integers(0, 300, n_entities)
    days = rng.integers(0, 3650, n_entities)
    kept = np.concatenate([np.ones((n_entities, 3), bool), rng.random((len(copies), 3)) < 0.9])
    other = rng.integers(10**6, 2 * 10**6, (len(entity), 3))

    def column(values: np.ndarray, k: int, prefix: str) -> pa.Array:
        return pa.array([f"{prefix}{v}" for v in np.where(kept[:, k], values[entity], other[:, k])])

    return pa.table({
        "record_id": pa.array(np.arange(len(entity), dtype=np.int64)),
        "code": column(codes, 0, "c"), "name": column(names, 1, "n"),
        "day": column(days, 2, "d"),
        "group": pa.array([f"g{e % 40}" for e in entity]),
        "truth": pa.array(entity.astype(np.int64)),
    })


CODED = tuple(Comparison(name=f, field=f, method="exact") for f in ("code", "name", "day"))


def _fit_coded(table: pa.Table, config: ScoringConfig) -> FellegiSunter:
    records = table.drop_columns(["truth"])
    passes = [BlockingPass(name="group", keys=("group",))]
    blocked = block(records, passes)
    vectors = compare(records, blocked.pairs, CODED)
    return FellegiSunter(CODED, config, seed=2).fit(
        records, vectors, blocking=passes, pass_name=blocked.pairs.column("pass_name"))


def test_a_level_no_non_match_shows_gets_a_larger_sample_up_to_the_cap() -> None:
    table = _coded(3000, duplicated=0.02, seed=5)  # about 60 matches in 4.6M pairs
    small = ScoringConfig(u_sample_pairs=2000, u_max_sample_pairs=2000)
    grown = ScoringConfig(u_sample_pairs=2000, u_max_sample_pairs=60_000)
    before, after = _fit_coded(table, small), _fit_coded(table, grown)
    assert not before._u_common
    # 200 expected matches would need about 15M pairs: the cap holds (names and days too
    # are shared by fewer than 10 non-matches among 2,000 pairs)
    assert set(after._u_common) == {"code", "name", "day"}
    assert 55_000 < after._u_sample_size + after._u_extra_pairs <= 60_000
    # no two entities share a code: u of exact agreement falls with the sample's floor
    assert after.u_["code"][1] < before.u_["code"][1] / 8
    assert after.level_weights("code")[2] > before.level_weights("code")[2] + 3


def test_no_growth_when_the_sample_already_resolves_the_prior() -> None:
    table = _coded(300, duplicated=0.3, seed=5)  # about 90 matches in 73,000 pairs
    config = ScoringConfig(u_sample_pairs=200_000, u_max_sample_pairs=2_000_000)
    model = _fit_coded(table, config)
    assert not model._u_common


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="u_max_sample_pairs"):
        ScoringConfig(u_max_sample_pairs=0)
