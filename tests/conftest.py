"""Shared fixtures: the hand-checked tiny pipeline and helpers to write small sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures/tiny (three departments, 12 person records)."""
    target = tmp_path / "tiny"
    shutil.copytree(FIXTURES / "tiny", target)
    return target
