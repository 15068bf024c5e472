"""Benchmark the Spark engine against the embedded one on a generated set.

Generates ``--persons`` persons (the generator's departments, seeded), then runs the
same pipeline file once with the embedded engine and once on Spark (``--master``,
default ``local[2]``), each in its own process so their memory is their own, and
compares the record-to-entity partitions (same_entities=1 when every record has the
same entity id in both).

    python benchmarks/bench_spark.py --persons 1000000

Each engine writes its whole run folder (``write`` in its stage timings: Parquet, models,
report.html, the review queue, the worklists, run.json). Prints each engine's stage
timings, then the contract line ``spark_s=<wall> local_s=<wall>
same_entities=<0|1> driver_peak_mb=<peak RSS of the Spark driver's Python process>``.
The Spark wall time includes starting the session; in local mode the JVM holds the
driver and the executors (``--driver-memory`` caps it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--shuffle-partitions", type=int, default=16)
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the generated data and the runs (default: a temp dir)")
    parser.add_argument("--engine", choices=("local", "spark"), default=None,
                        help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--pipeline", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine is not None:
        return _child(args)
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        work = args.work or Path(tmp)
        return _parent(args, work)


def _parent(args: argparse.Namespace, work: Path) -> int:
    from linkage.synth.generate import generate

    data = work / f"synth_{args.persons}"
    pipeline = data / "persons.toml"
    if not pipeline.is_file():
        t0 = time.perf_counter()
        generate(persons=args.persons, enterprises=0, seed=args.seed, out=data)
        print(f"generated {args.persons:,} persons in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    results = {}
    for engine in ("local", "spark"):
        out = work / f"run_{engine}"
        cmd = [sys.executable, __file__, "--engine", engine, "--pipeline", str(pipeline),
               "--out", str(out), "--master", args.master,
               "--driver-memory", args.driver_memory,
               "--shuffle-partitions", str(args.shuffle_partitions)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            return 1
        results[engine] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{engine}: {results[engine]['wall_s']:.1f} s, stages (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in results[engine]["timings"].items()),
              file=sys.stderr)
    same = _partition(work / "run_local" / "records.parquet") == \
        _partition(work / "run_spark" / "records")
    print(f"spark_s={results['spark']['wall_s']:.1f} local_s={results['local']['wall_s']:.1f} "
          f"same_entities={int(same)} driver_peak_mb={results['spark']['peak_mb']:.0f}")
    return 0


def _partition(path: Path) -> set[tuple[str, str, str]]:
    table = pq.read_table(path, columns=["source", "source_key", "entity_id"])
    return set(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def _child(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.engine == "local":
        from linkage.io.outputs import write_outputs
        from linkage.pipeline import Pipeline

        result = Pipeline.from_toml(args.pipeline).run()
        with_time = time.perf_counter()
        write_outputs(result, args.out)
        timings = {**result.timings, "write": round(time.perf_counter() - with_time, 2)}
    else:
        from linkage.config import load_pipeline
        from linkage.engines.spark import run_spark, spark_session, write_spark_outputs

        spark = spark_session({"spark.driver.memory": args.driver_memory,
                               "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                               "spark.ui.enabled": "false",
                               "spark.driver.bindAddress": "127.0.0.1",
                               "spark.driver.host": "127.0.0.1",
                               "spark.local.dir": str(args.out.parent / "spark-tmp"),
                               "spark.default.parallelism": str(args.shuffle_partitions)},
                              master=args.master, app_name="bench_spark")
        spark.sparkContext.setLogLevel("ERROR")
        result = run_spark(load_pipeline(args.pipeline), spark=spark)
        with_time = time.perf_counter()
        write_spark_outputs(result, args.out)
        timings = {**result.timings, "write": round(time.perf_counter() - with_time, 2)}
        spark.stop()
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_mb": peak, "timings": timings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
