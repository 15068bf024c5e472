"""Kill -9 at several points of a run, into a new and into an existing folder: afterwards no
folder has run.json unless it is one complete run (exactly the files its run.json lists, at
their sizes), and the next run leaves no leftovers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from linkage.io.outputs import is_complete_run

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tiny"

Trigger = Callable[[Path], bool]


def _staging(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(".out.staging-")]


def _staged_files(parent: Path) -> int:
    return max((len(list(s.iterdir())) for s in _staging(parent) if s.is_dir()), default=0)


def _after(seconds: float) -> Trigger:
    start = time.monotonic()
    return lambda parent: time.monotonic() - start >= seconds


TRIGGERS: dict[str, Callable[[], Trigger]] = {
    "while-reading": lambda: _after(0.4),
    "staging-created": lambda: lambda parent: bool(_staging(parent)),
    "three-files-staged": lambda: lambda parent: _staged_files(parent) >= 3,
    "run-json-staged": lambda: lambda parent: any((s / "run.json").exists()
                                                  for s in _staging(parent)),
}


def _old_run(out: Path, pipeline: Path) -> None:
    """A complete earlier run that also had enterprise outputs (which a persons-only rerun
    must not leave behind)."""
    subprocess.run([sys.executable, "-m", "linkage.cli", "run", str(pipeline), "--out",
                    str(out)], check=True, capture_output=True, timeout=300)
    (out / "golden_enterprise.parquet").write_bytes(b"an older run's file")
    summary = json.loads((out / "run.json").read_text(encoding="utf-8"))
    summary["files"]["golden_enterprise.parquet"] = 19
    (out / "run.json").write_text(json.dumps(summary), encoding="utf-8")
    assert is_complete_run(out)


def _check(parent: Path) -> None:
    for folder in [parent, *parent.iterdir()]:
        if folder.is_dir() and (folder / "run.json").exists():
            assert is_complete_run(folder), f"{folder.name} has run.json but is not complete"


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_kill_minus_9_never_leaves_a_half_run(existing: bool, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    pipeline = data / "pipeline.toml"
    parent = tmp_path / "runs"
    parent.mkdir()
    out = parent / "out"
    hit = []
    for name, make in TRIGGERS.items():
        if existing and not out.exists():
            _old_run(out, pipeline)
        elif not existing and out.exists():
            shutil.rmtree(out)
        proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "run", str(pipeline),
                                 "--out", str(out)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        trigger = make()
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if trigger(parent):
                os.kill(proc.pid, signal.SIGKILL)
                hit.append(name)
                break
            time.sleep(0.0005)
        proc.wait(timeout=60)
        _check(parent)
        if existing:
            # the old run or the new one, whole: never the old enterprise file beside new ones
            assert out.exists() and is_complete_run(out)
    assert len(hit) >= 3, f"the kills landed at {hit} only"
    # a run that completes cleans up what the killed ones left
    done = subprocess.run([sys.executable, "-m", "linkage.cli", "run", str(pipeline), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert [p.name for p in parent.iterdir()] == ["out"]
    assert is_complete_run(out) and not (out / "golden_enterprise.parquet").exists()
