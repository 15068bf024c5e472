"""Digest of a run's Parquet outputs, to show that a change left behaviour alone.

    python benchmarks/output_digest.py --work /tmp/digest > before.txt
    ... change the code ...
    python benchmarks/output_digest.py --work /tmp/digest2 > after.txt
    diff before.txt after.txt        # empty: byte-identical Parquet outputs

It runs ``linkage demo`` and ``linkage generate --persons 100000`` + ``linkage run`` on
the generated pipeline (seed fixed), then prints one line per Parquet file: its path in
the run folder and the SHA-256 of its bytes. run.json and report.html hold timings and
are left out; every table is in the Parquet files.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path


def _linkage(*args: str) -> None:
    command = [sys.executable, "-m", "linkage.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def digests(run_dir: Path) -> list[str]:
    """``<file> <sha256>`` for every Parquet file under run_dir, sorted by path."""
    lines = []
    for path in sorted(run_dir.rglob("*.parquet")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{path.relative_to(run_dir)} {digest}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a folder for the runs")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    _linkage("demo", "--out", str(work / "demo"))
    data = work / f"synth_{args.persons}_{args.seed}"
    if not (data / "pipeline.toml").exists():
        _linkage("generate", "--persons", str(args.persons), "--seed", str(args.seed),
                 "--out", str(data))
    _linkage("run", str(data / "pipeline.toml"), "--out", str(work / "synth_run"))
    for name in ("demo", "synth_run"):
        for line in digests(work / name):
            print(f"{name}/{line}")


if __name__ == "__main__":
    main()
