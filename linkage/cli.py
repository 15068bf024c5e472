"""The ``linkage`` command: demo, run, generate, evaluate, explain, serve, index.

Exit codes (a nightly build can rely on them):

    0  the run finished and every quality gate passed
    1  an internal error (a bug: the message says so; ``--log-level debug`` adds the
       traceback)
    2  bad input or configuration: a pipeline file, a source, an argument (the message names
       the file, source, row and field), a failing disk or file system (``OSError``) or
       memory running out; never a traceback
    3  a quality gate of the pipeline's ``[gates]`` failed; every output was still written
    130  interrupted

Whatever is printed has ID numbers and phones masked and control characters escaped.
Logging is the command's business, never the library's: only here are handlers attached
(``--log-level``, ``--log-format json`` with UTC timestamps, ``--quiet``). Progress is a bar
on a terminal and one log line per finished step otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from linkage import __version__
from linkage.errors import LinkageError
from linkage.privacy import mask_digits_in

log = logging.getLogger("linkage")

SAMPLE_PIPELINE = "pipeline.toml"

#: the process exit codes (documented in the module docstring and ``linkage --help``)
EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES_HELP = """exit codes:
  0    finished, every quality gate passed
  1    internal error (a bug; --log-level debug shows the traceback)
  2    bad input or configuration (the message names file, source, row and field)
  3    a quality gate in the pipeline's [gates] failed (outputs are still written)
  130  interrupted"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    root, progress = logging.getLogger("linkage"), logging.getLogger("linkage.progress")
    levels = root.level, progress.level
    handler = _setup_logging(args)
    try:
        code: int = args.handler(args)
    except LinkageError as exc:
        _error(f"linkage: error: {exc}")
        return EXIT_INPUT
    except KeyboardInterrupt:
        _error("linkage: interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        _error("linkage: error: out of memory (no output was written)")
        return EXIT_INPUT
    except OSError as exc:  # a full disk, a permission, a vanished folder
        _error(f"linkage: error: {exc.strerror or type(exc).__name__}"
               f"{': ' + str(exc.filename) if exc.filename else ''} ({_one_line(exc)})")
        return EXIT_INPUT
    except Exception as exc:  # a bug: say so briefly; the traceback goes to the debug log
        log.debug("internal error\n%s", mask_digits_in(traceback.format_exc()))
        _error(f"linkage: internal error: {type(exc).__name__}: {_one_line(exc)} "
               "(this is a bug; rerun with --log-level debug for the traceback)")
        return EXIT_INTERNAL
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        progress.setLevel(levels[1])
    return code


def _error(text: str) -> None:
    """An error for the person or the build log reading stderr: a plain line, or with
    ``--log-format json`` a JSON log record like every other line there."""
    from linkage.privacy import console_safe

    if any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger("linkage").handlers):
        logging.getLogger("linkage.cli").error(text)
    else:
        print(console_safe(text), file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return mask_digits_in(" ".join(str(exc).split()))[:300]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: UTC time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _console_safe(record.getMessage()),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def _setup_logging(args: argparse.Namespace) -> logging.Handler:
    """Attach the command's handler to the ``linkage`` logger (the library attaches none)."""
    if args.log_level is not None:
        level = getattr(logging, args.log_level.upper())
    elif args.quiet:
        level = logging.ERROR
    elif args.verbose:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    if args.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = _ConsoleSafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                      datefmt="%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = _utc
        handler.setFormatter(formatter)
    root = logging.getLogger("linkage")
    root.addHandler(handler)
    root.setLevel(level)
    # Off a terminal there is no bar: one line per finished step instead.
    progress = logging.getLogger("linkage.progress")
    progress.setLevel(logging.INFO if not args.quiet and level <= logging.WARNING
                      and not _bar_wanted(args) else logging.NOTSET)
    return handler


def _utc(seconds: float | None) -> Any:
    import time

    return time.gmtime(seconds)


def _bar_wanted(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _count(text: str) -> int:
    """An argparse type: a whole number of records, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {value}")
    return value


def _positive(text: str) -> int:
    """An argparse type: a whole number, one or more."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be one or more, got {value}")
    return value


def _record_ref(text: str) -> Any:
    from linkage.io.explained import parse_ref

    try:
        return parse_ref(text)
    except LinkageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _ConsoleSafeFormatter(logging.Formatter):
    """Log lines as printed on the console: personal numbers masked, control characters
    escaped (a department name may hold escape codes, a block key a phone number)."""

    def format(self, record: logging.LogRecord) -> str:
        return _console_safe(super().format(record))


def _console_safe(text: str) -> str:
    from linkage.privacy import console_safe

    return console_safe(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linkage",
        description="Link Chinese citizen and enterprise records across departments.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"linkage {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log one line per stage")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print nothing but errors and failed gates (no summary, no bar)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default=None, help="log level of the linkage logger (default: warning)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log lines as text or as one JSON object each (UTC timestamps)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run on the sample data shipped with the package")
    demo.add_argument("--out", type=Path, default=Path("linkage-demo"),
                      help="output directory (default: ./linkage-demo)")
    demo.add_argument("--lang", choices=("zh", "en"), default="zh",
                      help="language of report.html (default: zh)")
    demo.set_defaults(handler=_cmd_demo)

    run = sub.add_parser("run", help="run a pipeline file")
    run.add_argument("pipeline", type=Path, help="pipeline file (TOML)")
    run.add_argument("--out", type=Path, required=True, help="output directory")
    run.add_argument("--previous", type=Path, default=None, metavar="RUN_DIR",
                     help="a previous run's output: entity ids carry over, changes are logged")
    run.add_argument("--no-evaluate", dest="evaluate", action="store_false",
                     help="skip the metrics against the pipeline's ground truth")
    run.add_argument("--memory-limit", default=None, metavar="SIZE",
                     help="memory budget of the run, e.g. 8GB (default: the pipeline's "
                          "[engine] memory_limit, else 60%% of physical memory)")
    run.add_argument("--lang", choices=("zh", "en"), default="zh",
                     help="language of report.html (default: zh)")
    run.add_argument("--engine", choices=("local", "spark"), default=None,
                     help="engine to run on (default: the pipeline file's [engine] kind)")
    run.add_argument("--spark-conf", action="append", default=None, metavar="KEY=VALUE",
                     help="a Spark setting for --engine spark (repeatable)")
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

    compact = sub.add_parser("compact", help="write an incremental run's tables (logs of "
                             "parts on earlier runs' files) as one file each")
    compact.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    compact.set_defaults(handler=_cmd_compact)

    gen = sub.add_parser("generate", help="write synthetic departmental data with ground truth")
    gen.add_argument("--persons", type=_positive, default=1000)
    gen.add_argument("--enterprises", type=_count, default=250)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--config", type=Path, default=None,
                     help="TOML file overriding error rates, coverage and snapshot dates")
    gen.set_defaults(handler=_cmd_generate)

    ev = sub.add_parser("evaluate", help="score a run directory against generated truth")
    ev.add_argument("--truth", type=Path, required=False, help="generator output or truth dir")
    ev.add_argument("--run", type=Path, required=True, help="a run's output directory")
    ev.add_argument("--labels", type=Path, default=None,
                    help="your own truth: labelled pairs or clusters (CSV or .xlsx); prints "
                         "a threshold sweep and writes its chart next to the file")
    ev.set_defaults(handler=_cmd_evaluate)

    ex = sub.add_parser("explain", help="why two records of a saved run were (not) linked")
    ex.add_argument("run", type=Path, help="a run's output directory")
    ex.add_argument("--left", type=_record_ref, required=True, metavar="DEPARTMENT:KEY",
                    help="one record, e.g. household:HJ001 (or a record id)")
    ex.add_argument("--right", type=_record_ref, required=True, metavar="DEPARTMENT:KEY",
                    help="the other record, e.g. tax:NS9")
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON")
    ex.add_argument("--svg", type=Path, default=None, metavar="FILE",
                    help="also write the waterfall chart of the pair as an SVG file")
    ex.set_defaults(handler=_cmd_explain)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        return _run_and_report(Path(folder) / SAMPLE_PIPELINE, args.out, demo=True,
                               quiet=args.quiet, lang=getattr(args, "lang", "zh"))


def _cmd_run(args: argparse.Namespace) -> int:
    if args.engine == "spark" or (args.engine is None and _engine_kind(args.pipeline) == "spark"):
        from linkage.engines.spark.cli import run_on_spark

        return run_on_spark(args.pipeline, args.out, spark_conf=args.spark_conf,
                            previous=args.previous, lang=args.lang, evaluate=args.evaluate)
    if args.incremental:
        from linkage.service.incremental import run_incremental

        if args.previous is None:
            raise LinkageError("--incremental needs --previous RUN_DIR")
        print(_console_safe(run_incremental(args.pipeline, args.previous, args.out)
                            .summary_line()))
        return EXIT_OK
    from linkage.engines.budget import parse_size

    try:
        budget = parse_size(args.memory_limit) if args.memory_limit is not None else None
    except ValueError as exc:
        raise LinkageError(f"--memory-limit: {exc}") from None
    return _run_and_report(args.pipeline, args.out, demo=False, previous=args.previous,
                           quiet=args.quiet, evaluate=args.evaluate, out_of_core=True,
                           memory_limit=budget, lang=args.lang)


def _engine_kind(pipeline_path: Path) -> str:
    from linkage.config import load_pipeline

    return load_pipeline(pipeline_path).engine.kind


def _cmd_serve(args: argparse.Namespace) -> int:
    from linkage.service.serve import serve

    serve(args.run_dir, host=args.host, port=args.port, workers=args.workers, keys=args.keys,
          audit_log=args.audit_log)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from linkage.service.index_write import build_index

    print(f"master index written to {build_index(args.run_dir)}/")
    return 0


def _cmd_compact(args: argparse.Namespace) -> int:
    from linkage.service.compact import compact_run

    done = compact_run(args.run_dir)
    print(f"compacted {args.run_dir}/: " + (", ".join(done) if done else
                                            "nothing to do (every table is one file)"))
    return 0


def _run_and_report(pipeline_path: Path, out: Path, *, demo: bool,
                    previous: Path | None = None, quiet: bool = False,
                    evaluate: bool = True, out_of_core: bool = False,
                    memory_limit: int | None = None, lang: str = "zh") -> int:
    from tqdm import tqdm

    from linkage.io.outputs import check_out_dir, write_outputs
    from linkage.io.summary import run_summary
    from linkage.pipeline import Pipeline
    from linkage.privacy import console_safe

    progress_log = logging.getLogger("linkage.progress")
    pipeline = Pipeline.from_toml(pipeline_path)
    config = pipeline.config
    inputs = [s.path for s in config.sources] + [
        e.model for t in config.entity_types if (e := config.entity(t)) and e.model]
    check_out_dir(out, inputs=inputs)  # before the work, not after it
    earlier = _previous_records(previous) if previous is not None else None
    bars = not quiet and sys.stderr.isatty()
    records = None
    if any(s.delta for s in config.sources):
        # a department's batch of new versions is applied to its records before the run
        from linkage.service.incremental import read_with_deltas

        records = read_with_deltas(config)
        out_of_core = False
    from linkage.service.index_write import write_index  # every run writes its master index

    if out_of_core:
        # the local engine: batches, spill files, entity chunks (linkage.engines.local);
        # it writes the run folder itself while its spill files are still mapped
        from linkage.engines.local import run_local

        result = run_local(config, out, memory_limit=memory_limit, previous=earlier,
                           evaluate=evaluate, progress=bars, lang=lang, beside=write_index)
    else:
        result = pipeline.run(records, previous=earlier, progress=bars, evaluate=evaluate)
        progress_log.info("writing outputs to %s", out)
        with tqdm(total=1, disable=not bars, unit="step", desc="linkage: write",
                  leave=False) as bar:
            written = write_outputs(result, out, lang=lang,
                                    beside=functools.partial(write_index, result))
            bar.update(1)
        progress_log.info("wrote %d files to %s", len(written), out)
    from linkage.master.gates import gates_failed, gates_text

    gates = result.gates
    if not quiet:
        summary = run_summary(result)
        print(console_safe(_format_summary(summary, result, out, demo=demo)))
        if gates:
            print(gates_text(gates))
    failed = gates_failed(gates, out)
    if failed is not None:
        _error(failed)
        return EXIT_GATE
    return EXIT_OK


def _previous_records(run_dir: Path) -> Any:
    """The (source, source_key, entity_id) of a previous run's records (one file, or an
    incremental run's log of parts)."""
    import pyarrow as pa

    from linkage.io.run_tables import has_run_table, read_run_table

    if not has_run_table(run_dir, "records"):
        raise LinkageError(f"--previous {run_dir}: no records.parquet there (is it a run's "
                           f"output directory?)")
    wanted = ["source", "source_key", "entity_type", "entity_id"]
    try:
        return read_run_table(run_dir, "records", columns=wanted)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise LinkageError(f"--previous {run_dir}: cannot read records.parquet "
                           f"({_one_line(exc)})") from None


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
    for etype in ("person", "enterprise", *sorted(set(metrics) - {"person", "enterprise"})):
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
                *("  " + line for line in str(explanation).splitlines())]
    return []


def _cmd_generate(args: argparse.Namespace) -> int:
    from linkage.synth import generate
    from linkage.synth.config import load_synth_config

    config = load_synth_config(args.config) if args.config is not None else None
    manifest = generate(persons=args.persons, enterprises=args.enterprises, seed=args.seed,
                        out=args.out, config=config)
    print(f"wrote synthetic data to {args.out}/ ({manifest.records} records)")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.labels is not None:
        return _evaluate_labels(args)
    if args.truth is None:
        raise LinkageError("evaluate needs --truth (generated truth) or --labels (your own)")
    import pyarrow as pa

    from linkage.evaluate import evaluate_run

    truth = args.truth / "truth" if (args.truth / "truth").is_dir() else args.truth
    try:
        metrics = evaluate_run(truth, args.run)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise LinkageError(f"cannot evaluate {args.run} against {truth}: "
                           f"{type(exc).__name__}: {_one_line(exc)} (a truth folder holds "
                           "the generator's records.parquet and entities_<type>.parquet)"
                           ) from None
    print(json.dumps(metrics, ensure_ascii=False, sort_keys=True, default=str))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from linkage.io.explained import explain_saved_run

    explanation = explain_saved_run(args.run, args.left, args.right)
    if args.svg is not None:
        from linkage.io.outputs import write_text
        from linkage.match.explain import waterfall_svg

        write_text(waterfall_svg(explanation), args.svg)
    if args.json:
        print(json.dumps(explanation.to_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print(explanation)
    return EXIT_OK


def _evaluate_labels(args: argparse.Namespace) -> int:
    from linkage.evaluate import evaluate_labels
    from linkage.io.outputs import write_text
    from linkage.match.labels import sweep_svg, sweep_table

    result = evaluate_labels(args.run, args.labels)
    print(sweep_table(result["sweep"]))
    chart = args.labels.with_name(args.labels.stem + "_sweep.svg")
    write_text(sweep_svg(result["sweep"]), chart)
    summary = {k: v for k, v in result.items() if k != "sweep"}
    print(json.dumps({**summary, "chart": str(chart)}, ensure_ascii=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
