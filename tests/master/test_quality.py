"""Department scorecard: hand-checked figures on a tiny case."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from linkage.master.golden import SurvivorshipConfig, build_golden
from linkage.master.quality import QUALITY_EXTRA, source_quality
from linkage.schemas import SOURCE_QUALITY

D = dt.date


def _case() -> tuple[pa.Table, pa.Table, pa.Table]:
    # Entity A: household (old address), tax (new address); entity B: tax alone, missing,
    # and a courts record with an invalid address.
    records = pa.table({
        "record_id": pa.array([0, 1, 2, 3], pa.int64()),
        "source": ["household", "tax", "tax", "courts"],
        "source_key": ["h", "t", "t2", "c"],
        "entity_type": ["person"] * 4,
        "updated_at": pa.array([D(2020, 1, 1), D(2024, 1, 1), D(2023, 1, 1), D(2022, 1, 1)],
                               pa.date32()),
        "address": ["旧1号", "新2号", None, None],
        "address__status": ["ok", "ok", "missing", "bad_format"],
    })
    clusters = pa.table({"record_id": pa.array([0, 1, 2, 3], pa.int64()),
                         "entity_type": ["person"] * 4, "entity_id": ["A", "A", "B", "B"],
                         "cluster_size": pa.array([2, 2, 2, 2], pa.int64())})
    golden = build_golden(records, clusters, fields=["address"],
                          survivorship=SurvivorshipConfig(default=("recent",)),
                          trust={"household": {"address": 0.5}, "tax": {"address": 0.5},
                                 "courts": {"address": 0.5}})
    return records, clusters, golden


def _row(q: pa.Table, source: str, field: str) -> dict[str, object]:
    rows = [r for r in q.to_pylist() if r["source"] == source and r["field"] == field]
    assert len(rows) == 1
    return rows[0]


def test_scorecard_figures() -> None:
    records, clusters, golden = _case()
    q = source_quality(records, clusters, golden, fields=["address"], as_of=D(2024, 1, 1))
    assert q.schema == pa.schema(list(SOURCE_QUALITY) + list(QUALITY_EXTRA))
    hh = _row(q, "household", "address")
    assert hh["n_records"] == 1 and hh["completeness"] == 1.0 and hh["validity"] == 1.0
    assert hh["agreement"] == 0.0 and hh["correctness"] == 0.0
    assert hh["consistency"] == 0.0  # disagrees with tax
    assert hh["timeliness"] == 0.0  # superseded by the newer golden value
    assert hh["median_age_days"] == (D(2024, 1, 1) - D(2020, 1, 1)).days
    tax = _row(q, "tax", "address")
    assert tax["n_records"] == 2 and tax["completeness"] == 0.5
    assert tax["correctness"] == 1.0 and tax["timeliness"] == 1.0 and tax["consistency"] == 0.0
    assert tax["median_age_days"] == pytest.approx(182.5)
    courts = _row(q, "courts", "address")
    assert courts["completeness"] == 0.0 and courts["validity"] is None
    everyone = _row(q, "*", "address")
    assert everyone["n_records"] == 4 and everyone["completeness"] == 0.5
    assert everyone["scope"] == "all_sources"
    overall = _row(q, "*", "*")
    assert overall["scope"] == "overall"
    assert _row(q, "tax", "*")["scope"] == "source"


def test_as_of_defaults_to_latest_update() -> None:
    records, clusters, golden = _case()
    q = source_quality(records, clusters, golden, fields=["address"])
    assert _row(q, "household", "address")["median_age_days"] == 1461.0
