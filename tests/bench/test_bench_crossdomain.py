"""The cross-domain benchmark runs end to end at a tiny size (CI smoke test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_prints_a_line_per_set_and_the_contract_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_crossdomain.py"), "--entities",
         "300", "--tools", "linkage"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    sets = [line for line in lines if line.startswith("set=")]
    assert [s.split()[0] for s in sets] == ["set=persons", "set=restaurants", "set=papers"]
    for line in sets:
        f1 = float(re.search(r"linkage_f1=([\d.]+)", line).group(1))  # type: ignore[union-attr]
        assert f1 > 0.85, line
    assert re.fullmatch(r"min_margin=na max_gap=[\d.]+ max_spread=[\d.]+", lines[-1])
