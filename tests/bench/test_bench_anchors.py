"""The anchor benchmark runs end to end at a tiny size (CI smoke test; no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def test_anon_watcher_sees_a_child_s_allocation_and_not_its_mapped_file(tmp_path: Path) -> None:
    """The table's "anon MB": a child that maps and reads a 64 MB file, then allocates
    160 MB, peaks near 160 MB anonymous (its max RSS would count both)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _memory import AnonWatcher
    finally:
        sys.path.pop(0)
    data = tmp_path / "input.bin"
    data.write_bytes(b"\1" * (64 << 20))
    child = ("import mmap, time, numpy as np\n"
             f"f = open({str(data)!r}, 'rb')\n"
             "m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
             "assert sum(m[i] for i in range(0, len(m), 4096)) == len(m) // 4096\n"
             "a = np.ones(160 << 20, dtype=np.uint8); time.sleep(0.3)\n")
    proc = subprocess.Popen([sys.executable, "-c", child])
    watcher = AnonWatcher(proc.pid)
    assert proc.wait(timeout=60) == 0
    watcher.stop()
    assert 150 << 10 <= watcher.peak_kib <= 215 << 10  # KiB: the array, plus an interpreter
