"""The exception tree of linkage, in one place.

    LinkageError                 base of everything the library raises on purpose
    ├── ConfigError              a pipeline file or config object is invalid (lists every problem)
    ├── SourceError              a source cannot be read: missing file, bad encoding, bad row
    ├── SchemaError              a table handed to a stage lacks a column or has the wrong type
    └── StageError               a stage cannot proceed on valid input (e.g. a refused block)

Messages name the source, row and field and never carry personal values unmasked:
use :func:`linkage.privacy.mask` for any value that might be an ID number or phone.
"""

from __future__ import annotations

from collections.abc import Sequence


class LinkageError(Exception):
    """Base class: the CLI turns these into a one-paragraph message, never a traceback."""


class ConfigError(LinkageError):
    """Invalid configuration; ``problems`` holds every problem found, not just the first."""

    def __init__(self, problems: Sequence[str], *, origin: str = "configuration") -> None:
        self.problems = list(problems)
        self.origin = origin
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{origin}: {len(self.problems)} problem(s)\n{lines}")


class SourceError(LinkageError):
    """A source could not be read as declared."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.field = field
        where = [f"source {source!r}"]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class SchemaError(LinkageError):
    """A table does not follow the documented schema of its stage."""


class StageError(LinkageError):
    """A stage refused to proceed (for example an over-large block with no way to split it)."""
