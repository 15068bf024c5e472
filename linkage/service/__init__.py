"""Online use of a run: the master index it leaves, a resolver that answers one record in
milliseconds, incremental runs that link a new batch against the master, and the HTTP
service (``linkage serve``).

    resolver = lk.Resolver.open("run1")
    resolver.resolve({"name": "张三", "id_number": "110105194912310021"})
"""

from __future__ import annotations

from linkage.service.index import MasterIndex
from linkage.service.index_write import build_index, write_index
from linkage.service.resolver import NEW, BatchResolution, ResolveError, Resolver

__all__ = ["NEW", "BatchResolution", "MasterIndex", "ResolveError", "Resolver", "build_index",
           "write_index"]
