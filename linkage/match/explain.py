"""Why a pair scored as it did: per-field contributions as text, waterfall data and SVG.

The scorer builds an :class:`Explanation` (``FellegiSunter.explain``); this module only
formats it. The SVG helpers return self-contained ``<svg>`` strings (no matplotlib, no
scripts, no external fonts) that the HTML report embeds as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Contribution:
    """One comparison's part in a pair's match weight."""

    name: str
    field: str
    level: int
    description: str
    m: float | None
    u: float | None
    weight: float  # log2 Bayes factor of this level, including any tf adjustment
    tf_adjustment: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """A pair's match weight decomposed: prior + one contribution per comparison."""

    prior_weight: float
    contributions: tuple[Contribution, ...]
    match_weight: float
    match_probability: float
    id_l: int | None = None
    id_r: int | None = None
    must_link: bool = False
    cannot_link: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the two records as their departments know them (``household:HJ001``), when known
    left: str | None = None
    right: str | None = None
    #: comparison name -> (left value, right value), masked where personal
    values: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: whether the run put both records in one entity, and the rule that decided it
    linked: bool | None = None
    rule: str | None = None

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the text, not the dataclass fields."""
        printer.text(self.text())

    def _repr_html_(self) -> str:
        """Jupyter shows the text and the waterfall chart."""
        return f"<pre>{escape(self.text())}</pre>{waterfall_svg(self)}"

    def text(self) -> str:
        """Plain-text explanation, one line per comparison (identifiers masked)."""
        head = "pair" if self.id_l is None else f"pair {self.id_l} - {self.id_r}"
        if self.left is not None and self.right is not None:
            head = f"{head} ({self.left} vs {self.right})"
        lines = [
            f"{head}: match weight {self.match_weight:+.2f} "
            f"(probability {self.match_probability:.4f})",
            f"  {'prior':<20} {self.prior_weight:+7.2f}",
        ]
        for c in self.contributions:
            tf = f" (tf {c.tf_adjustment:+.2f})" if c.tf_adjustment else ""
            mu = "" if c.m is None or c.u is None else f"  m={c.m:.4g} u={c.u:.4g}"
            lines.append(
                f"  {c.name:<20} {c.weight:+7.2f}{tf}  level {c.level}: {c.description}{mu}"
            )
            if c.name in self.values:
                a, b = self.values[c.name]
                lines.append(f"  {'':<20} {_shown(a)} | {_shown(b)}")
        if self.must_link:
            lines.append("  rule: must link (same valid identifier)")
        if self.cannot_link:
            lines.append("  constraint: cannot link (different valid identifiers)")
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.linked is not None:
            verdict = "linked" if self.linked else "not linked"
            lines.append(f"  {verdict}" + (f": {self.rule}" if self.rule else ""))
        return "\n".join(lines)

    def waterfall(self) -> list[dict[str, Any]]:
        """Bars for a waterfall chart: label, contribution, running start and end."""
        bars: list[dict[str, Any]] = []
        running = 0.0
        steps = [("prior", "prior odds", self.prior_weight)]
        steps += [(c.name, c.description, c.weight) for c in self.contributions]
        for label, description, value in steps:
            left, right = self.values.get(label, (None, None))
            bars.append({"label": label, "description": description, "value": value,
                         "start": running, "end": running + value,
                         "left": left, "right": right})
            running += value
        bars.append({"label": "total", "description": "match weight",
                     "value": running, "start": 0.0, "end": running})
        return bars

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for run reports)."""
        return {
            "id_l": self.id_l,
            "id_r": self.id_r,
            "prior_weight": self.prior_weight,
            "match_weight": self.match_weight,
            "match_probability": self.match_probability,
            "must_link": self.must_link,
            "cannot_link": self.cannot_link,
            "contributions": [c.__dict__.copy() for c in self.contributions],
            "left": self.left,
            "right": self.right,
            "values": {k: list(v) for k, v in self.values.items()},
            "linked": self.linked,
            "rule": self.rule,
        }


def _shown(value: str | None) -> str:
    return "(missing)" if value is None or value == "" else value


def waterfall_svg(explanation: Explanation, *, width: int = 640, bar_height: int = 22) -> str:
    """An SVG waterfall of a pair's match weight: green bars add evidence, red ones remove."""
    bars = explanation.waterfall()
    label_w = 150
    value_w = 60
    plot_w = width - label_w - value_w - 10
    lo = float(min(0.0, *(min(b["start"], b["end"]) for b in bars)))
    hi = float(max(0.0, *(max(b["start"], b["end"]) for b in bars)))
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    verdict = None
    if explanation.linked is not None:
        verdict = ("linked" if explanation.linked else "not linked") + (
            f": {explanation.rule}" if explanation.rule else "")
    height = bar_height * len(bars) + 30 + (18 if verdict else 0)
    parts = [_svg_open(width, height, "match weight waterfall")]
    axis_end = bar_height * len(bars) + 10
    parts.append(
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{axis_end}" stroke="#888"/>'
    )
    for i, b in enumerate(bars):
        y = i * bar_height + 4
        left, right = sorted((x(b["start"]), x(b["end"])))
        colour = "#555" if b["label"] == "total" else ("#2e7d32" if b["value"] >= 0 else "#c62828")
        shown = ("" if b.get("left") is None and b.get("right") is None
                 else f' [{_shown(b.get("left"))} | {_shown(b.get("right"))}]')
        title = escape(f'{b["label"]}: {b["description"]}{shown} ({b["value"]:+.2f})')
        parts.append(
            f'<g><title>{title}</title>'
            f'<text x="{label_w - 6}" y="{y + bar_height * 0.65:.1f}" text-anchor="end">'
            f'{escape(str(b["label"]))}</text>'
            f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 1.0):.1f}" '
            f'height="{bar_height - 6}" fill="{colour}"/>'
            f'<text x="{width - value_w + 4}" y="{y + bar_height * 0.65:.1f}">'
            f'{b["value"]:+.2f}</text></g>'
        )
    bottom = height - (24 if verdict else 6)
    parts.append(
        f'<text x="{label_w}" y="{bottom}">log2 Bayes factor '
        f"(probability {explanation.match_probability:.4f})</text>"
    )
    if verdict:
        parts.append(f'<text x="10" y="{height - 6}" font-weight="bold">{escape(verdict)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class WeightHistogram:
    """Counts of finite match weights in ``len(counts)`` equal bins over ``lo..hi``."""

    counts: npt.NDArray[np.int64]
    lo: float
    hi: float

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)


def weight_range(lo: float, hi: float, threshold_weight: float | None) -> tuple[float, float]:
    """The histogram's range: the weights' range widened to the threshold, never empty."""
    if threshold_weight is not None and math.isfinite(threshold_weight):
        lo, hi = min(lo, threshold_weight), max(hi, threshold_weight)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def weight_histogram(match_weights: Sequence[float] | npt.NDArray[np.floating[Any]], *,
                     bins: int = 40, threshold_weight: float | None = None
                     ) -> WeightHistogram | None:
    """The histogram :func:`histogram_svg` draws (None: no finite weight). Counts over a
    fixed range add up, so an engine may count its partitions apart and sum them."""
    values = np.asarray(match_weights, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = weight_range(float(values.min()), float(values.max()), threshold_weight)
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi))
    return WeightHistogram(counts.astype(np.int64), lo, hi)


def histogram_svg(
    match_weights: Sequence[float] | npt.NDArray[np.floating[Any]],
    *,
    bins: int = 40,
    threshold_weight: float | None = None,
    width: int = 640,
    height: int = 240,
) -> str:
    """An SVG histogram of match weights (log-scaled counts), with the link threshold."""
    return histogram_counts_svg(weight_histogram(match_weights, bins=bins,
                                                 threshold_weight=threshold_weight),
                                threshold_weight=threshold_weight, width=width, height=height)


def histogram_counts_svg(histogram: WeightHistogram | None, *,
                         threshold_weight: float | None = None, width: int = 640,
                         height: int = 240) -> str:
    """:func:`histogram_svg` from counted bins."""
    parts = [_svg_open(width, height, "match weight histogram")]
    if histogram is None:
        parts.append(f'<text x="10" y="{height / 2:.0f}">no scored pairs</text></svg>')
        return "".join(parts)
    counts, edges, lo, hi = histogram.counts, histogram.edges, histogram.lo, histogram.hi
    bins = len(counts)
    pad_l, pad_b = 50, 30
    plot_w, plot_h = width - pad_l - 10, height - pad_b - 10
    top = math.log10(max(int(counts.max()), 1) + 1)
    bar_w = plot_w / bins
    for i, c in enumerate(counts.tolist()):
        h = 0.0 if c == 0 else math.log10(c + 1) / top * plot_h
        xpos = pad_l + i * bar_w
        parts.append(
            f'<rect x="{xpos:.1f}" y="{10 + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#1565c0"><title>{edges[i]:.2f} to {edges[i + 1]:.2f}: '
            f"{c} pairs</title></rect>"
        )
    if threshold_weight is not None and math.isfinite(threshold_weight):
        tx = pad_l + (threshold_weight - lo) / (hi - lo) * plot_w
        parts.append(f'<line x1="{tx:.1f}" y1="10" x2="{tx:.1f}" y2="{10 + plot_h}" '
                     'stroke="#c62828" stroke-dasharray="4 3">'
                     "<title>link threshold</title></line>")
    parts.append(f'<text x="{pad_l}" y="{height - 8}">{lo:.1f}</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 8}" text-anchor="end">{hi:.1f}</text>')
    parts.append(f'<text x="{pad_l + plot_w / 2:.0f}" y="{height - 8}" text-anchor="middle">'
                 "match weight (log2), counts on a log scale</text>")
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )
