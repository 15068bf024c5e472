"""Explanations: text, waterfall data and the SVG helpers the HTML report embeds."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from linkage.match.explain import Contribution, Explanation, histogram_svg, waterfall_svg


def _explanation() -> Explanation:
    return Explanation(
        prior_weight=-3.0,
        contributions=(
            Contribution(name="name", field="name", level=4, description="name exactly equal",
                         m=0.9, u=0.01, weight=6.5, tf_adjustment=0.5),
            Contribution(name="id_number", field="id_number", level=0,
                         description="id_number different", m=0.05, u=0.99, weight=-4.3),
            Contribution(name="phone", field="phone", level=-1,
                         description="phone missing on a side", m=None, u=None, weight=0.0),
        ),
        match_weight=-0.8,
        match_probability=0.3647,
        id_l=3,
        id_r=9,
        cannot_link=True,
    )


def test_text_lists_every_contribution_without_values() -> None:
    text = _explanation().text()
    lines = text.splitlines()
    assert lines[0] == "pair 3 - 9: match weight -0.80 (probability 0.3647)"
    assert "prior" in lines[1] and "-3.00" in lines[1]
    assert "+6.50 (tf +0.50)  level 4: name exactly equal" in lines[2]
    assert "level -1: phone missing on a side" in lines[4]
    assert "cannot link" in text


def test_waterfall_runs_from_prior_to_total() -> None:
    bars = _explanation().waterfall()
    assert [b["label"] for b in bars] == ["prior", "name", "id_number", "phone", "total"]
    assert bars[1]["start"] == pytest.approx(-3.0) and bars[1]["end"] == pytest.approx(3.5)
    assert bars[-1]["end"] == pytest.approx(-0.8)
    assert bars[-2]["end"] == pytest.approx(bars[-1]["end"])


def test_waterfall_svg_is_valid_xml_with_one_bar_per_step() -> None:
    svg = waterfall_svg(_explanation())
    root = ET.fromstring(svg)
    rects = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 5
    fills = [r.get("fill") for r in rects]
    assert fills[1] == "#2e7d32" and fills[2] == "#c62828"  # evidence for / against
    assert "<script" not in svg


def test_histogram_svg_bins_and_threshold() -> None:
    weights = np.concatenate([np.full(90, -10.0), np.full(10, 12.0)])
    svg = histogram_svg(weights, bins=4, threshold_weight=3.0)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert any(t and t.endswith(": 90 pairs") for t in titles)
    assert any(t and t.endswith(": 10 pairs") for t in titles)
    assert any(t == "link threshold" for t in titles)


def test_histogram_svg_handles_no_pairs() -> None:
    assert "no scored pairs" in histogram_svg([])
