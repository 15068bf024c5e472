"""Names a pipeline file may give a field's standardiser, and the functions behind them.

A name may carry one argument after a colon, for the standardisers that need one:
``"phone_intl:GB"`` (the default region of numbers written without a country code) and
``"date:%d/%m/%Y"`` (a declared date format instead of the Chinese forms ``"date"`` reads).
"""

from __future__ import annotations

from collections.abc import Callable

from linkage.errors import ConfigError
from linkage.standardisers.address import ADDRESS_ONE, standardise_address
from linkage.standardisers.amounts import AMOUNT_WAN_ONE, standardise_amount_wan
from linkage.standardisers.base import TEXT_ONE, OneValue, Standardiser, standardise_text
from linkage.standardisers.credit_code import CREDIT_CODE_ONE, standardise_credit_code
from linkage.standardisers.dates import DATE_ONE, standardise_date
from linkage.standardisers.declared_date import declared_date
from linkage.standardisers.enterprise_name import (
    ENTERPRISE_NAME_ONE,
    standardise_enterprise_name,
)
from linkage.standardisers.enterprise_status import standardise_enterprise_status
from linkage.standardisers.general import (
    standardise_general_address,
    standardise_number,
    standardise_text_folded,
)
from linkage.standardisers.id_number import ID_NUMBER_ONE, standardise_id_number
from linkage.standardisers.latin_name import standardise_latin_name
from linkage.standardisers.person_name import PERSON_NAME_ONE, standardise_person_name
from linkage.standardisers.phone import PHONE_ONE, standardise_phone
from linkage.standardisers.phone_intl import phone_intl
from linkage.standardisers.sex import SEX_ONE, standardise_sex

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
    # general ones, for data that is not Chinese (or not about persons and enterprises)
    "text_folded": standardise_text_folded,
    "latin_name": standardise_latin_name,
    "phone_intl": phone_intl(None),
    "address_general": standardise_general_address,
    "number": standardise_number,
}

#: standardisers taking an argument (``name:argument``): a factory per name
PARAMETRISED: dict[str, Callable[[str], Standardiser]] = {
    "date": declared_date,
    "phone_intl": phone_intl,
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
    """The standardiser registered under ``name`` (``name:argument`` for the
    parametrised ones); a clear error lists the known names."""
    if name in STANDARDISERS:
        return STANDARDISERS[name]
    base, sep, argument = name.partition(":")
    if sep and base in PARAMETRISED:
        try:
            return PARAMETRISED[base](argument)
        except ValueError as exc:
            raise ConfigError([f"standardiser {name!r}: {exc}"]) from None
    raise ConfigError([f"unknown standardiser {name!r} (known: {known_names()})"])


def standardiser_problem(name: str) -> str | None:
    """Why ``name`` is not a usable standardiser, or None when it is."""
    try:
        get_standardiser(name)
    except ConfigError as exc:
        return "; ".join(exc.problems)
    return None


def known_names() -> str:
    """Every registered name, with the parametrised forms spelled out."""
    forms = [*STANDARDISERS, *(f"{n}:<{'format' if n == 'date' else 'region'}>"
                               for n in PARAMETRISED)]
    return ", ".join(sorted(forms))
