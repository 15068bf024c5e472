"""Telephone numbers of any country, with Google's libphonenumber (``phonenumbers``).

Standardiser ``"phone_intl:<region>"`` (e.g. ``"phone_intl:GB"``; plain ``"phone_intl"``
has no default region, so a number must carry its ``+`` country code). The region is
the country whose national numbers the source writes without a country code (an ISO
3166 two-letter code). Value: E.164 (``+442079460018``), so ``020 7946 0018`` (region GB),
``+44 20 7946 0018`` and ``0044 20 7946 0018`` agree. An extension is dropped (it is not
part of the line's identity).

Statuses: ``ok`` (a valid number of its country's plan); ``ok_possible`` (the right
length for its country but not in an assigned range: a fictional ``555`` number, or a
range newer than the library's metadata; kept as a value, flagged);
``invalid`` (not a number of any country, or a national number without a default
region); ``missing``. Derived: ``country`` (the region code, ``GB``), ``national`` (the
national significant number: the digits without country code or trunk prefix).
"""

from __future__ import annotations

import phonenumbers
import pyarrow as pa

from linkage.standardisers.base import MISSING, OK, Standardised, Standardiser, map_distinct

OK_POSSIBLE = "ok_possible"
INVALID = "invalid"


def phone_intl(region: str | None) -> Standardiser:
    """The standardiser for numbers whose national form belongs to ``region``."""
    if region is not None:
        region = region.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {region!r} (an ISO 3166 two-letter code "
                             "such as GB, US, DE, CN)")

    def standardise_phone_intl(values: pa.Array) -> Standardised:
        value, status, country, national = map_distinct(
            values, lambda text: _one(text, region), [pa.string()] * 4,
            null_result=(None, MISSING, None, None))
        return Standardised(value=value, status=status,
                            derived={"country": country, "national": national})

    standardise_phone_intl.__doc__ = f"Phone numbers, default region {region or 'none'}."
    return standardise_phone_intl


def _one(text: str, region: str | None) -> tuple[str | None, str, str | None, str | None]:
    if not text.strip():
        return None, MISSING, None, None
    cleaned = text.strip()
    if cleaned.startswith("00"):  # the international prefix of most countries
        cleaned = "+" + cleaned[2:]
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None, INVALID, None, None
    if not phonenumbers.is_possible_number(number):
        return None, INVALID, None, None
    number.extension = None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    status = OK if phonenumbers.is_valid_number(number) else OK_POSSIBLE
    country = phonenumbers.region_code_for_number(number)
    national = str(phonenumbers.national_significant_number(number))
    return e164, status, country, national
