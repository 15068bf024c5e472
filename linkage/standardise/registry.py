"""Names a pipeline file may give a field's standardiser, and the functions behind them."""

from __future__ import annotations

from linkage.errors import ConfigError
from linkage.standardise.base import Standardiser, standardise_text
from linkage.standardise.dates import standardise_date
from linkage.standardise.id_number import standardise_id_number

STANDARDISERS: dict[str, Standardiser] = {
    "text": standardise_text,
    "date": standardise_date,
    "id_number": standardise_id_number,
}


def get_standardiser(name: str) -> Standardiser:
    """The standardiser registered under ``name``; a clear error lists the known names."""
    try:
        return STANDARDISERS[name]
    except KeyError:
        known = ", ".join(sorted(STANDARDISERS))
        raise ConfigError([f"unknown standardiser {name!r} (known: {known})"]) from None
