"""The documentation: the site builds without a warning, its reference pages are generated
from the code, the README links only to files that exist, and the README's ten-line quick
start runs and links two DataFrames."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_docs_site_builds_strictly_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_PROXY": "*", "no_proxy": "*"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "WARNING" not in log, log
    # the reference is generated from the configuration objects: every key is on the page
    from linkage.config import PipelineConfig, SourceConfig
    from linkage.master.gates import GatesConfig
    from linkage.match.block import BlockingPass

    page = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    for cls in (PipelineConfig, SourceConfig, BlockingPass, GatesConfig):
        for name in cls.__dataclass_fields__:
            if name != "base_dir":
                assert f"<code>{name}</code>" in page, (cls.__name__, name)
    standardisers = (site / "guide" / "standardisers" / "index.html").read_text(encoding="utf-8")
    assert "bad_check" in standardisers and "placeholder" in standardisers
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "from_frame" in api and "to_toml" in api
    # the site works offline: no web fonts or scripts from elsewhere
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in index


def test_readme_links_only_to_files_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links to files of the repository"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []
    # files named in prose count too: DOMAIN.md lived outside the repository
    named = set(re.findall(r"\b[\w./-]+\.md\b", README))
    assert [n for n in named if not (ROOT / n).exists() and n != "README.md"] == []


def test_license_file_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def _python_block(text: str, heading: str) -> str:
    section = text.split(heading, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_quick_start_links_two_dataframes_in_ten_lines(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    code = _python_block(README, "## Two DataFrames, linked in ten lines")
    docs = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    assert _python_block(docs, "## Two DataFrames, linked in ten lines") == code
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "entity_id" in capsys.readouterr().out
    records = namespace["result"].records  # type: ignore[attr-defined]
    # Against the sample's ground truth: the two departments' persons are linked right.
    truth = pq.read_table(ROOT / "datasets" / "sample" / "truth" / "records.parquet").to_pylist()
    true_id = {(r["source"], r["source_key"]): r["true_entity_id"] for r in truth}
    rows = records.select(["source", "source_key", "entity_id"]).to_pylist()
    assert len(rows) == 448  # every record of both files

    def pairs(key: str) -> set[tuple[str, str]]:
        by: dict[object, list[str]] = {}
        for r in rows:
            value = r["entity_id"] if key == "entity" else true_id[(r["source"], r["source_key"])]
            by.setdefault(value, []).append(f"{r['source']}:{r['source_key']}")
        return {tuple(sorted(p)) for g in by.values()  # type: ignore[misc]
                for p in itertools.combinations(g, 2)}

    found, expected = pairs("entity"), pairs("truth")
    precision = len(found & expected) / len(found)
    recall = len(found & expected) / len(expected)
    assert precision >= 0.95 and recall >= 0.9, (precision, recall)
