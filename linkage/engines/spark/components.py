"""Connected components as Spark jobs: min-label propagation with pointer jumping.

Every node starts labelled with its own id; each round takes the smallest label among a
node's neighbours, then jumps to its label's label (which halves the distance to the
root, so a chain of length d needs about log d rounds on top of the diameter). The
lineage is cut after every round (``localCheckpoint``), and the loop is bounded. No graph
is ever held on the driver: a round's only result there is how many labels changed."""

from __future__ import annotations

import logging
from typing import Any

from linkage.errors import LinkageError

log = logging.getLogger(__name__)

MAX_ROUNDS = 60


def connected_components(edges: Any, *, src: str = "id_l", dst: str = "id_r",
                         max_rounds: int = MAX_ROUNDS) -> tuple[Any, int]:
    """(node, label) for every node of ``edges``, label = smallest node id of its
    component; and the number of rounds it took."""
    from pyspark.sql import functions as sf

    e = edges.select(sf.col(src).alias("a"), sf.col(dst).alias("b"))
    both = e.unionByName(e.select(sf.col("b").alias("a"), sf.col("a").alias("b"))) \
        .filter(sf.col("a") != sf.col("b")).distinct().localCheckpoint()
    labels = both.groupBy("a").agg(sf.least(sf.min("b"), sf.first("a")).alias("label")) \
        .withColumnRenamed("a", "node").localCheckpoint()
    for rounds in range(1, max_rounds + 1):
        nearest = both.join(labels.withColumnRenamed("node", "b"), "b") \
            .groupBy("a").agg(sf.min("label").alias("near")).withColumnRenamed("a", "node")
        stepped = labels.join(nearest, "node", "left") \
            .select("node", sf.least("label", sf.coalesce("near", "label")).alias("label"))
        parent = stepped.select(sf.col("node").alias("p"), sf.col("label").alias("pl"))
        jumped = stepped.join(parent, stepped["label"] == parent["p"], "left") \
            .select("node", sf.least("label", sf.coalesce("pl", "label")).alias("label")) \
            .localCheckpoint()
        changed = jumped.join(labels.withColumnRenamed("label", "old"), "node") \
            .filter(sf.col("label") != sf.col("old")).limit(1).count()
        labels = jumped
        if not changed:
            log.info("spark components: converged in %d round(s)", rounds)
            return labels, rounds
    raise LinkageError(f"connected components did not converge in {max_rounds} rounds")
