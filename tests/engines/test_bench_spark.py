"""benchmarks/bench_spark.py runs at a tiny size and prints its contract line (two shuffle
partitions: every Spark stage costs per task, and at 300 persons more tasks only cost)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_spark_contract(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_spark.py"), "--persons", "300",
         "--driver-memory", "1g", "--shuffle-partitions", "2", "--work", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.strip()][-1]
    number = r"[0-9.]+"
    assert re.fullmatch(rf"spark_s={number} local_s={number} same_entities=1 "
                        rf"driver_peak_mb={number}", line), line
    for engine in ("local", "spark"):  # each engine wrote its whole run folder
        assert (tmp_path / f"run_{engine}" / "report.html").is_file()
