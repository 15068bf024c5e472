"""The whole pipeline at scale: ``linkage run`` (the out-of-core local engine) on generated
data, its wall time and peak memory, and whether its cost per record stays flat.

    python benchmarks/bench_scale.py --persons 3600000 --enterprises 900000
    python benchmarks/bench_scale.py --series

Data are generated once per size and seed into ``--cache`` (default
``~/.cache/linkage/bench_scale``) and reused. The run is a child process (``linkage run``
with the given ``--memory-limit``), so its figures are its own: ``seconds`` is the run's
wall time (not the generation's), ``peak_mb`` its peak anonymous memory (``RssAnon``,
sampled every 20 ms: what the run allocated; the pages of its memory-mapped spill files are
the kernel's to drop) and ``rss_mb`` its max RSS from ``wait4``, mapped pages included.
Metrics against the generator's truth are part of the run (pass ``--no-evaluate`` to skip them); the
pairwise F1 per entity type goes to stderr.

Last line (with ``--series``, one line per size, 0.1M, 1M, 3M and 10M records, the 10M
line last): ``records=<n> seconds=<wall, run only> peak_mb=<peak RssAnon of the run>
records_out=<n> s_per_million=<seconds per million records> rss_mb=<max RSS of the run>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import AnonWatcher

#: (persons, enterprises) of the series: about 0.1M, 1M, 3M and 10M records (the generator
#: writes about 2.8 records per person at a quarter as many enterprises)
SERIES = ((36_000, 9_000), (360_000, 90_000), (1_080_000, 270_000), (3_600_000, 900_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=36_000)
    parser.add_argument("--enterprises", type=int, default=9_000)
    parser.add_argument("--series", action="store_true", help="0.1M, 1M, 3M and 10M records")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "linkage" / "bench_scale")
    parser.add_argument("--memory-limit", default=None, help="passed to linkage run")
    parser.add_argument("--no-evaluate", action="store_true", help="passed to linkage run")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args(argv)

    sizes = SERIES if args.series else ((args.persons, args.enterprises),)
    for persons, enterprises in sizes:
        print(_one(persons, enterprises, args), flush=True)
    return 0


def _one(persons: int, enterprises: int, args: argparse.Namespace) -> str:
    data = _generated(persons, enterprises, args.seed, args.cache)
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    records = int(sum(f["records"] for f in manifest["files"]))
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    command = [sys.executable, "-m", "linkage.cli", "run", str(data / "pipeline.toml"),
               "--out", str(out)]
    if args.memory_limit:
        command += ["--memory-limit", args.memory_limit]
    if args.no_evaluate:
        command.append("--no-evaluate")
    try:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        watcher = AnonWatcher(child.pid, interval=0.02)
        assert child.stdout is not None
        printed = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        watcher.stop()
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"linkage run failed ({child.returncode}):\n{printed[-3000:]}")
        import pyarrow.parquet as pq

        records_out = pq.read_metadata(out / "records.parquet").num_rows
        summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    timings = summary.get("timings_s", {})
    print("stages: " + " ".join(f"{k}={v:.1f}" for k, v in timings.items()), file=sys.stderr)
    for etype, blocking in (summary.get("blocking") or {}).items():
        # candidate pairs per record: the cost of linking grows with it, not with records
        pairs, keyed = blocking.get("candidate_pairs"), blocking.get("records")
        if pairs is not None and keyed:
            print(f"{etype}: {pairs} candidate pairs, {pairs / keyed:.2f} per record",
                  file=sys.stderr)
    for etype in ("person", "enterprise"):
        pairwise = ((summary.get("metrics") or {}).get(etype) or {}).get("pairwise")
        if pairwise:
            print(f"{etype}: pairwise F1 {pairwise['f1']:.4f} precision "
                  f"{pairwise['precision']:.4f} recall {pairwise['recall']:.4f}", file=sys.stderr)
    rss_mb = usage.ru_maxrss / 1024
    peak_mb = watcher.peak_kib / 1024 or rss_mb  # no /proc: the max RSS
    per_million = seconds / (records / 1e6) if records else 0.0
    return (f"records={records} seconds={seconds:.1f} peak_mb={peak_mb:.0f} "
            f"records_out={records_out} s_per_million={per_million:.1f} rss_mb={rss_mb:.0f}")


def _generated(persons: int, enterprises: int, seed: int, cache: Path) -> Path:
    """The generator's output for this size and seed, made once (in a child process, so
    its memory is not the run's)."""
    data = cache / f"p{persons}_e{enterprises}_s{seed}"
    if (data / "manifest.json").is_file():
        _current_pipeline(data, seed)
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "linkage.cli", "generate", "--persons",
                    str(persons), "--enterprises", str(enterprises), "--seed", str(seed),
                    "--out", str(data)], check=True, stdout=subprocess.DEVNULL)
    return data


def _current_pipeline(data: Path, seed: int) -> None:
    """A cached set is linked with today's presets: its pipeline.toml (written by the
    generator that made the data) is rewritten from the generator's template, so a change
    of blocking or scoring is measured, not the settings of the day the data were made."""
    from linkage.synth.config import SynthConfig
    from linkage.synth.departments import FILES
    from linkage.synth.pipeline_template import pipeline_toml

    path = data / "pipeline.toml"
    text = pipeline_toml("synthetic pipeline", FILES, ["person", "enterprise"], SynthConfig(),
                         seed)
    if path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        print(f"{path}: rewritten with the current presets", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
