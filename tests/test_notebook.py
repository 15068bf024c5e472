"""The walkthrough notebook runs top to bottom on the shipped sample (so it cannot rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def test_walkthrough_notebook_executes() -> None:
    pytest.importorskip("pandas")
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace: dict[str, object] = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)
    result = namespace["result"]
    assert result.metrics["person"]["pairwise"]["f1"] >= 0.9  # type: ignore[attr-defined]
