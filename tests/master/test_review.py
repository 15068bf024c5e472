"""Clerical review: the queue near the threshold (masked), decisions as must-link /
cannot-link overrides that clustering honours, and a pipeline that keeps them."""

from __future__ import annotations

import math
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.config import load_pipeline
from linkage.master.cluster import cluster
from linkage.master.review import apply_decisions, review_queue, write_review
from linkage.match.labels import read_pair_labels
from linkage.pipeline import Pipeline

RECORDS = pa.table({
    "record_id": pa.array([0, 1, 2, 3, 4], pa.int64()),
    "source": ["tax", "tax", "courts", "courts", "tax"],
    "source_key": ["t1", "t2", "c1", "c2", "t3"],
    "name": ["王伟", "王伟", "李娜", "李娜", "张三"],
    "phone": ["13812345678", "13812345678", None, "13900001111", "13700000000"],
})


def _scored(weights: list[float], pairs: list[tuple[int, int]]) -> pa.Table:
    w = np.asarray(weights)
    return pa.table({"id_l": pa.array([a for a, _ in pairs], pa.int64()),
                     "id_r": pa.array([b for _, b in pairs], pa.int64()),
                     "match_weight": w, "match_probability": 1 / (1 + 2.0 ** -w)})


def test_queue_holds_the_pairs_nearest_the_threshold_masked() -> None:
    scored = _scored([3.5, 20.0, 2.0, -9.0], [(0, 1), (0, 4), (2, 3), (1, 4)])
    queue = review_queue(RECORDS, scored, threshold_weight=3.17, fields=["name", "phone"],
                         masked=["phone"], band_bits=4.0)
    # 3.5 and 2.0 are within 4 bits of the threshold (3.5 nearer); 20 and -9 are not
    assert list(zip(queue.column("source_key_l").to_pylist(),
                    queue.column("source_key_r").to_pylist(), strict=True)) == [
        ("t1", "t2"), ("c1", "c2")]
    assert queue.column("phone_l").to_pylist() == ["138******78", None]
    assert "13812345678" not in str(queue.to_pylist())
    assert queue.column("decision").to_pylist() == ["", ""]


def test_decisions_override_scores_and_clustering_honours_them(tmp_path: Path) -> None:
    scored = _scored([25.0, -20.0], [(0, 1), (2, 3)])
    decided = tmp_path / "review.csv"
    decided.write_text("source_l,source_key_l,source_r,source_key_r,decision\n"
                       "tax,t1,tax,t2,non_match\n"    # scored as a sure link
                       "courts,c1,courts,c2,match\n"  # scored as a sure non-link
                       "tax,t3,courts,c1,match\n",    # no candidate pair at all
                       encoding="utf-8")
    overridden = apply_decisions(RECORDS, scored, read_pair_labels(decided,
                                                                   column="decision"))
    assert overridden.num_rows == 3
    assert overridden.column("cannot_link").to_pylist() == [True, False, False]
    assert overridden.column("must_link").to_pylist() == [False, True, True]
    found = cluster(RECORDS, overridden, entity_type="person", threshold=0.9)
    entity = dict(zip(found.column("record_id").to_pylist(),
                      found.column("entity_id").to_pylist(), strict=True))
    assert entity[0] != entity[1]
    assert entity[2] == entity[3] == entity[4]
    without = cluster(RECORDS, scored, entity_type="person", threshold=0.9)
    assert len(set(without.column("entity_id").to_pylist())) == 4  # {0,1},{2},{3},{4}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_written_queue_reads_back_as_decisions(tmp_path: Path, suffix: str) -> None:
    scored = _scored([3.0], [(0, 1)])
    queue = review_queue(RECORDS, scored, threshold_weight=3.17, fields=["name"])
    queue = queue.set_column(queue.column_names.index("decision"), "decision",
                             pa.array(["match"]))
    path = write_review(queue, tmp_path / f"review{suffix}")
    labels = read_pair_labels(path, column="decision")
    assert labels.to_pylist() == [{"source_l": "tax", "source_key_l": "t1",
                                   "source_r": "tax", "source_key_r": "t2",
                                   "is_match": True}]


def test_pipeline_applies_the_decisions_file_on_every_run(tmp_path: Path) -> None:
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        shutil.copytree(folder, tmp_path / "sample")
    toml = (tmp_path / "sample" / "persons.toml")
    first = Pipeline(load_pipeline(toml)).run()
    records = first.entities["person"].records
    clusters = first.entities["person"].clusters
    sizes = pc.value_counts(clusters.column("entity_id"))
    big = next(v["values"] for v in sizes.to_pylist() if v["counts"] >= 2)
    members = clusters.filter(pc.equal(clusters.column("entity_id"), big))
    ids = members.column("record_id").to_pylist()[:2]
    keyed = records.filter(pc.is_in(records.column("record_id"), pa.array(ids, pa.int64())))
    rows = keyed.select(["source", "source_key"]).to_pylist()
    decisions = tmp_path / "sample" / "review.csv"
    decisions.write_text("source_l,source_key_l,source_r,source_key_r,decision\n"
                         f"{rows[0]['source']},{rows[0]['source_key']},"
                         f"{rows[1]['source']},{rows[1]['source_key']},non_match\n",
                         encoding="utf-8")
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text + '\n[person.review]\ndecisions = "review.csv"\n', encoding="utf-8")
    second = Pipeline(load_pipeline(toml)).run()
    after = second.entities["person"].clusters
    entity = dict(zip(after.column("record_id").to_pylist(),
                      after.column("entity_id").to_pylist(), strict=True))
    assert entity[ids[0]] != entity[ids[1]]
    queue = second.entities["person"].review
    assert queue is not None and "decision" in queue.column_names
    weights = queue.column("match_weight").to_pylist()
    threshold = math.log2(0.9 / 0.1)
    assert all(abs(w - threshold) <= 4.0 for w in weights)


def test_decided_matches_refine_m_when_asked(tmp_path: Path) -> None:
    sample = resources.files("linkage") / "data" / "sample"
    with resources.as_file(sample) as folder:
        shutil.copytree(folder, tmp_path / "sample")
    toml = tmp_path / "sample" / "persons.toml"
    first = Pipeline(load_pipeline(toml)).run()
    records = first.entities["person"].records
    rows = records.select(["source", "source_key"]).slice(0, 4).to_pylist()
    # two decided "matches" of records that are not alike: m of "different" levels grows
    lines = ["source_l,source_key_l,source_r,source_key_r,decision"]
    lines += [f"{a['source']},{a['source_key']},{b['source']},{b['source_key']},match"
              for a, b in ((rows[0], rows[1]), (rows[2], rows[3]))]
    (tmp_path / "sample" / "review.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text + '\n[person.review]\ndecisions = "review.csv"\ntrain = true\n',
                    encoding="utf-8")
    trained = Pipeline(load_pipeline(toml)).run().entities["person"].model
    before = first.entities["person"].model
    assert trained.m_["name"][0] > before.m_["name"][0]
