"""Connected components on Spark against a hand-drawn graph and scipy."""

from __future__ import annotations

from typing import Any

import numpy as np

from linkage.engines.spark.components import connected_components
from linkage.master.cluster import components


def test_hand_checked_graph(spark: Any) -> None:
    # 1-2-3 a chain, 10-11 a pair, 7-5-6 and 6-4 (a star whose smallest id is a leaf)
    edges = [(1, 2), (2, 3), (10, 11), (7, 5), (5, 6), (6, 4)]
    df = spark.createDataFrame(edges, "id_l long, id_r long")
    labels, rounds = connected_components(df)
    got = {r["node"]: r["label"] for r in labels.collect()}
    assert got == {1: 1, 2: 1, 3: 1, 10: 10, 11: 10, 4: 4, 5: 4, 6: 4, 7: 4}
    assert rounds >= 1


def test_long_chain_and_random_graph_match_scipy(spark: Any) -> None:
    rng = np.random.default_rng(3)
    n = 400
    chain = [(i, i + 1) for i in range(200, 299)]  # diameter 99: pointer jumping needed
    rand = [(int(a), int(b)) for a, b in rng.integers(0, 200, size=(150, 2)) if a != b]
    edges = chain + rand
    labels, rounds = connected_components(spark.createDataFrame(edges, "id_l long, id_r long"))
    got = {r["node"]: r["label"] for r in labels.collect()}
    left = np.array([a for a, _ in edges])
    right = np.array([b for _, b in edges])
    ref = components(n, left, right)
    nodes = sorted(got)
    smallest: dict[int, int] = {}
    for node in nodes:
        smallest.setdefault(int(ref[node]), node)
    assert all(got[node] == smallest[int(ref[node])] for node in nodes)
    assert rounds < 30  # far fewer rounds than the chain's length
