"""The ``linkage`` command: demo, run, generate, evaluate, serve, index.

Errors the library raises on purpose (:class:`~linkage.errors.LinkageError`) are printed
as a short message and exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from linkage.errors import LinkageError

log = logging.getLogger("linkage")

SAMPLE_PIPELINE = "pipeline.toml"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except LinkageError as exc:
        print(f"linkage: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("linkage: interrupted", file=sys.stderr)
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage",
        description="Link Chinese citizen and enterprise records across departments.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log one line per stage")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run on the sample data shipped with the package")
    demo.add_argument("--out", type=Path, default=Path("linkage-demo"),
                      help="output directory (default: ./linkage-demo)")
    demo.set_defaults(handler=_cmd_demo)

    run = sub.add_parser("run", help="run a pipeline file")
    run.add_argument("pipeline", type=Path, help="pipeline file (TOML)")
    run.add_argument("--out", type=Path, required=True, help="output directory")
    run.add_argument("--previous", type=Path, default=None, metavar="RUN_DIR",
                     help="a previous run's output: entity ids carry over, changes are logged")
    run.add_argument("--incremental", action="store_true",
                     help="with --previous: link only new and changed records against the "
                          "previous run's master index")
    run.set_defaults(handler=_cmd_run)

    serve = sub.add_parser("serve", help="serve a run's master index over HTTP")
    serve.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other needs API keys)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--keys", type=Path, default=None, metavar="FILE",
                       help="API key file (TOML); or set LINKAGE_API_KEY")
    serve.add_argument("--audit-log", type=Path, default=Path("linkage-audit.jsonl"))
    serve.set_defaults(handler=_cmd_serve)

    index = sub.add_parser("index", help="(re)build a run folder's master index")
    index.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    index.set_defaults(handler=_cmd_index)

    gen = sub.add_parser("generate", help="write synthetic departmental data with ground truth")
    gen.add_argument("--persons", type=int, default=1000)
    gen.add_argument("--enterprises", type=int, default=250)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--config", type=Path, default=None,
                     help="TOML file overriding error rates, coverage and snapshot dates")
    gen.set_defaults(handler=_cmd_generate)

    ev = sub.add_parser("evaluate", help="score a run directory against generated truth")
    ev.add_argument("--truth", type=Path, required=True, help="generator output or truth dir")
    ev.add_argument("--run", type=Path, required=True, help="a run's output directory")
    ev.set_defaults(handler=_cmd_evaluate)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        return _run_and_report(Path(folder) / SAMPLE_PIPELINE, args.out, demo=True)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.incremental:
        from linkage.service.incremental import run_incremental

        if args.previous is None:
            raise LinkageError("--incremental needs --previous RUN_DIR")
        print(run_incremental(args.pipeline, args.previous, args.out).summary_line())
        return 0
    return _run_and_report(args.pipeline, args.out, demo=False, previous=args.previous)


def _cmd_serve(args: argparse.Namespace) -> int:
    from linkage.service.serve import serve

    serve(args.run_dir, host=args.host, port=args.port, workers=args.workers, keys=args.keys,
          audit_log=args.audit_log)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from linkage.service.index import build_index

    print(f"master index written to {build_index(args.run_dir)}/")
    return 0


def _run_and_report(pipeline_path: Path, out: Path, *, demo: bool,
                    previous: Path | None = None) -> int:
    from linkage.io.outputs import write_outputs
    from linkage.io.summary import run_summary
    from linkage.pipeline import Pipeline

    pipeline = Pipeline.from_toml(pipeline_path)
    earlier = _previous_records(previous) if previous is not None else None
    records = None
    if any(s.delta for s in pipeline.config.sources):
        from linkage.service.incremental import read_with_deltas

        records = read_with_deltas(pipeline.config)
    result = pipeline.run(records, previous=earlier, progress=sys.stderr.isatty())
    write_outputs(result, out)
    from linkage.service.index import write_index

    write_index(result, out)
    summary = run_summary(result)
    print(_format_summary(summary, result, out, demo=demo))
    return 0


def _previous_records(run_dir: Path) -> Any:
    """The (source, source_key, entity_id) of a previous run's records.parquet."""
    import pyarrow.parquet as pq

    path = run_dir / "records.parquet"
    if not path.is_file():
        raise LinkageError(f"--previous {run_dir}: no records.parquet there (is it a run's "
                           f"output directory?)")
    wanted = ["source", "source_key", "entity_type", "entity_id"]
    try:
        return pq.read_table(path, columns=wanted)
    except (OSError, ValueError, KeyError) as exc:
        raise LinkageError(f"--previous {run_dir}: cannot read records.parquet ({exc})") from None


def _format_summary(summary: dict[str, Any], result: Any, out: Path, *, demo: bool) -> str:
    lines = [f"linkage {'demo' if demo else 'run'}: {summary['name']}"]
    lines.append("records read per department:")
    for dept, counts in summary["inputs"].items():
        parts = ", ".join(f"{n} {t}" for t, n in counts.items())
        lines.append(f"  {dept:<18} {parts}")
    for etype, o in summary["outputs"].items():
        if etype == "records":
            continue
        lines.append(f"{etype}: {o['records']} records, {o['candidate_pairs']} candidate pairs, "
                     f"{o['links']} links, {o['entities']} entities")
    lines.append(f"records carrying a flag: {summary['records_flagged']}")
    kinds = summary["conflicts_by_kind"]
    lines.append("conflicts by kind: " + (", ".join(f"{k} {n}" for k, n in kinds.items())
                                          or "none"))
    lines.extend(_metrics_lines(summary.get("metrics")))
    lines.extend(_quality_lines(result))
    lines.extend(_explained_pair(result))
    lines.append(f"outputs written to {out}/")
    return "\n".join(lines)


def _metrics_lines(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return []
    lines = ["against the ground truth:"]
    for etype in ("person", "enterprise"):
        m = metrics.get(etype) if isinstance(metrics.get(etype), dict) else None
        pw = (m or {}).get("pairwise")
        if pw:
            lines.append(f"  {etype:<10} pairwise precision {pw['precision']:.4f} "
                         f"recall {pw['recall']:.4f} F1 {pw['f1']:.4f}")
    return lines if len(lines) > 1 else []


def _quality_lines(result: Any) -> list[str]:
    """The department scorecard: the four quality dimensions, each department overall."""
    import pyarrow.compute as pc

    quality = result.quality
    if quality.num_rows == 0 or "scope" not in quality.column_names:
        return []
    rows = quality.filter(pc.equal(quality.column("scope"), "source")).sort_by(
        [("entity_type", "ascending"), ("source", "ascending")]).to_pylist()
    dims = ("correctness", "timeliness", "completeness", "consistency", "overall")
    lines = ["department scorecard (share of values, 0-100%):",
             f"  {'type':<10} {'department':<18} " + " ".join(f"{d:>12}" for d in dims)]

    def pct(v: float | None) -> str:
        return f"{'n/a':>12}" if v is None else f"{v:>12.1%}"

    for row in rows:
        lines.append(f"  {row['entity_type']:<10} {row['source']:<18} "
                     + " ".join(pct(row.get(d)) for d in dims))
    return lines


def _explained_pair(result: Any) -> list[str]:
    """One link that was not an exact duplicate, explained field by field."""
    import pyarrow as pa

    from linkage.master.cluster import link_mask

    for etype, e in result.entities.items():
        section = result.config.entity(etype)
        links = e.scored.filter(pa.array(link_mask(e.scored, section.scoring.link_threshold)))
        if links.num_rows == 0:
            continue
        # The least certain link is the most instructive one.
        row = links.sort_by("match_weight").slice(0, 1).to_pylist()[0]
        explanation = result.explain(row["id_l"], row["id_r"])
        return [f"one explained {etype} link (records {row['id_l']} and {row['id_r']}):",
                *("  " + line for line in explanation.text().splitlines())]
    return []


def _cmd_generate(args: argparse.Namespace) -> int:
    from linkage.synth import generate
    from linkage.synth.config import load_synth_config

    config = load_synth_config(args.config) if args.config is not None else None
    manifest = generate(persons=args.persons, enterprises=args.enterprises, seed=args.seed,
                        out=args.out, config=config)
    print(f"wrote synthetic data to {args.out}/ ({manifest.records} records)")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from linkage.evaluate import evaluate_run

    truth = args.truth / "truth" if (args.truth / "truth").is_dir() else args.truth
    metrics = evaluate_run(truth, args.run)
    print(json.dumps(metrics, ensure_ascii=False, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
