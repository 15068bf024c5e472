"""Names a pipeline file may give a field's standardiser, and the functions behind them."""

from __future__ import annotations

from linkage.errors import ConfigError
from linkage.standardisers.address import standardise_address
from linkage.standardisers.amounts import standardise_amount_wan
from linkage.standardisers.base import Standardiser, standardise_text
from linkage.standardisers.credit_code import standardise_credit_code
from linkage.standardisers.dates import standardise_date
from linkage.standardisers.enterprise_name import standardise_enterprise_name
from linkage.standardisers.enterprise_status import standardise_enterprise_status
from linkage.standardisers.id_number import standardise_id_number
from linkage.standardisers.person_name import standardise_person_name
from linkage.standardisers.phone import standardise_phone
from linkage.standardisers.sex import standardise_sex

STANDARDISERS: dict[str, Standardiser] = {
    "text": standardise_text,
    "date": standardise_date,
    "id_number": standardise_id_number,
    "credit_code": standardise_credit_code,
    "person_name": standardise_person_name,
    "enterprise_name": standardise_enterprise_name,
    "enterprise_status": standardise_enterprise_status,
    "address": standardise_address,
    "phone": standardise_phone,
    "sex": standardise_sex,
    "amount_wan": standardise_amount_wan,
}


def get_standardiser(name: str) -> Standardiser:
    """The standardiser registered under ``name``; a clear error lists the known names."""
    try:
        return STANDARDISERS[name]
    except KeyError:
        known = ", ".join(sorted(STANDARDISERS))
        raise ConfigError([f"unknown standardiser {name!r} (known: {known})"]) from None
