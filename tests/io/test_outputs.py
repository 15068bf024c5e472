"""Outputs are written atomically: a failed write leaves no file under the final name."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.io.outputs import write_json, write_parquet


def test_parquet_round_trip(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2], "b": ["张", None]})
    path = write_parquet(table, tmp_path / "t.parquet")
    assert pq.read_table(path).equals(table)
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json({"ok": 1}, path)

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        write_json({"bad": Unprintable()}, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"ok": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
