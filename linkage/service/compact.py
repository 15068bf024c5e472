"""``linkage compact RUN``: an incremental run folder written as a full run's again, its
log tables as single files (:func:`linkage.io.run_log.compact_run`) and its master
index, when it holds parts, whole (:func:`linkage.service.index_parts.compact_index`;
an index whose parts cannot be merged is built again from the compacted tables)."""

from __future__ import annotations

import functools
from pathlib import Path

from linkage.io import run_log
from linkage.service.index_parts import compact_index, index_parts
from linkage.service.index_write import build_index

__all__ = ["compact_run"]


def compact_run(run: str | Path) -> list[str]:
    """Compact the run folder ``run`` (see the module); returns what was compacted."""
    folder = Path(run).expanduser().resolve()
    index = functools.partial(compact_index, rebuild=build_index) if index_parts(folder) \
        else None
    return run_log.compact_run(folder, index=index)
