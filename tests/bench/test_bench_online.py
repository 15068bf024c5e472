"""The online benchmark runs end to end at a tiny size (CI smoke test; no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_online_smoke_run_prints_the_contract_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_online.py"), "--persons", "300",
         "--requests", "60", "--library-requests", "30", "--time-limit", "60",
         "--cache-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"p50_ms=[\d.]+ p99_ms=[\d.]+ qps=\d+ incremental_s=[\d.]+ "
                        r"full_s=[\d.]+ agreement=[\d.]+", last), last
    assert float(last.rsplit("agreement=", 1)[1]) > 0.99
    assert "untouched entities keeping their ids: 1.0000" in result.stdout
