"""Outputs are written atomically: a failed write leaves no file under the final name."""

from __future__ import annotations

import json
import os
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


# --- the run folder (issue 12): a folder with run.json is one complete run ------------------

from linkage.io.outputs import (  # noqa: E402
    OutputError,
    check_out_dir,
    is_complete_run,
    remove_leftovers,
    run_folder,
)


def _fake_run(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).write_text(name, encoding="utf-8")
    files = {n: (folder / n).stat().st_size for n in names}
    (folder / "run.json").write_text(json.dumps({"files": files}), encoding="utf-8")


def test_a_rerun_replaces_the_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with run_folder(out) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".run.staging-")
        _fake_run(stage, ["records.parquet", "golden_person.parquet",
                          "golden_enterprise.parquet"])
    assert is_complete_run(out)
    with run_folder(out) as stage:  # a persons-only rerun
        _fake_run(stage, ["records.parquet", "golden_person.parquet"])
    assert sorted(p.name for p in out.iterdir()) == [
        "golden_person.parquet", "records.parquet", "run.json"]
    assert is_complete_run(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no leftovers


def test_a_write_in_progress_beside_run_json_leaves_the_run_complete(tmp_path: Path) -> None:
    """The index is written on a thread beside the outputs, into scratch folders named
    with a leading dot, and may still be at it when the staged run.json is written: a
    kill -9 then leaves a staging folder whose run.json must still tell the truth."""
    out = tmp_path / "run"
    with run_folder(out) as stage:
        _fake_run(stage, ["records.parquet"])
        (stage / ".index.tmp.spill").mkdir()
        (stage / ".index.tmp.spill" / "0-1.arrow").write_bytes(b"half")
        (stage / ".golden_person.parquet.x1.tmp").write_bytes(b"half")
        assert is_complete_run(stage)
        (stage / "stray.parquet").write_bytes(b"not listed")
        assert not is_complete_run(stage)  # a run's own file that run.json does not list
        (stage / "stray.parquet").unlink()
    assert is_complete_run(out)


def test_a_failed_run_leaves_the_previous_one_untouched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with run_folder(out) as stage:
        _fake_run(stage, ["records.parquet"])
    before = (out / "run.json").read_bytes()
    with pytest.raises(OSError, match="disk full"), run_folder(out) as stage:
        (stage / "records.parquet").write_text("half", encoding="utf-8")
        raise OSError(28, "disk full")
    assert (out / "run.json").read_bytes() == before and is_complete_run(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_replaced_run_loses_its_run_json_before_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill while the previous run is being removed (CI caught one) must not leave a
    folder whose run.json lists files that are already gone: run.json goes first."""
    import shutil

    from linkage.io import outputs

    out = tmp_path / "run"
    with run_folder(out) as stage:
        _fake_run(stage, ["records.parquet", "golden_person.parquet"])
    seen: list[tuple[str, bool]] = []
    real = shutil.rmtree

    def watching(path: Path, *args: object, **kwargs: object) -> None:
        seen.append((Path(path).name, (Path(path) / "run.json").exists()))
        real(path, ignore_errors=True)

    monkeypatch.setattr(outputs.shutil, "rmtree", watching)
    with run_folder(out) as stage:
        _fake_run(stage, ["records.parquet"])
    assert seen and all(not has_run_json for _, has_run_json in seen), seen
    assert is_complete_run(out) and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_leftovers_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    gone = tmp_path / f".run.staging-{pid}-00ff00ff"
    live = tmp_path / f".run.staging-{os.getppid()}-00ff00ff"
    other = tmp_path / f".other.staging-{pid}-00ff00ff"
    for folder in (gone, live, other):
        folder.mkdir()
        (folder / "run.json").write_text("{}", encoding="utf-8")
    assert remove_leftovers(tmp_path / "run") == [gone]
    assert live.exists() and other.exists() and not gone.exists()


def test_out_is_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="existing file"):
        check_out_dir(afile)
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=r"not a linkage run \(notes.txt\)"):
        check_out_dir(foreign)
    data = tmp_path / "data"
    data.mkdir()
    (data / "records.parquet").write_text("x", encoding="utf-8")  # a source named like an output
    with pytest.raises(OutputError, match=r"holds an input of this run \(records.parquet\)"):
        check_out_dir(data, inputs=[data / "records.parquet"])
    assert check_out_dir(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").resolve()
    # read-only (root ignores permissions, so ask the way the check asks)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "ro"
                        else real_access(p, mode))
    (tmp_path / "ro").mkdir()
    with pytest.raises(OutputError, match="not writable"):
        check_out_dir(tmp_path / "ro")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(OutputError, match="not writable"):
        check_out_dir(ro)
