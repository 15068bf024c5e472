"""Benchmark the master-data stages: cluster + golden + conflicts + quality + report.html.

Builds its own seeded synthetic standardised records (five departments, 1-6 records per
true entity, missing/invalid values, stale addresses, name typos, a few false links between
people with different ID numbers) and scored pairs with NumPy, then times the stages.

    python benchmarks/bench_master.py --n 1000000

Last line: ``seconds=<cluster + golden + conflicts + quality + report wall seconds>
peak_mb=<peak RSS>``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.io.outputs import write_text
from linkage.io.report import render_html
from linkage.master.cluster import cluster
from linkage.master.conflicts import find_conflicts
from linkage.master.golden import SurvivorshipConfig, build_golden
from linkage.master.quality import source_quality

SOURCES = ("household", "social_security", "tax", "courts", "customs")
FIELDS = ("name", "id_number", "birth_date", "phone", "address")


def _text(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    digits = pc.cast(pa.array(numbers, pa.int64()), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def make_data(n: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Standardised records of one entity type and scored pairs, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    n_ent = max(n * 2 // 5, 1)
    ent = np.sort(rng.integers(0, n_ent, n))
    src = rng.integers(0, len(SOURCES), n)
    cols: dict[str, pa.Array] = {
        "record_id": pa.array(np.arange(n, dtype=np.int64)),
        "source": pa.array(np.array(SOURCES, dtype=object)[src], pa.string()),
        "source_key": _text("k", rng.permutation(n)),
        "entity_type": pa.array(np.full(n, "person", dtype=object), pa.string()),
        "source_row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "updated_at": pa.array(rng.integers(16_000, 20_000, n).astype("datetime64[D]"),
                               pa.date32()),
    }
    typo = rng.random(n) < 0.02
    values = {
        "name": _text("名", np.where(typo, ent + 10**9, ent)),
        "id_number": _text("11010519", ent, width=10),
        "birth_date": pc.cast(pa.array((ent % 20_000).astype("datetime64[D]"), pa.date32()),
                              pa.string()),
        "phone": _text("138", ent % 10**8, width=8),
        "address": _text("北京市朝阳区路", np.where(rng.random(n) < 0.1, ent + 7 * 10**8, ent)),
    }
    for f in FIELDS:
        u = rng.random(n)
        missing, invalid = u < 0.02, (u >= 0.02) & (u < 0.025)
        status = np.where(missing, "missing", np.where(invalid, "bad_format", "ok"))
        raw = values[f]
        spaced = rng.random(n) < 0.05
        cols[f] = pc.if_else(pa.array(missing | invalid), pa.nulls(n, pa.string()), raw)
        cols[f"{f}__raw"] = pc.if_else(pa.array(missing), pa.nulls(n, pa.string()),
                                       pc.if_else(pa.array(spaced),
                                                  pc.binary_join_element_wise(raw, " ", ""), raw))
        cols[f"{f}__status"] = pa.array(status.astype(object), pa.string())
    records = pa.table(cols)

    # Pairs: neighbours within an entity (mostly strong), random non-matches, and a few
    # strong false links between different people (the repair has to cut them).
    same = np.flatnonzero(ent[1:] == ent[:-1])
    p_same = np.where(rng.random(len(same)) < 0.05, rng.uniform(0.5, 0.95, len(same)),
                      rng.uniform(0.95, 1.0, len(same)))
    n_rand = n // 2
    a, b = rng.integers(0, n, n_rand), rng.integers(0, n, n_rand)
    false_link = rng.random(n_rand) < 0.002
    p_rand = np.where(false_link, rng.uniform(0.9, 0.97, n_rand), rng.uniform(0.0, 0.3, n_rand))
    left = np.concatenate([same, np.minimum(a, b)])
    right = np.concatenate([same + 1, np.maximum(a, b)])
    prob = np.concatenate([p_same, p_rand])
    keep = left != right
    left, right, prob = left[keep], right[keep], prob[keep]
    weight = np.log2(np.clip(prob, 1e-9, 1 - 1e-9) / np.clip(1 - prob, 1e-9, 1))
    scored = pa.table({"id_l": pa.array(left, pa.int64()), "id_r": pa.array(right, pa.int64()),
                       "match_weight": pa.array(weight), "match_probability": pa.array(prob)})
    return records, scored


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of records")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    records, scored = make_data(args.n, args.seed)
    print(f"data: {records.num_rows:,} records, {scored.num_rows:,} scored pairs "
          f"({time.perf_counter() - t0:.2f}s to build, not timed)")
    trust = {s: dict.fromkeys(FIELDS, 0.9 - 0.1 * i) for i, s in enumerate(SOURCES)}
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str, began: float) -> float:
        now = time.perf_counter()
        timings[name] = now - began
        return now

    t = time.perf_counter()
    clusters = cluster(records, scored, entity_type="person", threshold=0.9,
                       identity_fields=["id_number"])
    t = lap("cluster", t)
    golden = build_golden(records, clusters, fields=FIELDS, survivorship=SurvivorshipConfig(),
                          trust=trust)
    t = lap("golden", t)
    conflicts = find_conflicts(records, clusters, golden, fields=FIELDS)
    t = lap("conflicts", t)
    quality = source_quality(records, clusters, golden, fields=FIELDS)
    t = lap("quality", t)
    with tempfile.TemporaryDirectory() as tmp:
        html = render_html(summary={"name": "bench_master"}, records=records,
                           scored={"person": scored}, clusters=clusters,
                           golden={"person": golden}, conflicts=conflicts, quality=quality,
                           blocking={}, thresholds={"person": 0.9})
        path = write_text(html, Path(tmp) / "report.html")
        size_kb = path.stat().st_size / 1024
    lap("report", t)
    total = time.perf_counter() - start
    print(f"entities={golden.num_rows:,} conflicts={conflicts.num_rows:,} "
          f"repaired_records={int(pc.sum(clusters['repaired']).as_py() or 0):,} "
          f"report_kb={size_kb:.0f}")
    print(" ".join(f"{k}={v:.2f}s" for k, v in timings.items()))
    print(f"seconds={total:.2f} peak_mb={peak_mb():.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
