"""The standardise benchmark runs at a tiny size and keeps its last-line contract."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_standardise.py"


def test_benchmark_smoke() -> None:
    root = str(SCRIPT.parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--n", "300", "--address-n", "200", "--pool", "200"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=env,
    )
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"persons_s=(\d+\.\d+) enterprises_s=(\d+\.\d+) address_accuracy=(\d\.\d{4})", last
    )
    assert match is not None, last
    assert float(match.group(3)) >= 0.9  # 200 labelled addresses, a few ambiguous
    assert "records/s" in done.stdout
