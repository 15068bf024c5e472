"""Linkage quality on the generator's default profile, persons and enterprises, no labels.

    python benchmarks/bench_synth_quality.py --persons 100000

Generates ``--persons`` persons and a quarter as many enterprises (the CLI's default
ratio), reads and standardises every departmental file, links each entity type with the
recommended settings of :mod:`linkage.match.presets` (block, compare, Fellegi-Sunter fitted by
EM), and scores the predicted pairs (probability >= 0.5, cannot-link respected, must-link
added) against the generator's truth. Last line::

    person_f1=<f1> enterprise_f1=<f1> person_s=<s> enterprise_s=<s>
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.config import load_pipeline
from linkage.io.sources import read_sources
from linkage.match.block import block
from linkage.match.compare import compare
from linkage.match.presets import PRESETS
from linkage.match.score import FellegiSunter
from linkage.standardisers import standardise
from linkage.synth.generate import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(persons=args.persons, enterprises=max(args.persons // 4, 1), seed=args.seed,
                 out=out)
        config = load_pipeline(out / "pipeline.toml")
        raw = read_sources(config)
        truth = pq.read_table(out / "truth" / "records.parquet")
        for etype in ("person", "enterprise"):
            section = config.entity(etype)
            assert section is not None
            records = standardise(raw.filter(pc.equal(raw.column("entity_type"), etype)),
                                  section.fields)
            results[etype] = _link(records, truth, etype, args.seed)
    print(f"{'entity':<12}{'records':>9}{'pairs':>10}{'wall s':>8}{'precision':>11}"
          f"{'recall':>9}{'F1':>9}")
    for etype, r in results.items():
        print(f"{etype:<12}{int(r['records']):>9}{int(r['candidates']):>10}{r['wall_s']:>8.2f}"
              f"{r['precision']:>11.4f}{r['recall']:>9.4f}{r['f1']:>9.4f}")
    print(f"person_f1={results['person']['f1']:.4f} "
          f"enterprise_f1={results['enterprise']['f1']:.4f} "
          f"person_s={results['person']['wall_s']:.2f} "
          f"enterprise_s={results['enterprise']['wall_s']:.2f}")
    return 0


def _link(records: pa.Table, truth: pa.Table, etype: str, seed: int) -> dict[str, float]:
    passes, comparisons = PRESETS[etype]
    started = time.perf_counter()
    pairs = block(records, passes).pairs
    vectors = compare(records, pairs, comparisons)
    scored = FellegiSunter(comparisons, seed=seed).fit(records, vectors).predict(vectors)
    link = pc.greater_equal(scored.column("match_probability"), 0.5)
    if "cannot_link" in scored.column_names:
        link = pc.and_(link, pc.invert(scored.column("cannot_link")))
    if "must_link" in scored.column_names:
        link = pc.or_(link, scored.column("must_link"))
    links = scored.filter(link)
    wall = time.perf_counter() - started
    keyed = records.select(["record_id", "source", "source_key"]).join(
        truth.select(["source", "source_key", "true_entity_id"]), ["source", "source_key"])
    keyed = keyed.sort_by("record_id")
    ids = keyed.column("record_id").to_numpy()
    codes = np.asarray(pc.dictionary_encode(keyed.column("true_entity_id").combine_chunks())
                       .indices.to_numpy(), dtype=np.int64)
    lookup = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    lookup[ids] = codes
    left = lookup[links.column("id_l").to_numpy()]
    right = lookup[links.column("id_r").to_numpy()]
    tp = int(np.sum((left == right) & (left >= 0)))
    sizes = np.bincount(codes)
    n_true = int((sizes * (sizes - 1) // 2).sum())
    precision = tp / links.num_rows if links.num_rows else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": records.num_rows, "candidates": pairs.num_rows, "wall_s": wall,
            "precision": precision, "recall": recall, "f1": f1}


if __name__ == "__main__":
    raise SystemExit(main())
