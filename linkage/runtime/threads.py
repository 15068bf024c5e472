"""How many threads a stage gives its independent columns.

Standardisation, golden records, conflicts and quality each handle their fields one by
one, and each field's work is Arrow and NumPy kernels that release the GIL: they run the
fields on a small thread pool and assemble the results in field order, so the output does
not depend on the thread count.
"""

from __future__ import annotations

import os

__all__ = ["field_workers"]

#: more threads than this only contend for memory bandwidth on the machines we target
MAX_FIELD_WORKERS = 4


def field_workers(tasks: int) -> int:
    """Threads for ``tasks`` independent fields: the machine's cores, at most
    :data:`MAX_FIELD_WORKERS`, never more than the tasks."""
    return max(1, min(tasks, os.cpu_count() or 1, MAX_FIELD_WORKERS))
