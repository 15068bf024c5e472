"""Golden-record accuracy and conflict-report recall on the generator's data (issue 6).

    python benchmarks/bench_golden.py --persons 100000

Generates (seeded, cached under the temp directory) a synthetic world, runs the whole
pipeline on it, and prints per entity type and field the golden accuracy with its ceilings:
``observable`` (over entities whose true value some department wrote) and ``reachable``
(share of entities where a member record holds the true value after standardisation, and
the accuracy over those). Then conflict recall per injected kind (stale, wrong value), with
the right conflict kind, over all injected errors and over the detectable ones (the entity
has two or more records and the erroneous value differs from another record's value), and
how many detectable misses sit in an entity the linkage split.

The pipeline file is re-rendered from the current template on every run, so survivorship
changes take effect without regenerating the cached data.

What limits the figures (read the ceilings, not only the accuracy): a golden value can only
be one some record holds, so ``reachable`` bounds ``accuracy``. Below 0.99 it is, by the
data's construction: customs codes (only the customs department keeps them, and most
enterprises are not in its file), phones (missing in the one record many people have),
enterprise names and legal representatives (every department holds the former name, or a
substitute for a rare character), addresses where every department dropped the province.
Stale values that every department holds identically (nobody has seen the change yet) or
that sit in an entity's only record leave nothing to disagree with: recall over all
injected stale values is bounded by the detectable share (about half). Detectable misses
sit in entities the linkage split (``missed_unlinked``).

Last line: ``golden_min=<min accuracy over fields> golden_min_observable=<...>
stale_recall=<...> conflict_recall=<...> stale_recall_detectable=<...>
conflict_recall_detectable=<...>``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _world(persons: int, enterprises: int, seed: int, cache: Path) -> Path:
    """The generated data directory, generated once per size and seed."""
    from linkage.synth import SynthConfig, generate
    from linkage.synth.departments import FILES
    from linkage.synth.pipeline_template import pipeline_toml

    out = cache / f"p{persons}-e{enterprises}-s{seed}"
    if not (out / "manifest.json").exists():
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        generate(persons=persons, enterprises=enterprises, seed=seed, out=partial)
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    types = ["person"] + (["enterprise"] if enterprises else [])
    text = pipeline_toml("synthetic pipeline", FILES, types, SynthConfig(), seed)
    (out / "pipeline.toml").write_text(text, encoding="utf-8")
    return out


def _fmt(x: float | None) -> str:
    return "na" if x is None else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--enterprises", type=int, default=None,
                        help="default: a quarter of --persons")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "linkage-bench-golden")
    args = parser.parse_args(argv)
    enterprises = args.persons // 4 if args.enterprises is None else args.enterprises

    from linkage.evaluate import EXPECTED_KIND, evaluate
    from linkage.pipeline import Pipeline

    args.cache.mkdir(parents=True, exist_ok=True)
    world = _world(args.persons, enterprises, args.seed, args.cache)
    start = time.perf_counter()
    result = Pipeline.from_toml(world / "pipeline.toml").run()
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = evaluate(result.records, world / "truth", golden=result.golden,
                                       conflicts=result.conflicts)
    print(f"pipeline seconds={seconds:.1f} persons={args.persons} "
          f"enterprises={enterprises} seed={args.seed}", file=sys.stderr)

    accuracy: list[float] = []
    observable: list[float] = []
    for etype in ("person", "enterprise"):
        if etype not in metrics or "golden" not in metrics[etype]:
            continue
        pair = metrics[etype]["pairwise"]
        two = [f"{k}={v}" for k, v in metrics[etype].items() if k.startswith("clusters_with")]
        print(f"{etype}: pairwise precision={pair['precision']:.4f} "
              f"recall={pair['recall']:.4f} {' '.join(two)}")
        print(f"  {'field':<18}{'accuracy':>9}{'observable':>11}{'reachable':>10}"
              f"{'acc|reach':>10}")
        for name, row in metrics[etype]["golden"].items():
            acc = row["accuracy"]
            obs = row.get("accuracy_observable", acc)
            if acc is not None:
                accuracy.append(acc)
            if obs is not None:
                observable.append(obs)
            print(f"  {name:<18}{_fmt(acc):>9}{_fmt(obs):>11}{_fmt(row.get('reachable')):>10}"
                  f"{_fmt(row.get('accuracy_reachable')):>10}")

    conflicts = metrics.get("conflicts", {})
    print("conflict recall (any kind / right kind / right kind over detectable):")
    for label, row in sorted(conflicts.get("by_field_kind", {}).items()):
        if label.rsplit(":", 1)[-1] in EXPECTED_KIND:
            print(f"  {label:<28} errors={row['errors']:<6} any={_fmt(row['recall'])} "
                  f"kind={_fmt(row.get('recall_kind'))} "
                  f"detectable={row.get('detectable', 0)} "
                  f"kind|detectable={_fmt(row.get('recall_detectable'))} "
                  f"missed_unlinked={row.get('missed_detectable_unlinked', 'na')}")
    by_kind = conflicts.get("by_kind", {})

    def rate(kind: str, key: str) -> float | None:
        value = by_kind.get(kind, {}).get(key)
        return None if value is None else float(value)

    print("right kind over detectable errors in entities the linkage kept whole: "
          f"stale={_fmt(rate('stale', 'recall_detectable_linked'))} "
          f"conflict={_fmt(rate('wrong_value', 'recall_detectable_linked'))}")
    print(f"golden_min={_fmt(min(accuracy, default=None))} "
          f"golden_min_observable={_fmt(min(observable, default=None))} "
          f"stale_recall={_fmt(rate('stale', 'recall_kind'))} "
          f"conflict_recall={_fmt(rate('wrong_value', 'recall_kind'))} "
          f"stale_recall_detectable={_fmt(rate('stale', 'recall_detectable'))} "
          f"conflict_recall_detectable={_fmt(rate('wrong_value', 'recall_detectable'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
