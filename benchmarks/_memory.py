"""The memory figure the benchmarks report: a child process's peak anonymous memory.

``RssAnon`` is what the process allocated itself. Its full RSS also counts the file-backed
pages of the memory-mapped inputs and spill files, which the kernel drops under pressure
and reads again, so it overstates what a run needs (the project compares anonymous
memory; the max RSS is printed beside it)."""

from __future__ import annotations

import threading
from pathlib import Path


class AnonWatcher:
    """Samples a process's ``RssAnon`` every ``interval`` seconds on a thread and keeps the
    largest value (0 when /proc is unavailable). Sampling can miss a spike shorter than
    that; the allocations that make a peak (pair columns, hash tables, a chunk of
    entities) live far longer."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        self.peak_kib = 0
        self._interval = interval
        self._path = Path(f"/proc/{pid}/status")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                text = self._path.read_text()
            except OSError:  # no /proc, or the process has ended
                return
            for line in text.splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                    break
            self._done.wait(self._interval)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
