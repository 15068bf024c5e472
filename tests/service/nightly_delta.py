"""A nightly household delta on the tiny fixture, as the service tests write it."""

from __future__ import annotations

import csv
from pathlib import Path

#: the tiny fixture's household columns, and its deletion marker
HOUSEHOLD_HEADER = ["记录号", "姓名", "公民身份号码", "出生日期", "联系电话", "住址", "更新日期",
                    "注销"]


def nightly_household(folder: Path, rows: list[list[str]]) -> Path:
    """``folder/nightly.toml``: the tiny pipeline with a household delta source
    (``deleted = "注销"``) reading ``rows`` (under :data:`HOUSEHOLD_HEADER`)."""
    with (folder / "household_delta.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HOUSEHOLD_HEADER, *rows])
    spec = (folder / "pipeline.toml").read_text(encoding="utf-8")
    at = spec.index("[[sources]]", spec.index("[[sources]]") + 1)
    delta = spec[spec.index("[[sources]]"):at].replace(
        'path = "household.csv"', 'path = "household_delta.csv"').replace(
        "[[sources]]\n", '[[sources]]\ndelta = true\ndeleted = "注销"\n', 1)
    (folder / "nightly.toml").write_text(spec[:at] + delta + spec[at:], encoding="utf-8")
    return folder / "nightly.toml"
