"""Standardise stage: normalise, validate and derive, one column-wise function per kind.

``STANDARDISERS`` maps the names a pipeline file may use (``[person.fields] id_number =
"id_number"``) to functions ``pa.Array -> Standardised``. :func:`standardise` applies them
to a RecordTable; each function is also usable alone on any Arrow array.

Registered names: ``text``, ``date``, ``id_number``, ``credit_code``, ``person_name``,
``enterprise_name``, ``enterprise_status``, ``address``, ``phone``, ``sex``, ``amount_wan``.
Each module's docstring lists its statuses and derived columns.
"""

from __future__ import annotations

from linkage.standardisers.address import parse_address, standardise_address
from linkage.standardisers.amounts import standardise_amount_wan
from linkage.standardisers.base import (
    MISSING,
    OK,
    OneValue,
    Standardised,
    Standardiser,
    is_valid_status,
    map_distinct,
    standardise_text,
)
from linkage.standardisers.credit_code import standardise_credit_code
from linkage.standardisers.dates import parse_dates, standardise_date
from linkage.standardisers.enterprise_name import standardise_enterprise_name
from linkage.standardisers.id_number import downgrade_18, standardise_id_number, upgrade_15
from linkage.standardisers.person_name import standardise_person_name
from linkage.standardisers.phone import standardise_phone
from linkage.standardisers.registry import ONE_VALUE, STANDARDISERS, get_standardiser
from linkage.standardisers.sex import standardise_sex
from linkage.standardisers.stage import standardise, standardise_record

__all__ = [
    "MISSING",
    "OK",
    "ONE_VALUE",
    "STANDARDISERS",
    "OneValue",
    "Standardised",
    "Standardiser",
    "downgrade_18",
    "get_standardiser",
    "is_valid_status",
    "map_distinct",
    "parse_address",
    "parse_dates",
    "standardise",
    "standardise_address",
    "standardise_amount_wan",
    "standardise_credit_code",
    "standardise_date",
    "standardise_enterprise_name",
    "standardise_id_number",
    "standardise_person_name",
    "standardise_phone",
    "standardise_record",
    "standardise_sex",
    "standardise_text",
    "upgrade_15",
]
