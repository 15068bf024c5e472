"""Money amounts (registered capital and the like) folded to 万元 (ten thousand yuan).

Standardiser ``"amount_wan"``. Value: a plain decimal string in 万元 without exponent or
trailing zeros (``"100"``, ``"1.5"``, ``"15000"``). Accepted: ``100万元``, ``100万``, ``1.5万亿``,
``1,000,000元``, ``1.5亿`` / ``1.5亿元``, ``￥100万``, ``100万人民币``; a plain number is
already in 万元 (the usual unit of registered capital in the registers). Amounts in a
foreign currency (美元, 港币, ...) are not converted: status ``foreign_currency`` with the
number in that currency's 万 as the value.

Statuses: ``ok``, ``foreign_currency``, ``invalid``, ``implausible`` (negative, or above
``MAX_WAN``: ten trillion yuan, far beyond the largest registered capital in China, about
1.6 trillion; the value is dropped), ``missing``.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from linkage.standardisers.base import MISSING, OK, OneValue, Standardised, map_distinct

INVALID = "invalid"
FOREIGN_CURRENCY = "foreign_currency"
IMPLAUSIBLE = "implausible"
#: The largest amount taken as a value, in 万元 (10^13 yuan).
MAX_WAN = Decimal(10) ** 9

_NUMBER = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*(万亿|亿|万|千|百)?\s*(元)?$")
_CURRENCY_WORDS = ("人民币", "RMB", "CNY", "¥", "￥")
_FOREIGN = ("美元", "港币", "港元", "欧元", "日元", "英镑", "USD", "HKD", "EUR", "JPY", "GBP")
_SCALE_TO_WAN = {"万亿": Decimal(10) ** 8, "亿": Decimal(10000), "万": Decimal(1),
                 "千": Decimal("0.1"), "百": Decimal("0.01")}


def standardise_amount_text(text: str) -> tuple[str | None, str]:
    """One raw amount -> (value in 万元 as a decimal string, status)."""
    s = unicodedata.normalize("NFKC", text).strip().upper().replace(",", "").replace(" ", "")
    if not s:
        return (None, MISSING)
    status = OK
    for word in _FOREIGN:
        if word in s:
            s = s.replace(word, "")
            status = FOREIGN_CURRENCY
    for word in _CURRENCY_WORDS:
        s = s.replace(word, "")
    s = s.replace("万亿元", "万亿").replace("万元", "万").replace("亿元", "亿")
    match = _NUMBER.match(s)
    if match is None:
        return (None, INVALID)
    number_text, scale, yuan = match.groups()
    try:
        number = Decimal(number_text)
    except InvalidOperation:
        return (None, INVALID)
    if scale is not None:
        wan = number * _SCALE_TO_WAN[scale]
    elif yuan is not None:
        wan = number / Decimal(10000)
    else:
        wan = number
    if wan < 0 or wan > MAX_WAN:
        return (None, IMPLAUSIBLE)
    return (_plain(wan), status)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def standardise_amount_wan(values: pa.Array) -> Standardised:
    """Standardiser ``"amount_wan"`` (see the module docstring)."""
    value, status = map_distinct(
        values, standardise_amount_text, [pa.string(), pa.string()], null_result=(None, MISSING)
    )
    return Standardised(value=value, status=status)


#: :func:`standardise_amount_wan` for one value
AMOUNT_WAN_ONE = OneValue(standardise_amount_text, (), (None, MISSING))
