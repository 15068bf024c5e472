"""The memory budget of a run: ``[engine] memory_limit = "8GB"`` in the pipeline file or
``linkage run --memory-limit 8GB``; by default 60% of this machine's physical memory.

The budget sets how many records a standardise batch and an entity chunk hold, and
DuckDB's limit when blocking spills. It bounds the working memory of the stages; the
memory-mapped spill files are the page cache's, which the kernel reclaims under pressure.
"""

from __future__ import annotations

import os
import re

__all__ = ["default_memory_limit", "parse_size"]

_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
#: share of physical memory a run budgets for when the pipeline names no limit
DEFAULT_SHARE = 0.6


def parse_size(text: str) -> int:
    """``"8GB"`` -> bytes (binary units: KB, MB, GB, TB; a bare number is bytes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper())
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (write e.g. \"8GB\" or \"512MB\")")
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 64 << 20:
        raise ValueError(f"memory size {text!r} is below the 64MB a run needs")
    return size


def default_memory_limit() -> int:
    """60% of physical memory (what "fits the machine" means when nothing is said)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(total * DEFAULT_SHARE)
