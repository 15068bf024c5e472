"""Names a pipeline file may give a field's standardiser, and the functions behind them."""

from __future__ import annotations

from linkage.errors import ConfigError
from linkage.standardisers.address import ADDRESS_ONE, standardise_address
from linkage.standardisers.amounts import AMOUNT_WAN_ONE, standardise_amount_wan
from linkage.standardisers.base import TEXT_ONE, OneValue, Standardiser, standardise_text
from linkage.standardisers.credit_code import CREDIT_CODE_ONE, standardise_credit_code
from linkage.standardisers.dates import DATE_ONE, standardise_date
from linkage.standardisers.enterprise_name import (
    ENTERPRISE_NAME_ONE,
    standardise_enterprise_name,
)
from linkage.standardisers.id_number import ID_NUMBER_ONE, standardise_id_number
from linkage.standardisers.person_name import PERSON_NAME_ONE, standardise_person_name
from linkage.standardisers.phone import PHONE_ONE, standardise_phone
from linkage.standardisers.sex import SEX_ONE, standardise_sex

STANDARDISERS: dict[str, Standardiser] = {
    "text": standardise_text,
    "date": standardise_date,
    "id_number": standardise_id_number,
    "credit_code": standardise_credit_code,
    "person_name": standardise_person_name,
    "enterprise_name": standardise_enterprise_name,
    "address": standardise_address,
    "phone": standardise_phone,
    "sex": standardise_sex,
    "amount_wan": standardise_amount_wan,
}

#: each standardiser's form for one value (see :class:`~linkage.standardisers.base.OneValue`)
ONE_VALUE: dict[str, OneValue] = {
    "text": TEXT_ONE,
    "date": DATE_ONE,
    "id_number": ID_NUMBER_ONE,
    "credit_code": CREDIT_CODE_ONE,
    "person_name": PERSON_NAME_ONE,
    "enterprise_name": ENTERPRISE_NAME_ONE,
    "address": ADDRESS_ONE,
    "phone": PHONE_ONE,
    "sex": SEX_ONE,
    "amount_wan": AMOUNT_WAN_ONE,
}


def get_standardiser(name: str) -> Standardiser:
    """The standardiser registered under ``name``; a clear error lists the known names."""
    try:
        return STANDARDISERS[name]
    except KeyError:
        known = ", ".join(sorted(STANDARDISERS))
        raise ConfigError([f"unknown standardiser {name!r} (known: {known})"]) from None
