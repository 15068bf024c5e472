"""Progress of a run: every stage logs its start and its end with records per second, so a
ten-minute run is never silent; on a terminal a tqdm bar shows the same.

Log lines go through the ``linkage`` loggers (the library attaches no handler; ``linkage
-v`` shows them). Only counts and stage names are logged, never a record's values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger("linkage.progress")

T = TypeVar("T")

__all__ = ["Progress", "rate_text"]


def rate_text(records: int, seconds: float) -> str:
    """``"2,282,849 records in 12.3 s (185,600 records/s)"``."""
    per_second = records / seconds if seconds > 0 else float("inf")
    rate = "instant" if per_second == float("inf") else f"{per_second:,.0f} records/s"
    return f"{records:,} records in {seconds:.1f} s ({rate})"


class Progress:
    """Times named stages into ``timings`` and reports each one.

    ``bar`` is anything with tqdm's ``set_postfix_str`` and ``update`` (a disabled tqdm
    bar off a terminal)."""

    def __init__(self, timings: dict[str, float], bar: Any | None = None) -> None:
        self.timings = timings
        self.bar = bar

    @contextmanager
    def stage(self, name: str, records: int) -> Iterator[None]:
        """Time and report one stage over ``records`` records."""
        if self.bar is not None:
            self.bar.set_postfix_str(name)
        log.info("%s started on %s records", name, f"{records:,}")
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.timings[name] = round(seconds, 4)
        log.info("%s done: %s", name, rate_text(records, seconds))
        if self.bar is not None:
            per_second = records / seconds if seconds > 0 else 0.0
            self.bar.set_postfix_str(f"{name} {per_second:,.0f} rec/s")
            self.bar.update(1)

    def run(self, name: str, records: int, fn: Callable[[], T]) -> T:
        """``fn()`` as the stage ``name``."""
        with self.stage(name, records):
            return fn()
