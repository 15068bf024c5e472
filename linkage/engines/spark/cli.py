"""``linkage run --engine spark``: load the pipeline, run it on Spark, write the run
folder and print the summary lines the embedded engine prints."""

from __future__ import annotations

import logging
from pathlib import Path

from linkage.config import load_pipeline
from linkage.engines.spark.session import parse_conf, spark_session
from linkage.errors import LinkageError

log = logging.getLogger(__name__)

#: ``linkage run``'s exit code when a gate failed (``linkage.cli`` documents its codes)
EXIT_GATE = 3


def run_on_spark(pipeline_path: Path, out: Path, *, spark_conf: list[str] | None = None,
                 previous: Path | None = None, lang: str = "zh",
                 evaluate: bool = True) -> int:
    """Run ``pipeline_path`` on Spark (the pipeline's ``[engine] spark_conf`` overridden by
    ``--spark-conf``); a session already configured by spark-submit is reused. Returns the
    exit code: 3 when a gate of the pipeline's ``[gates]`` failed (the outputs are
    written), as ``linkage run`` does."""
    from linkage.engines.spark.outputs import write_spark_outputs
    from linkage.engines.spark.run import run_spark

    if previous is not None:
        raise LinkageError("--previous is not supported with --engine spark yet")
    config = load_pipeline(pipeline_path)
    conf = {**dict(config.engine.spark_conf), **parse_conf(spark_conf)}
    spark = spark_session(conf, master="local[*]")
    try:
        result = run_spark(config, spark=spark, evaluate=evaluate)
        written = write_spark_outputs(result, out, lang=lang)
    except LinkageError:
        raise
    except Exception as exc:  # a failure inside a Spark task arrives wrapped by py4j
        raise LinkageError(f"the Spark run failed: {_last_line(str(exc))}") from None
    summary = _summary_lines(written["run"])
    print(summary)
    return _gates(written["run"], out)


def _gates(run_json: Path, out: Path) -> int:
    """Print the gates run.json holds; the exit code (3 when one failed)."""
    import json
    import sys

    from linkage.master.gates import GateResult, gates_failed, gates_text

    gates = [GateResult(g["gate"], g["value"], g["limit"], g["passed"]) for g in
             json.loads(run_json.read_text(encoding="utf-8")).get("gates") or []]
    if gates:
        print(gates_text(gates))
    failed = gates_failed(gates, out)
    if failed is not None:
        print(failed, file=sys.stderr)
        return EXIT_GATE
    return 0


def _last_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    errors = [x for x in lines if "Error" in x or "error" in x]
    return (errors or lines or ["unknown error"])[-1][:500]


def _summary_lines(run_json: Path) -> str:
    import json

    summary = json.loads(run_json.read_text(encoding="utf-8"))
    lines = [f"linkage run (spark): {summary['name']}"]
    for etype, o in summary["outputs"].items():
        if isinstance(o, dict):
            lines.append(f"  {etype}: {o['records']:,} records -> {o['candidate_pairs']:,} "
                         f"candidate pairs -> {o['links']:,} links -> {o['entities']:,} "
                         f"entities, {o['conflicts']:,} conflicts")
    timings = summary["timings_s"]
    lines.append("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    lines.append(f"  outputs: {run_json.parent}")
    return "\n".join(lines)
