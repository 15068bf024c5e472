"""Entity types a user declares: README's restaurant example, run end to end."""

from __future__ import annotations

import collections
from pathlib import Path

import pyarrow.parquet as pq

import linkage as lk

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "datasets" / "restaurants" / "pipeline.toml"

#: the true restaurants listed by both guides (hand-checked); Starbucks a11 / b11 are two
#: branches, Joe's Pizza a02 and Pizza Joe's b19 two restaurants
BOTH_GUIDES = {("a01", "b01"), ("a02", "b02"), ("a03", "b03"), ("a04", "b04"), ("a05", "b05"),
               ("a06", "b06"), ("a07", "b07"), ("a09", "b09"), ("a10", "b10"), ("a12", "b12")}


def test_readme_shows_the_example_pipeline_as_shipped() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = EXAMPLE.read_text(encoding="utf-8")
    start = body.index("[entities.restaurant.fields]")
    assert body[start:] in readme


def test_restaurants_link_as_a_declared_entity_type(tmp_path: Path) -> None:
    result = lk.Pipeline.from_toml(EXAMPLE).run()
    assert result.config.entity_types == ("restaurant",)
    records = result.records
    assert records.num_rows == 30  # nothing lost
    members: dict[str, list[str]] = collections.defaultdict(list)
    for row in records.select(["source_key", "entity_id"]).to_pylist():
        members[row["entity_id"]].append(row["source_key"])
    linked = {tuple(sorted(m)) for m in members.values() if len(m) > 1}
    assert linked == BOTH_GUIDES
    assert all(e.startswith("restaurant:") for e in members)
    # the general standardisers ran: folded names, E.164 phones, declared dates
    by_key = {r["source_key"]: r for r in records.to_pylist()}
    assert by_key["b01"]["name"] == "cafe de flore"
    assert by_key["a01"]["phone"] == by_key["b01"]["phone"] == "+33145485526"
    assert by_key["b04"]["phone"] == "+442078364751"
    assert by_key["a02"]["opened"] == "1975-06-01"
    assert by_key["b02"]["address"] == "7 carmine st"
    written = lk.write_outputs(result, tmp_path / "run")
    golden = pq.read_table(tmp_path / "run" / "golden_restaurant.parquet")
    assert golden.num_rows == 20 and "golden_restaurant" in written
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "restaurant" in report and "366-1182" not in report  # phones masked
