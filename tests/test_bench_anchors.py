"""The anchor benchmark runs end to end at a tiny size (CI smoke test; no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_synth_smoke_run_prints_the_contract_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_anchors.py"), "--dataset", "synth",
         "--n", "600", "--tools", "linkage,recordlinkage", "--cache-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(
        r"linkage_s=[\d.]+ splink_s=na recordlinkage_s=[\d.]+ linkage_f1=[\d.]+ "
        r"splink_f1=na linkage_mb=\d+ splink_mb=na", lines[-1])
    f1 = float(re.search(r"linkage_f1=([\d.]+)", lines[-1]).group(1))  # type: ignore[union-attr]
    assert f1 > 0.9
    assert any(line.startswith("linkage ") for line in lines)
