"""Standardise stage: normalise, validate and derive, one column-wise function per kind.

``STANDARDISERS`` maps the names a pipeline file may use (``[person.fields] id_number =
"id_number"``) to functions ``pa.Array -> Standardised``. :func:`standardise` applies them
to a RecordTable; each function is also usable alone on any Arrow array.
"""

from __future__ import annotations

from linkage.standardise.base import (
    MISSING,
    OK,
    Standardised,
    Standardiser,
    is_valid_status,
    standardise_text,
)
from linkage.standardise.dates import parse_dates
from linkage.standardise.registry import STANDARDISERS, get_standardiser
from linkage.standardise.stage import standardise

__all__ = [
    "MISSING",
    "OK",
    "STANDARDISERS",
    "Standardised",
    "Standardiser",
    "get_standardiser",
    "is_valid_status",
    "parse_dates",
    "standardise",
    "standardise_text",
]
