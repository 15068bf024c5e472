"""Give the memory a finished step freed back to the operating system.

Arrow's allocator (mimalloc) and glibc's ``malloc`` keep freed pages for reuse: after a
million-record evaluation had freed everything, the process still held 1.2 GB of
anonymous memory, and each later step's peak stacked on what the earlier ones left. A
bounded-memory run calls :func:`give_back` between its steps, so what it holds is what
the step at hand uses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

import pyarrow as pa

__all__ = ["give_back"]


def give_back() -> None:
    """Return the free pages of Arrow's memory pool and of ``malloc`` (NumPy's arrays)
    to the system. Costs milliseconds; changes no result."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim
