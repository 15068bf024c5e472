"""Reading and writing: departmental files and queries in (``sources``), the run folder out
(``outputs``, ``summary`` for run.json, ``report`` for report.html)."""
