"""Anchor benchmark: linkage vs Splink (DuckDB) vs recordlinkage on the same data, same run.

    python benchmarks/bench_anchors.py --dataset febrl4
    python benchmarks/bench_anchors.py --dataset synth --n 1000000

Each tool runs in its own worker process, so its peak memory (max RSS, read with
``os.wait4`` for that child alone) is its own; wall time covers linking only (data already
in memory, imports done). Prints one table, then as the last line::

    linkage_s=<s> splink_s=<s> recordlinkage_s=<s or na> linkage_f1=<f1> splink_f1=<f1>
    linkage_mb=<peak> splink_mb=<peak>

(on one line). The table's "anon MB" is the peak of the worker's anonymous memory
(``RssAnon``, sampled every 2 ms from ``/proc``, Linux only): what the tool allocated,
without the file-backed pages (the memory-mapped input it reads, shared libraries) that
max RSS also counts. ``--runs 3`` reports medians. ``--tools`` limits the tools (CI smoke runs).
Every worker runs with the same allocator settings (``WORKER_ENV``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ALL_TOOLS = ("linkage", "splink", "recordlinkage")
#: Allocator settings for every tool's worker (same for all): Arrow on the system
#: allocator and glibc returning large freed blocks to the OS at once, so peak RSS
#: measures what a tool needs rather than what an allocator keeps in reserve.
WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_MMAP_THRESHOLD_": "131072"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("febrl4", "synth"), default="febrl4")
    parser.add_argument("--n", type=int, default=1_000_000, help="synth: number of records")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="match probability at or above which a pair is a link")
    parser.add_argument("--runs", type=int, default=1, help="runs per tool (medians reported)")
    parser.add_argument("--tools", default=",".join(ALL_TOOLS))
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "linkage-anchors",
                        help="where generated + standardised synth data is cached")
    parser.add_argument("--worker", choices=(*ALL_TOOLS, "prepare"), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(ALL_TOOLS))
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(unknown)}")
    if args.dataset == "synth" and "recordlinkage" in tools and args.n > 200_000:
        print("recordlinkage skipped: it needs ~13 min and ~17 GB at 1M records", file=sys.stderr)
        tools.remove("recordlinkage")
    if args.dataset == "synth":
        # Generate + standardise once, outside every tool's timing, in a child process: a
        # forked worker inherits its parent's peak RSS, so the parent must stay small.
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "prepare",
               "--n", str(args.n), "--seed", str(args.seed), "--cache-dir", str(args.cache_dir)]
        if subprocess.run(cmd, cwd=HERE.parent, check=False).returncode != 0:
            print("synth data preparation failed", file=sys.stderr)
            return 1
    summary: dict[str, dict[str, Any]] = {}
    for tool in tools:
        runs = [_spawn(tool, args) for _ in range(args.runs)]
        summary[tool] = _median(runs)
    _print_table(args, summary)
    print(_last_line(summary))
    return 0


def _spawn(tool: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one tool in a child process; its own peak RSS comes from os.wait4."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool,
               "--dataset", args.dataset, "--n", str(args.n), "--seed", str(args.seed),
               "--threshold", str(args.threshold), "--result", str(out),
               "--cache-dir", str(args.cache_dir)]
        sys.path.insert(0, str(HERE))
        from _memory import AnonWatcher

        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=HERE.parent, env={**os.environ, **WORKER_ENV})
        watcher = AnonWatcher(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        watcher.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0 or not out.exists():
            print(f"{tool}: worker failed (exit {proc.returncode})", file=sys.stderr)
            return {"ok": False}
        result: dict[str, Any] = json.loads(out.read_text())
    result["ok"] = True
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    if watcher.peak_kib:
        result["anon_mb"] = watcher.peak_kib / 1024
    result["process_s"] = elapsed
    return result


def _worker(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    from _anchor_data import load, pairwise_metrics, prepare_synth
    from _anchor_tools import TOOLS

    if args.worker == "prepare":
        prepare_synth(args.n, args.seed, args.cache_dir)
        return 0
    data = load(args.dataset, args.n, args.seed, args.cache_dir)
    uid_l, uid_r, info = TOOLS[args.worker](data, args.threshold, args.seed)
    info.update(pairwise_metrics(data, uid_l, uid_r))
    info["records"] = data.n_records
    args.result.write_text(json.dumps(info))
    return 0


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return {"ok": False}
    out = dict(ok[0])
    for key in ("wall_s", "peak_mb", "anon_mb", "process_s", "precision", "recall", "f1", "block_s",
                "compare_s", "score_s", "field_comparisons_per_s"):
        values = [r[key] for r in ok if isinstance(r.get(key), int | float)]
        if values:
            out[key] = statistics.median(values)
    out["runs"] = len(ok)
    return out


def _print_table(args: argparse.Namespace, summary: dict[str, dict[str, Any]]) -> None:
    records = next((r["records"] for r in summary.values() if r.get("ok")), None)
    size = f" records={records}" if records is not None else ""
    print(f"dataset={args.dataset}{size} threshold={args.threshold} runs={args.runs} "
          f"cpus={os.cpu_count()}")
    header = f"{'tool':<14}{'wall s':>9}{'peak MB':>10}{'anon MB':>10}{'candidates':>12}" \
             f"{'precision':>11}{'recall':>9}{'F1':>9}"
    print(header)
    print("-" * len(header))
    for tool, r in summary.items():
        if not r.get("ok"):
            print(f"{tool:<14}{'failed':>9}")
            continue
        cand = r.get("candidate_pairs")
        anon = f"{r['anon_mb']:.0f}" if "anon_mb" in r else "na"
        print(f"{tool:<14}{r['wall_s']:>9.2f}{r['peak_mb']:>10.0f}{anon:>10}"
              f"{(str(cand) if cand is not None else 'na'):>12}"
              f"{r['precision']:>11.4f}{r['recall']:>9.4f}{r['f1']:>9.4f}")
    lk = summary.get("linkage", {})
    if lk.get("ok") and "field_comparisons_per_s" in lk:
        print(f"linkage stages: block {lk['block_s']:.2f}s compare {lk['compare_s']:.2f}s "
              f"score {lk['score_s']:.2f}s; "
              f"{lk['field_comparisons_per_s'] / 1e6:.1f}M field comparisons/s in compare"
              + (f" (medians of {lk['runs']} runs)" if lk.get("runs", 1) > 1 else ""))


def _last_line(summary: dict[str, dict[str, Any]]) -> str:
    def get(tool: str, key: str, fmt: str) -> str:
        r = summary.get(tool, {})
        return format(r[key], fmt) if r.get("ok") and key in r else "na"

    return (f"linkage_s={get('linkage', 'wall_s', '.2f')} "
            f"splink_s={get('splink', 'wall_s', '.2f')} "
            f"recordlinkage_s={get('recordlinkage', 'wall_s', '.2f')} "
            f"linkage_f1={get('linkage', 'f1', '.4f')} splink_f1={get('splink', 'f1', '.4f')} "
            f"linkage_mb={get('linkage', 'peak_mb', '.0f')} "
            f"splink_mb={get('splink', 'peak_mb', '.0f')}")


if __name__ == "__main__":
    sys.exit(main())
