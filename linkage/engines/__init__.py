"""How stages are executed: the kernels (pure functions over Arrow tables in
``standardisers``, ``match``, ``master``) stay where they are; an engine feeds them.

- ``progress``: stage timing, one log line per stage start and end with records per
  second, and a bar on a terminal. Every engine reports through it.
- ``local``: the out-of-core executor for one machine. Sources are read and standardised
  in batches and spilled to Arrow IPC files in a work folder (memory-mapped when read
  back); the entity-grouped stages (golden records, conflicts, quality) run over entities
  in sorted chunks; the budget is ``[engine] memory_limit``.
- ``spark``: the same stages on Apache Spark, partitioned by blocking key and by entity
  (``[engine] kind = "spark"`` or ``linkage run --engine spark``).
- ``settings``: ``[engine]`` of a pipeline file.

An engine's interface is one function, ``run(config, out, ...) -> summary``: it writes the
same run folder as :func:`linkage.io.outputs.write_outputs`. This package imports nothing
at import time, so the pipeline may use ``progress`` without loading an engine.
"""
