"""Time and memory of ``linkage.synth.generate`` at a given size.

    python benchmarks/bench_generate.py --persons 1000000 --enterprises 250000

Last line: ``seconds=<wall seconds> peak_mb=<peak RSS> records=<records written>``.
Peak RSS is the process high-water mark (``resource.getrusage``), so run one size per
process. Fixed seed; output goes to a temporary directory unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--enterprises", type=int, default=2_500)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = parser.parse_args(argv)

    from linkage.synth import generate

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        start = time.perf_counter()
        manifest = generate(persons=args.persons, enterprises=args.enterprises,
                            seed=args.seed, out=out)
        seconds = time.perf_counter() - start
        for info in manifest.data["files"]:
            print(f"{info['path']:<32} {info['records']:>9} records", file=sys.stderr)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"seconds={seconds:.1f} peak_mb={peak_kb / 1024:.0f} records={manifest.records}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
