"""``report.html``: one self-contained page per run that opens offline.

Inline CSS and SVG only: no script, no font, no request to the network. Every value that
comes from the data goes through :func:`html.escape` (a name ``<script>`` shows as text),
and ID numbers, phones and credit codes in the conflict tables are masked with
:func:`linkage.privacy.mask`.

Sections: run summary, blocking per entity type (table + bars), match-weight histogram,
explained example pairs (waterfalls from :mod:`linkage.match.explain`), cluster sizes and
cluster quality, golden-record rules, the department scorecard as heat maps, and the top
conflicts. Only aggregates and a bounded number of rows are rendered, so the page stays
small and fast at a million records.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from html import escape as _html_escape
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from linkage.io.labels import kind_label, severity_label, translate
from linkage.io.report_counts import (
    SEVERITY_ORDER,
    TOP_CONFLICTS,
    ReportCounts,
    ranked_conflicts,
    result_counts,
)
from linkage.io.report_examples import MASKED_FIELDS, Example, example_explanations
from linkage.io.report_examples import show as _show
from linkage.io.report_figures import (
    ClusterFigures,
    ConflictFigures,
    GoldenFigures,
    ReportFigures,
    cluster_figures,
    conflict_figures,
    counted_figures,
    golden_figures,
    legal_rep_figures,
    threshold_weight,
    weight_histogram,
)
from linkage.io.summary import run_summary
from linkage.match.explain import WeightHistogram, histogram_counts_svg
from linkage.privacy import mask_personal

if TYPE_CHECKING:
    from linkage.pipeline import PipelineResult

__all__ = ["MASKED_FIELDS", "TOP_CONFLICTS", "ReportFigures", "ranked_conflicts", "render_figures",
           "render_html", "render_report", "report_figures", "result_figures"]

#: The language the page being rendered speaks (set by :func:`render_html`).
_LANG: ContextVar[str] = ContextVar("report_lang", default="zh")


def escape(text: str) -> str:
    """HTML-escaped, with every ID number and mobile number masked by its content: a
    department may name its ID column ``sfzh``, key its rows by ID number or type a phone
    into an address, and the report must show none of them."""
    return _html_escape(mask_personal(text))

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei",
sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{border-bottom:3px solid #1565c0;padding-bottom:.2em}
h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f6fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.heat td.cell{text-align:center;min-width:4.5em}
.sev-critical{color:#fff;background:#b71c1c}.sev-high{background:#ef9a9a}
.sev-medium{background:#ffe082}.sev-low{background:#e0f2f1}.sev-info{background:#eceff1}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:12px}
.note{color:#666;font-size:12px}
nav a{margin-right:1em}
"""


def render_report(result: PipelineResult, *, lang: str = "zh") -> str:
    """The report of a pipeline run (what ``linkage run`` writes as ``report.html``), in
    Chinese (``lang="zh"``, the default: the departments' staff read it) or English."""
    return render_figures(result_figures(result), lang=lang)


def result_figures(result: PipelineResult, counts: ReportCounts | None = None,
                   explanations: Sequence[Any] | None = None) -> ReportFigures:
    """The report's figures of a pipeline run: from its tables, or from ``counts`` kept
    and updated by an incremental run (:mod:`linkage.io.report_counts`; its
    ``explanations`` are chosen among the night's pairs), which then reads no whole
    table of the result."""
    thresholds: dict[str, float] = {}
    for etype in result.entities:
        section = result.config.entity(etype)
        if section is not None:
            thresholds[etype] = section.scoring.link_threshold
    if explanations is None:
        explanations = []
        for etype, e in result.entities.items():
            explanations.extend(example_explanations(result, etype, e.scored,
                                                     thresholds.get(etype)))
    if counts is None:
        counts = result_counts(result)
    return counted_figures(
        counts, summary=run_summary(result, counts), thresholds=thresholds,
        quality=result.quality,
        blocking={t: e.blocking.report for t, e in result.entities.items()},
        explanations=explanations,
        legal_reps=getattr(result, "legal_reps", None),
        changes=getattr(result, "entity_changes", None),
        parameters={t: e.model.parameters() for t, e in result.entities.items()},
        diagnostics={t: getattr(e.model, "diagnostics_", []) for t, e in
                     result.entities.items()},
    )


def render_html(
    *,
    summary: Mapping[str, Any],
    records: pa.Table,
    scored: Mapping[str, pa.Table],
    clusters: pa.Table,
    golden: Mapping[str, pa.Table],
    conflicts: pa.Table,
    quality: pa.Table,
    blocking: Mapping[str, Any],
    explanations: Sequence[Any] = (),
    thresholds: Mapping[str, float] | None = None,
    legal_reps: pa.Table | None = None,
    changes: pa.Table | None = None,
    parameters: Mapping[str, pa.Table] | None = None,
    diagnostics: Mapping[str, Sequence[Any]] | None = None,
    lang: str = "zh",
) -> str:
    """The whole page as one string. ``legal_reps`` (LegalRepEdges), ``changes`` (the
    entity change log since the previous run) and ``parameters`` (each entity type's m/u
    table) add their sections when given."""
    figures = report_figures(
        summary=summary, records=records, scored=scored, clusters=clusters, golden=golden,
        conflicts=conflicts, quality=quality, blocking=blocking, explanations=explanations,
        thresholds=thresholds, legal_reps=legal_reps, changes=changes, parameters=parameters,
        diagnostics=diagnostics)
    return render_figures(figures, lang=lang)


def report_figures(
    *,
    summary: Mapping[str, Any],
    records: pa.Table,
    scored: Mapping[str, pa.Table],
    clusters: pa.Table,
    golden: Mapping[str, pa.Table],
    conflicts: pa.Table,
    quality: pa.Table,
    blocking: Mapping[str, Any],
    explanations: Sequence[Any] = (),
    thresholds: Mapping[str, float] | None = None,
    legal_reps: pa.Table | None = None,
    changes: pa.Table | None = None,
    parameters: Mapping[str, pa.Table] | None = None,
    diagnostics: Mapping[str, Sequence[Any]] | None = None,
) -> ReportFigures:
    """The report's figures from a run's whole tables."""
    thresholds = thresholds or {}
    return ReportFigures(
        summary=summary, n_records=records.num_rows, blocking=blocking,
        histograms={t: weight_histogram(table, thresholds.get(t)) for t, table in
                    scored.items()},
        thresholds=thresholds, explanations=explanations,
        clusters=cluster_figures(clusters), golden=golden_figures(golden), quality=quality,
        conflicts=conflict_figures(conflicts),
        legal_reps=None if legal_reps is None else legal_rep_figures(legal_reps),
        changes=changes, parameters=parameters, diagnostics=diagnostics)


def render_figures(figures: ReportFigures, *, lang: str = "zh") -> str:
    """The whole page as one string, from the report's figures."""
    token = _LANG.set(lang)
    try:
        return _page(figures)
    finally:
        _LANG.reset(token)


def _page(f: ReportFigures) -> str:
    summary = f.summary
    title = f"linkage report: {summary.get('name', 'run')}"
    sections = [
        ("summary", "Run summary", _summary_section(summary, f.n_records)),
        ("blocking", "Blocking", _blocking_section(f.blocking)),
        ("weights", "Match weights", _weights_section(f.histograms, f.thresholds)),
        ("model", "Model: m and u per comparison level", _model_section(f.parameters or {})
         + _diagnostics_section(f.diagnostics or {})),
        ("examples", "Explained example pairs", _examples_section(f.explanations)),
        ("clusters", "Clusters", _clusters_section(f.clusters)),
        ("golden", "Golden records", _golden_section(f.golden)),
        ("legal_reps", "Legal representatives", _legal_reps_section(f.legal_reps)),
        ("changes", "Entity changes since the previous run", _changes_section(f.changes)),
        ("quality", "Department scorecard", _quality_section(f.quality)),
        ("conflicts", "Top conflicts", _conflicts_section(f.conflicts)),
    ]
    nav = "".join(f'<a href="#{key}">{escape(_t(label))}</a>' for key, label, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(_t(label))}</h2>{html}</section>'
                   for key, label, html in sections)
    html_lang = "zh-CN" if _LANG.get() == "zh" else "en"
    note = _t("Self-contained page: no scripts, no external resources. "
              "ID numbers, phones and registration codes are masked.")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><nav>{nav}</nav>{body}"
        f'<p class="note">{escape(note)}</p>'
        "</body></html>\n"
    )


# --- figures from whole tables ---------------------------------------------------------------


# --- sections --------------------------------------------------------------------------------


def _summary_section(summary: Mapping[str, Any], n_records: int) -> str:
    rows: list[tuple[str, str]] = [("records", f"{n_records:,}")]
    for key in ("name", "records_flagged"):
        if key in summary:
            rows.append((key, _fmt(summary[key])))
    parts = [_kv_table(rows)]
    inputs = summary.get("inputs")
    if isinstance(inputs, Mapping) and inputs:
        etypes = sorted({t for v in inputs.values() if isinstance(v, Mapping) for t in v})
        body = [[str(src), *[_fmt(v.get(t, "")) for t in etypes]]
                for src, v in sorted(inputs.items()) if isinstance(v, Mapping)]
        parts.append(f"<h3>{escape(_t('Input records per department'))}</h3>"
                     + _table(["department", *etypes], body, numeric_from=1))
    outputs = summary.get("outputs")
    if isinstance(outputs, Mapping):
        per_type = {k: v for k, v in outputs.items() if isinstance(v, Mapping)}
        if per_type:
            keys = sorted({k for v in per_type.values() for k in v})
            body = [[t, *[_fmt(v.get(k, "")) for k in keys]] for t, v in sorted(per_type.items())]
            parts.append(f"<h3>{escape(_t('Outputs per entity type'))}</h3>"
                         + _table(["entity type", *keys], body, numeric_from=1))
    kinds = summary.get("conflicts_by_kind")
    if isinstance(kinds, Mapping) and kinds:
        # a value written in another format is nothing to correct: not in the headline
        shown = [(kind_label(str(k), _LANG.get()), float(v)) for k, v in kinds.items()
                 if k not in ("format_only", "vocabulary")]
        if shown:
            head = _t("Conflicts by kind (format-only differences left out)")  # and words
            parts.append(f"<h3>{escape(head)}</h3>" + _bars_svg(shown))
    timings = summary.get("timings_s")
    if isinstance(timings, Mapping) and timings:
        parts.append(f"<h3>{escape(_t('Stage timings (seconds)'))}</h3>"
                     + _bars_svg([(str(k), float(v)) for k, v in timings.items()
                                  if isinstance(v, int | float)], fmt="{:.2f}"))
    metrics = summary.get("metrics")
    if metrics:
        parts.append(f"<h3>{escape(_t('Evaluation against ground truth'))}</h3>"
                     + _metrics_html(metrics))
    return "".join(parts)


def _metrics_html(metrics: Any) -> str:
    """Tables for the evaluation figures that have a known shape; JSON for the rest."""
    if not isinstance(metrics, Mapping):
        return f"<pre>{escape(_fmt(metrics))}</pre>"
    parts: list[str] = []
    linkage_rows: list[list[str]] = []
    golden_rows: list[list[str]] = []
    for etype, m in sorted(metrics.items()):
        if not isinstance(m, Mapping):
            continue
        for kind in ("pairwise", "bcubed"):
            figures = m.get(kind)
            if isinstance(figures, Mapping):
                linkage_rows.append([str(etype), kind, *(_fmt(figures.get(k))
                                                         for k in ("precision", "recall", "f1"))])
        golden = m.get("golden")
        if isinstance(golden, Mapping):
            for field, g in golden.items():
                if isinstance(g, Mapping):
                    golden_rows.append([str(etype), str(field), _fmt(g.get("accuracy")),
                                        _fmt(g.get("entities"))])
    if linkage_rows:
        parts.append(_table(["entity type", "measure", "precision", "recall", "F1"],
                            linkage_rows, numeric_from=2))
    if golden_rows:
        parts.append('<p class="note">golden value equals the true current value</p>'
                     + _table(["entity type", "field", "accuracy", "entities"], golden_rows,
                              numeric_from=2))
    conflicts = metrics.get("conflicts")
    by_kind = conflicts.get("by_kind") if isinstance(conflicts, Mapping) else None
    if isinstance(by_kind, Mapping) and by_kind:
        rows = [[str(k), _fmt(v.get("errors")), _fmt(v.get("detected")), _fmt(v.get("recall"))]
                for k, v in sorted(by_kind.items()) if isinstance(v, Mapping)]
        parts.append('<p class="note">injected errors listed in a conflict on their field</p>'
                     + _table(["error kind", "injected", "listed", "recall"], rows,
                              numeric_from=1))
    if not parts:
        parts.append("<pre>" + escape(json.dumps(metrics, ensure_ascii=False, indent=1,
                                                 default=str)) + "</pre>")
    return "".join(parts)


def _blocking_section(blocking: Mapping[str, Any]) -> str:
    if not blocking:
        return _none("no blocking report")
    parts: list[str] = []
    for etype, rep in sorted(blocking.items()):
        parts.append(f"<h3>{escape(str(etype))}</h3>")
        if not isinstance(rep, Mapping):
            parts.append(f"<p>{escape(_fmt(rep))}</p>")
            continue
        scalars = [(str(k), _fmt(v)) for k, v in rep.items() if _is_scalar(v)]
        parts.append(_kv_table(scalars))
        passes = rep.get("passes")
        if isinstance(passes, Sequence) and passes and all(isinstance(p, Mapping) for p in passes):
            keys: list[str] = []
            for p in passes:
                keys.extend(k for k in p if k not in keys)
            body = [[_fmt(p.get(k, "")) for k in keys] for p in passes]
            parts.append(_table(keys, body))
            count_key = next((k for k in ("new_pairs", "pairs", "candidate_pairs")
                              if all(isinstance(p.get(k), int | float) for p in passes)), None)
            if count_key:
                parts.append(f'<p class="note">{escape(count_key)} per pass</p>' + _bars_svg(
                    [(str(p.get("name", i)), float(p[count_key])) for i, p in enumerate(passes)]))
        for w in rep.get("warnings", ()) or ():
            parts.append(f'<p class="note">warning: {escape(str(w))}</p>')
    return "".join(parts)


def _weights_section(histograms: Mapping[str, tuple[int, WeightHistogram | None]],
                     thresholds: Mapping[str, float]) -> str:
    if not histograms:
        return _none("no scored pairs")
    parts: list[str] = []
    for etype, (n_pairs, drawn) in sorted(histograms.items()):
        parts.append(f"<h3>{escape(etype)}: {n_pairs:,} scored pairs</h3>")
        if drawn is None:
            parts.append(_none("no scored pairs"))
            continue
        parts.append(histogram_counts_svg(drawn, threshold_weight=threshold_weight(
            thresholds.get(etype))))
    return "".join(parts)


def _model_section(parameters: Mapping[str, pa.Table]) -> str:
    """The fitted m/u table: how much each level of each comparison counts for a match."""
    if not parameters:
        return _none("no fitted model")
    parts: list[str] = []
    for etype, table in sorted(parameters.items()):
        parts.append(f"<h3>{escape(etype)}</h3>")
        rows = [(r["comparison"], r["level"], r["description"], f"{r['m']:.4g}",
                 f"{r['u']:.4g}", f"{r['weight']:+.2f}") for r in table.to_pylist()]
        parts.append(_table(("comparison", "level", "description", "m", "u",
                             "weight (log2 m/u)"), rows, numeric_from=3))
    return "".join(parts)


def _diagnostics_section(diagnostics: Mapping[str, Sequence[Any]]) -> str:
    """What the scoring fit found wrong (see :mod:`linkage.match.fit`), if anything."""
    rows = [(etype, d.severity, d.kind, d.message) for etype, found in
            sorted(diagnostics.items()) for d in found]
    if not rows:
        return ""
    return ("<h3>Fit diagnostics</h3>"
            + _table(("entity type", "severity", "kind", "finding"), rows, numeric_from=4))


def _examples_section(explanations: Sequence[Any]) -> str:
    if not explanations:
        return _none("no example pairs")
    parts: list[str] = []
    for item in explanations:
        text = item.text() if callable(getattr(item, "text", None)) else str(item)
        parts.append(f"<pre>{escape(text)}</pre>")
        svg = _waterfall(item)
        if svg:
            parts.append(svg)
    return "".join(parts)


def _clusters_section(clusters: Mapping[str, ClusterFigures]) -> str:
    if not clusters:
        return _none("no clusters")
    parts: list[str] = []
    for etype, figures in sorted(clusters.items()):
        parts.append(f"<h3>{escape(etype)}</h3>" + _kv_table(figures.rows)
                     + '<p class="note">entities per cluster size</p>'
                     + _bars_svg(figures.bars))
    return "".join(parts)


def _golden_section(golden: Mapping[str, GoldenFigures]) -> str:
    if not golden:
        return _none("no golden records")
    parts: list[str] = []
    for etype, figures in sorted(golden.items()):
        counts = figures.counts
        rules: list[str] = []
        for f in counts:
            rules.extend(r for r in counts[f] if r not in rules)
        body = [[f, *[_fmt(counts[f].get(r, 0)) for r in rules]] for f in counts]
        parts.append(f"<h3>{escape(etype)}: {figures.rows:,} golden records</h3>"
                     '<p class="note">which survivorship rule chose each value</p>'
                     + _table(["field", *rules], body, numeric_from=1))
    return "".join(parts)


def _legal_reps_section(edges: tuple[Sequence[tuple[str, int]], pa.Table] | None) -> str:
    if edges is None:
        return _none("not resolved in this run")
    counts, sample_rows = edges
    if not counts:
        return _none("no enterprise's legal representative was resolved to a person")
    parts = [_table(["method", "edges"], [[method, _fmt(n)] for method, n in counts],
                    numeric_from=1)]
    sample = sample_rows.to_pylist()
    parts.append(_table(["enterprise", "person", "method", "confidence", "name", "ID"], [
        [str(r["enterprise_id"]), str(r["person_id"]), str(r["method"]), _fmt(r["confidence"]),
         _show(r.get("legal_rep_name"), False), _show(r.get("legal_rep_id"), True)]
        for r in sample]))
    return "".join(parts)


def _changes_section(changes: pa.Table | None) -> str:
    if changes is None:
        return _none("no previous run given")
    if changes.num_rows == 0:
        return _none("no entity was merged, split, created or retired")
    counts = sorted(pc.value_counts(changes["change"]).to_pylist(),
                    key=lambda r: str(r["values"]))
    parts = [_table(["change", "rows"], [[str(r["values"]), _fmt(r["counts"])] for r in counts],
                    numeric_from=1)]
    interesting = changes.filter(pc.is_in(changes["change"], value_set=pa.array(["merge",
                                                                                  "split"])))
    rows = [[str(r["change"]), ", ".join(r["old_ids"] or []), ", ".join(r["new_ids"] or []),
             _fmt(r["n_records"])] for r in interesting.slice(0, 30).to_pylist()]
    if rows:
        parts.append(_table(["change", "old ids", "new ids", "records"], rows, numeric_from=3))
    return "".join(parts)


def _quality_section(quality: pa.Table) -> str:
    if quality.num_rows == 0:
        return _none("no quality figures")
    dims = [d for d in ("overall", "correctness", "timeliness", "completeness", "consistency",
                        "validity") if d in quality.column_names]
    parts: list[str] = []
    rows = quality.to_pylist()
    for etype in sorted({str(r["entity_type"]) for r in rows}):
        mine = [r for r in rows if str(r["entity_type"]) == etype]
        sources = sorted({str(r["source"]) for r in mine}, key=lambda s: (s == "*", s))
        fields = sorted({str(r["field"]) for r in mine}, key=lambda f: (f == "*", f))
        cell = {(str(r["source"]), str(r["field"])): r for r in mine}
        parts.append(f"<h3>{escape(etype)}</h3>")
        for dim in dims:
            head = "".join(f"<th>{escape(f)}</th>" for f in fields)
            body = []
            for s in sources:
                tds = "".join(_heat_cell(cell.get((s, f), {}).get(dim)) for f in fields)
                body.append(f"<tr><th>{escape(s)}</th>{tds}</tr>")
            parts.append(f"<h4>{escape(dim)}</h4><table class=\"heat\"><tr><th>department"
                         f"</th>{head}</tr>{''.join(body)}</table>")
    parts.append('<p class="note">* = all departments / all fields. Red is poor, green good.</p>')
    return "".join(parts)


def _conflicts_section(figures: ConflictFigures) -> str:
    if figures.total == 0:
        return _none("no conflicts found")
    lang = _LANG.get()
    # most severe first, then the most frequent
    count_rows = sorted(figures.counts, key=lambda r: (_sev_rank(r["severity"]),
                                                       -r["entity_id_count"], r["kind"]))
    parts = [_table([_t("kind"), _t("severity"), _t("rows")],
                    [[kind_label(r["kind"], lang), severity_label(r["severity"], lang),
                      _fmt(r["entity_id_count"])] for r in count_rows],
                    numeric_from=2)]
    top = figures.top
    body: list[str] = []
    for r in top.to_pylist():
        field = str(r["field"])
        masked = field in MASKED_FIELDS
        cands = "".join(
            "<li>" + escape(_show(c.get("value"), masked and r["kind"] != "identity_conflict"))
            + (f" <span class=\"note\">(raw {escape(_show(c.get('raw_value'), masked))})</span>"
               if c.get("raw_value") != c.get("value") else "")
            + f" — {escape(str(c.get('source')))} #{escape(_show(c.get('source_key'), False))}"
            + f", {escape(_fmt(c.get('updated_at')))}</li>"
            for c in r["candidates"] or []
        )
        sev = str(r["severity"])
        said = [str(r["evidence"])] if r.get("evidence") else []
        where = _differing_positions([c.get("raw_value") for c in r["candidates"] or []])
        if masked and where:  # masked IDs: say where they differ, since the digits are hidden
            said.append(f"{_t('values differ at position(s)')} {where}")
        body.append(
            f"<tr><td class=\"sev-{escape(sev)}\">{escape(severity_label(sev, lang))}</td>"
            f"<td>{escape(kind_label(str(r['kind']), lang))}"
            f"</td><td>{escape(str(r['entity_id']))}</td><td>{escape(field)}</td>"
            f"<td>{escape(_show(r['golden_value'], masked))}</td><td><ul>{cands}</ul></td>"
            f"<td>{escape('; '.join(said))}</td></tr>"
        )
    head = "".join(f"<th>{escape(_t(h))}</th>" for h in (
        "severity", "kind", "entity", "field", "golden value", "candidates", "evidence"))
    parts.append(f"<h3>{escape(_t('Top'))} {len(body)} {escape(_t('of'))} "
                 f"{figures.total:,}</h3><table><tr>{head}</tr>{''.join(body)}</table>")
    return "".join(parts)


def _differing_positions(values: Sequence[object]) -> str:
    """1-based positions where same-length values (two masked IDs) differ, or ``""``."""
    texts = sorted({str(v).strip().upper() for v in values if v is not None and str(v).strip()})
    if len(texts) < 2 or len({len(t) for t in texts}) != 1:
        return ""
    positions = [i + 1 for i in range(len(texts[0])) if len({t[i] for t in texts}) > 1]
    return ", ".join(map(str, positions)) if len(positions) <= 6 else ""


# --- pieces ----------------------------------------------------------------------------------


def _waterfall(item: Any) -> str:
    try:
        from linkage.match.explain import Explanation, waterfall_svg
    except ImportError:
        return ""
    if isinstance(item, Example):
        item = item.explanation
    if isinstance(item, Explanation):
        return waterfall_svg(item)
    return ""


def _bars_svg(bars: Sequence[tuple[str, float]], *, width: int = 640, fmt: str = "{:,.0f}") -> str:
    """Horizontal bars, one per (label, value), with the value printed at the end."""
    if not bars:
        return _none("nothing to chart")
    row_h, label_w, value_w = 20, 170, 80
    top = max((v for _, v in bars), default=0.0) or 1.0
    plot_w = width - label_w - value_w
    height = row_h * len(bars) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" '
             'role="img">']
    for i, (label, value) in enumerate(bars):
        y = i * row_h + 3
        w = max(value, 0.0) / top * plot_w
        shown = fmt.format(value)
        parts.append(
            f'<g><title>{escape(label)}: {escape(shown)}</title>'
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label[:28])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 5}" fill="#1565c0"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{escape(shown)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _heat_cell(value: object) -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return '<td class="cell" style="background:#f5f5f5">–</td>'
    v = min(max(float(value), 0.0), 1.0)
    # Red (poor) through yellow to green (good); the steep end is where departments differ.
    hue = int(120 * max(0.0, (v - 0.5) / 0.5)) if v >= 0.5 else 0
    light = 85 - int(25 * (1 - abs(v - 0.75) / 0.75))
    return (f'<td class="cell" style="background:hsl({hue},70%,{light}%)" '
            f'title="{v:.4f}">{v:.1%}</td>')


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _table(head: Sequence[str], body: Sequence[Sequence[str]], *, numeric_from: int = 99) -> str:
    ths = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(
            f'<td class="num">{escape(str(c))}</td>' if j >= numeric_from
            else f"<td>{escape(str(c))}</td>" for j, c in enumerate(row)) + "</tr>"
        for row in body
    )
    return f"<table><tr>{ths}</tr>{trs}</table>"


def _none(text: str) -> str:
    return f'<p class="note">{escape(_t(text))}</p>'


def _t(text: str) -> str:
    return translate(text, _LANG.get())


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)[:200]
    return str(value)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _sev_rank(severity: object) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
