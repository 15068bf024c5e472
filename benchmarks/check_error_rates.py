"""Measure every error rate from a generated truth and check it against the configuration.

    python benchmarks/check_error_rates.py DIR [--tolerance 0.10] [--min-expected 400]

For each department, field and error kind, the configured rate applies to the eligible
records (manifest.json ``error_stats``: eligible count and expected count = sum of the
configured probabilities). The injected count is measured from ``truth/errors.parquet``.
A row is checked when at least ``--min-expected`` errors are expected (below that, chance
alone moves the count by more than a few per cent); it passes when the measured rate is
within ``--tolerance`` (relative) of the configured rate. Rows pooled over departments are
checked the same way. Exit status 1 when any checked row fails.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="output directory of linkage generate")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--min-expected", type=float, default=400.0)
    args = parser.parse_args(argv)

    manifest = json.loads((args.dir / "manifest.json").read_text(encoding="utf-8"))
    errors = pq.read_table(args.dir / "truth" / "errors.parquet",
                           columns=["source", "entity_type", "field", "kind"])
    measured: dict[tuple[str, str, str, str], int] = defaultdict(int)
    grouped = errors.group_by(["source", "entity_type", "field", "kind"]).aggregate(
        [("kind", "count")])
    for row in grouped.to_pylist():
        measured[(row["source"], row["entity_type"], row["field"], row["kind"])] = \
            row["kind_count"]

    pooled: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    rows = []
    for s in manifest["error_stats"]:
        key = (s["source"], s["entity_type"], s["field"], s["kind"])
        eligible, expected = float(s["eligible"]), float(s["expected"])
        if eligible == 0 or expected == 0:
            continue
        got = measured.get(key, 0)
        rows.append((f"{s['source']}/{s['entity_type']}", s["field"], s["kind"], eligible,
                     expected, got))
        acc = pooled[(s["entity_type"], s["field"], s["kind"])]
        acc[0] += eligible
        acc[1] += expected
        acc[2] += got

    failures = 0
    header = (f"{'scope':<28} {'field':<16} {'kind':<20} {'eligible':>9} {'configured':>10} "
              f"{'measured':>9} {'rel.diff':>8}  result")
    print(header)
    print("-" * len(header))
    for scope, fld, kind, eligible, expected, got in rows:
        failures += _line(scope, fld, kind, eligible, expected, got, args)
    print()
    print("pooled over departments:")
    print(header)
    print("-" * len(header))
    for (etype, fld, kind), (eligible, expected, got) in sorted(pooled.items()):
        failures += _line(f"all/{etype}", fld, kind, eligible, expected, int(got), args)
    checked = sum(1 for *_, e, _g in rows if e >= args.min_expected)
    print(f"\nchecked={checked} failed={failures} tolerance={args.tolerance:.0%}")
    return 1 if failures else 0


def _line(scope: str, fld: str, kind: str, eligible: float, expected: float, got: int,
          args: argparse.Namespace) -> int:
    configured = expected / eligible
    rate = got / eligible
    diff = (rate - configured) / configured
    if expected < args.min_expected:
        result = f"not checked (expected {expected:.0f} < {args.min_expected:.0f})"
        failed = 0
    else:
        ok = abs(diff) <= args.tolerance
        z = (got - expected) / math.sqrt(max(expected * (1 - configured), 1e-9))
        result = f"{'ok' if ok else 'FAIL'} (z={z:+.1f})"
        failed = 0 if ok else 1
    print(f"{scope:<28} {fld:<16} {kind:<20} {int(eligible):>9} {configured:>10.4%} "
          f"{rate:>9.4%} {diff:>+8.1%}  {result}")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
