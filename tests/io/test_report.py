"""report.html: self-contained, every data value escaped, personal values masked."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.io.report import conflict_figures, render_html
from linkage.master.cluster import cluster
from linkage.master.conflicts import find_conflicts
from linkage.master.golden import SurvivorshipConfig, build_golden
from linkage.master.quality import source_quality
from linkage.schemas import CONFLICTS

EVIL = "<script>alert(1)</script>"
ID = "11010519491231002X"


def _inputs() -> dict[str, object]:
    records = pa.table({
        "record_id": pa.array([0, 1, 2], pa.int64()),
        "source": ["household", "tax<b>", "tax<b>"],
        "source_key": ["h1", "t1", "t2"],
        "entity_type": ["person"] * 3,
        "updated_at": pa.array([dt.date(2020, 1, 1), dt.date(2021, 1, 1), None], pa.date32()),
        "name": [EVIL, "张三", "李四"],
        "name__status": ["ok", "ok", "ok"],
        "id_number": [ID, ID, "440524188001010014"],
        "id_number__raw": [ID, ID.lower(), "440524188001010014"],
        "id_number__status": ["ok", "ok", "ok"],
        "phone": ["13800138000", "13900139000", None],
        "phone__status": ["ok", "ok", "missing"],
    })
    scored = pa.table({"id_l": pa.array([0], pa.int64()), "id_r": pa.array([1], pa.int64()),
                       "match_weight": [12.0], "match_probability": [0.9998]})
    fields = ["name", "id_number", "phone"]
    clusters = cluster(records, scored, entity_type="person", threshold=0.9)
    golden = build_golden(records, clusters, fields=fields, survivorship=SurvivorshipConfig(),
                          trust={"household": dict.fromkeys(fields, 0.9),
                                 "tax<b>": dict.fromkeys(fields, 0.5)})
    conflicts = find_conflicts(records, clusters, golden, fields=fields)
    quality = source_quality(records, clusters, golden, fields=fields)
    return {"summary": {"name": "demo <i>", "inputs": {"household": {"person": 1}}},
            "records": records, "scored": {"person": scored}, "clusters": clusters,
            "golden": {"person": golden}, "conflicts": conflicts, "quality": quality,
            "blocking": {"person": {"candidate_pairs": 1, "passes": [
                {"name": "id<x>", "new_pairs": 1}]}}}


def test_report_is_escaped_masked_and_offline() -> None:
    inputs = _inputs()
    assert inputs["conflicts"].num_rows > 0  # type: ignore[attr-defined]
    html = render_html(**inputs)  # type: ignore[arg-type]
    assert html.startswith("<!DOCTYPE html>")
    # Data values show as text, never as markup.
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "tax&lt;b&gt;" in html and "<b>" not in html
    assert "id&lt;x&gt;" in html and "demo &lt;i&gt;" in html
    # Personal values are masked in the conflict tables.
    assert ID not in html and ID.lower() not in html
    assert "13800138000" not in html
    assert "110*************2X" in html
    # Self-contained: no external resources of any kind.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    for section in ("summary", "blocking", "weights", "clusters", "golden", "quality",
                    "conflicts"):
        assert f'id="{section}"' in html


def test_report_renders_empty_tables() -> None:
    inputs = _inputs()
    empty = {**inputs, "conflicts": inputs["conflicts"].slice(0, 0),  # type: ignore[attr-defined]
             "blocking": {}, "scored": {}, "golden": {}}
    html = render_html(**empty)  # type: ignore[arg-type]
    assert "未发现冲突" in html  # Chinese by default
    assert "no conflicts found" in render_html(**empty, lang="en")  # type: ignore[arg-type]


def test_legal_reps_and_changes_sections() -> None:
    from linkage.master.entity_ids import ENTITY_CHANGES
    from linkage.master.legal_rep import LEGAL_REP_EDGES

    edges = pa.table({"enterprise_id": ["E1"], "person_id": ["P<1>"], "method": ["id"],
                      "confidence": [1.0], "legal_rep_name": ["张三"], "legal_rep_id": [ID]},
                     schema=LEGAL_REP_EDGES)
    changes = pa.table({"entity_type": ["person"], "change": ["merge"],
                        "old_ids": [["Pa", "Pb"]], "new_ids": [["Pa"]], "n_records": [3]},
                       schema=ENTITY_CHANGES)
    html = render_html(**_inputs(), legal_reps=edges, changes=changes)  # type: ignore[arg-type]
    assert "P&lt;1&gt;" in html and ID not in html
    assert "Pa, Pb" in html


def test_metrics_render_as_tables() -> None:
    inputs = _inputs()
    metrics = {"person": {"pairwise": {"precision": 0.5, "recall": 1.0, "f1": 2 / 3},
                          "golden": {"name<x>": {"accuracy": 0.25, "entities": 4}}},
               "conflicts": {"by_kind": {"stale": {"errors": 4, "detected": 3,
                                                   "recall": 0.75}}}}
    summary = {**inputs["summary"], "metrics": metrics}  # type: ignore[dict-item]
    html = render_html(**{**inputs, "summary": summary})  # type: ignore[arg-type]
    assert "<td class=\"num\">0.6667</td>" in html
    assert "name&lt;x&gt;" in html and "<td class=\"num\">0.7500</td>" in html


def test_report_markup_is_balanced() -> None:
    from html.parser import HTMLParser

    void = {"meta", "br", "img", "hr", "input", "link"}

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []
            self.errors: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in void:
                self.stack.append(tag)

        def handle_startendtag(self, tag: str, attrs: object) -> None:
            pass

        def handle_endtag(self, tag: str) -> None:
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            else:
                self.stack.pop()

    html = render_html(**_inputs())  # type: ignore[arg-type]
    checker = Checker()
    checker.feed(html)
    assert checker.errors == [] and checker.stack == []


def test_model_section_shows_the_m_u_table_escaped() -> None:
    from linkage.io.report import _model_section

    table = pa.table({"comparison": ["name", "name"], "level": [0, 1],
                      "description": ["else", "<b>exact</b>"], "m": [0.05, 0.95],
                      "u": [0.99, 0.001], "weight": [-4.31, 9.89]})
    html = _model_section({"person": table})
    assert "<h3>person</h3>" in html
    assert "&lt;b&gt;exact&lt;/b&gt;" in html and "<b>exact</b>" not in html
    assert "+9.89" in html and "-4.31" in html and "0.001" in html


def test_fit_diagnostics_are_listed_escaped_and_absent_when_none() -> None:
    from linkage.match.fit import Diagnostic

    found = [Diagnostic("exact_m_near_zero", "dob: <collapsed>", comparison="dob",
                        severity="error")]
    html = render_html(**_inputs(), diagnostics={"person": found})  # type: ignore[arg-type]
    assert "Fit diagnostics" in html and "exact_m_near_zero" in html
    assert "&lt;collapsed&gt;" in html and "<collapsed>" not in html
    quiet = render_html(**_inputs(), diagnostics={"person": []})  # type: ignore[arg-type]
    assert "Fit diagnostics" not in quiet


def test_example_verdict_says_a_rule_linked_a_pair_the_score_did_not() -> None:
    from linkage.io.report_examples import verdict
    from linkage.match.explain import Explanation

    def ex(p: float, *, must: bool = False, cannot: bool = False) -> Explanation:
        return Explanation(prior_weight=-10.0, contributions=(), match_weight=-10.0,
                           match_probability=p, must_link=must, cannot_link=cannot)

    assert verdict(ex(0.0, must=True), 0.9, True).startswith(
        "linked by the must-link rule (same valid identifier), although its probability "
        "0.0000 is below the threshold 0.9")
    assert verdict(ex(0.95), 0.9, True).startswith("linked: probability 0.9500")
    assert verdict(ex(0.2), 0.9, False).startswith("not linked: probability 0.2000")
    assert verdict(ex(0.99, cannot=True), 0.9, False).startswith("not linked: a cannot-link")


def test_conflicts_speak_chinese_by_severity_then_count_with_masked_differences() -> None:
    inputs = _inputs()
    cand = {"value": None, "source": "tax", "source_key": "k", "record_id": 1,
            "updated_at": None}

    def row(kind: str, severity: str, field: str, raws: list[str]) -> dict[str, object]:
        return {"entity_type": "person", "entity_id": f"P{kind}", "field": field, "kind": kind,
                "severity": severity, "golden_value": raws[0], "evidence": None,
                "candidates": [{**cand, "value": r, "raw_value": r} for r in raws]}

    rows = [row("format_only", "info", "name", ["张三", "张 三"] * 5),
            row("typo", "medium", "phone", ["13800138000", "13800183000"]),
            row("typo", "medium", "phone", ["13900139000", "13900193000"]),
            row("identity_conflict", "critical", "id_number",
                ["11010519491231002X", "11010519491231003X"])]
    for c, who in zip(rows[-1]["candidates"], ("张三", "李四"), strict=True):  # type: ignore[call-overload]
        c["value"] = f"name={who}; birth_date=1949-12-31"  # what identity conflicts list
    conflicts = pa.Table.from_pylist(rows, schema=CONFLICTS)
    summary = {**inputs["summary"], "conflicts_by_kind": {"format_only": 10, "typo": 2}}
    html = render_html(**{**inputs, "conflicts": conflicts, "summary": summary})  # type: ignore[arg-type]
    top = html[html.index('id="conflicts"'):]
    assert top.index("身份冲突") < top.index("录入错误") < top.index("仅格式不同")
    assert "取值不同的位置 17" in top and "11010519491231003X" not in html
    headline = html[html.index("冲突类型分布"):html.index("</svg>", html.index("冲突类型分布"))]
    assert "录入错误" in headline and "仅格式不同 (format_only)" not in headline  # left out
    english = render_html(**{**inputs, "conflicts": conflicts}, lang="en")  # type: ignore[arg-type]
    assert "Top conflicts" in english and "values differ at position(s) 17" in english


def test_explained_pairs_show_masked_values_and_the_verdict(tiny_dir: Path) -> None:
    from linkage.io.report import render_report
    from linkage.pipeline import Pipeline

    result = Pipeline.from_toml(tiny_dir / "pipeline.toml").run()
    html = render_report(result)
    examples = html[html.index('id="examples"'):html.index('id="clusters"')]
    assert re.search(r"(linked|not linked)", examples)
    assert "name " in examples and "id_number" in examples
    for record in result.records.to_pylist():  # values shown, but never a whole ID number
        if record.get("id_number__raw") and len(record["id_number__raw"]) >= 15:
            assert record["id_number__raw"] not in html


def test_top_conflicts_by_severity_then_candidates_then_entity_field_and_kind() -> None:
    cand = pa.struct([("record_id", pa.int64())])
    rows = [  # entity, field, kind, severity, candidates
        ("E2", "name", "typo", "high", 2), ("E1", "phone", "stale", "high", 2),
        ("E1", "name", "typo", "high", 2), ("E3", "name", "typo", "critical", 1),
        ("E0", "name", "typo", "high", 3), ("E4", "name", "typo", None, 5),
        ("E5", "name", "typo", "low", None), ("E6", "name", "typo", "low", 0),
    ]
    conflicts = pa.table({
        "entity_id": [r[0] for r in rows], "field": [r[1] for r in rows],
        "kind": [r[2] for r in rows], "severity": [r[3] for r in rows],
        "candidates": pa.array([None if r[4] is None else [{"record_id": 1}] * r[4]
                                for r in rows], pa.list_(cand))})
    top = conflict_figures(conflicts).top
    # critical first; among the high ones the most candidates, then entity, field, kind;
    # an empty list before a missing one; an unknown severity last
    assert top["entity_id"].to_pylist() == ["E3", "E0", "E1", "E1", "E2", "E6", "E5", "E4"]
    assert top["field"].to_pylist()[2:4] == ["name", "phone"]
    many = pa.concat_tables([conflicts] * 20)  # 160 rows: the top 50 of them, in order
    order = pc.sort_indices(
        many.append_column("_r", pc.fill_null(pc.index_in(
            many["severity"], value_set=pa.array(["critical", "high", "medium", "low",
                                                  "info"])), 5))
        .append_column("_n", pc.negate(pc.list_value_length(many["candidates"]))),
        sort_keys=[("_r", "ascending"), ("_n", "ascending"), ("entity_id", "ascending"),
                   ("field", "ascending"), ("kind", "ascending")])
    assert conflict_figures(many).top.equals(many.take(order.slice(0, 50)))


def _conflict_rows(prefix: str, n: int, seed: int) -> list[dict[str, object]]:
    import random

    rng = random.Random(seed)
    severities = ["critical", "high", "medium", "low", "info"]
    return [{"entity_type": "person", "entity_id": f"{prefix}{i % (n // 2 + 1)}",
             "field": rng.choice(["name", "phone", "address"]),
             "kind": rng.choice(["typo", "value_conflict", "missing"]),
             "severity": rng.choice(severities), "golden_value": "x", "evidence": "",
             "candidates": [{"value": str(k), "source": "s"}
                            for k in range(rng.randint(2, 4))]}
            for i in range(n)]


@pytest.mark.parametrize("gone", [["E1", "E7", "E30"], [f"E{i}" for i in range(30)]])
def test_the_kept_top_conflicts_after_a_night_are_the_top_of_the_whole(
        monkeypatch: pytest.MonkeyPatch, gone: list[str]) -> None:
    from linkage.io import report_counts
    from linkage.io.report import ranked_conflicts
    from linkage.io.report_counts import updated_top
    from linkage.schemas import CONFLICTS

    monkeypatch.setattr(report_counts, "TOP_KEPT", 12)
    monkeypatch.setattr(report_counts, "TOP_CONFLICTS", 5)
    schema = CONFLICTS.empty_table().schema
    before = pa.Table.from_pylist(_conflict_rows("E", 80, 1), schema=schema)
    added = pa.Table.from_pylist(_conflict_rows("N", 10, 2), schema=schema)
    after = pa.concat_tables([before.filter(pc.invert(pc.is_in(
        before["entity_id"], value_set=pa.array(gone)))), added])
    asked = []

    def whole() -> pa.Table:
        asked.append(True)
        return after

    kept = ranked_conflicts(before, 12)
    assert len(set(kept["entity_id"].to_pylist()) & set(gone)) >= 1  # the night hits the top
    top, complete = updated_top(kept, False, pa.array(gone), added, ranked_conflicts, whole)
    assert complete == (after.num_rows <= 12) and min(5, after.num_rows) <= top.num_rows <= 12
    assert top.to_pylist() == ranked_conflicts(after, top.num_rows).to_pylist()
    # a night that retires most kept rows has the top ranked again from the whole table
    assert asked == ([True] if len(gone) > 3 else [])
    # kept rows that are every conflict stay every conflict while they fit
    few = before.slice(0, 6)
    top, complete = updated_top(ranked_conflicts(few, 12), True, pa.array(["E1"]),
                                added.slice(0, 3), ranked_conflicts, whole)
    merged = pa.concat_tables([few.filter(pc.invert(pc.equal(few["entity_id"], "E1"))),
                               added.slice(0, 3)])
    assert complete and top.to_pylist() == ranked_conflicts(merged, 12).to_pylist()
